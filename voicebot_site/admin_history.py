"""Admin history (the admin's "Recent actions" and each object's History page) for what Django does not log itself.

Django logs the admin's own add, change and delete forms. Placing calls, hang-ups, re-runs, uploads, imports and
the API's deletions cost money, reach people or destroy recordings, so every door that does them leaves the same
kind of `LogEntry`: who did what, and when.
"""
from collections.abc import Iterable

from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model


def history_record(*, user: AbstractBaseUser, objects: Iterable[Model], message: str, flag: int = CHANGE) -> None:
    """Write one LogEntry per object (shown on its History page) saying `message`; one query for all of them."""
    objects = list(objects)
    if objects:
        LogEntry.objects.log_actions(user_id=user.pk, queryset=objects, action_flag=flag, change_message=message)


def history_record_bulk(*, user: AbstractBaseUser, model: type[Model], title: str, message: str,
                        flag: int = ADDITION) -> None:
    """Write one LogEntry about many rows of `model` at once (an import): listed in Recent actions as `title`."""
    LogEntry.objects.create(
        user_id=user.pk, content_type=ContentType.objects.get_for_model(model), object_repr=title[:200],
        action_flag=flag, change_message=message,
    )
