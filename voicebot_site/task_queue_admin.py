"""django-q2's admin pages, for superusers only.

A schedule names any dotted function for the worker to run with any arguments, and "Resubmit selected tasks to
queue" runs a stored task again: whoever can use these pages can run code in the worker. Django's model
permissions would let a superuser hand that out by accident, so these pages ignore them and ask for a superuser.
"""
from django.contrib import admin
from django.http import HttpRequest
from django_q import admin as q_admin
from django_q.models import Failure, OrmQ, Schedule, Success


class SuperuserOnly:
    """Every right on the page (seeing it included) for superusers, and for nobody else."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        # django-q2's task pages refuse adds themselves; keep that, for superusers too.
        return self.has_module_permission(request) and super().has_add_permission(request, *args)


class ScheduleAdmin(SuperuserOnly, q_admin.ScheduleAdmin):
    pass


class TaskAdmin(SuperuserOnly, q_admin.TaskAdmin):
    pass


class FailAdmin(SuperuserOnly, q_admin.FailAdmin):
    pass


class QueueAdmin(SuperuserOnly, q_admin.QueueAdmin):
    pass


for model, model_admin in ((Schedule, ScheduleAdmin), (Success, TaskAdmin), (Failure, FailAdmin),
                           (OrmQ, QueueAdmin)):
    if admin.site.is_registered(model):  # django-q2 registers OrmQ only with its ORM broker
        admin.site.unregister(model)
        admin.site.register(model, model_admin)
