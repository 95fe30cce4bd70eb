"""What the apps' role migrations share (README, "Roles"): add an app's permissions to the Agents and Supervisors
groups, creating the permissions first (post_migrate comes after the migrations on a fresh database). Permissions
are only ever added: existing groups keep whatever an administrator gave them."""
from django.contrib.auth.management import create_permissions


def roles_grant(apps, schema_editor, *, app_label: str, roles: dict[str, list[str]]) -> None:
    """Give each group in `roles` (created if missing) the codenames listed for it, of `app_label`'s models."""
    using = schema_editor.connection.alias
    config = apps.get_app_config(app_label)
    config.models_module = True  # create_permissions skips app configs without one, as migration stubs are
    create_permissions(config, verbosity=0, using=using, apps=apps)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in roles.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.add(*Permission.objects.using(using).filter(
            content_type__app_label=app_label, codename__in=codenames))
