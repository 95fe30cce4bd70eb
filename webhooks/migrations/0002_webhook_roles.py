"""Webhooks out in the two roles (README, "Roles"): Supervisors configure endpoints, read the deliveries and
re-send them; Agents get nothing (the endpoints' secrets sign what integrators trust).

As in calls' roles migration, permissions are created first (post_migrate comes after this on a fresh database)
and only ever added to the groups.
"""
from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = {
    "Agents": [],
    "Supervisors": [
        *(f"{action}_endpoint" for action in ("view", "add", "change", "delete")),
        "view_delivery", "resend_delivery",
    ],
}


def add_webhook_roles(apps, schema_editor) -> None:
    using = schema_editor.connection.alias
    config = apps.get_app_config("webhooks")
    config.models_module = True  # create_permissions skips app configs without one, as migration stubs are
    create_permissions(config, verbosity=0, using=using, apps=apps)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.add(*Permission.objects.using(using).filter(
            content_type__app_label="webhooks", codename__in=codenames))


class Migration(migrations.Migration):

    dependencies = [
        ("webhooks", "0001_endpoints_and_deliveries"),
        ("calls", "0004_roles_agents_and_supervisors"),
    ]

    operations = [migrations.RunPython(add_webhook_roles, migrations.RunPython.noop)]
