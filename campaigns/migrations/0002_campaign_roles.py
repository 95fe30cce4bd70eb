"""Campaigns in the two roles (README, "Roles"): Supervisors manage campaigns, Agents may look at them.

As in calls' roles migration, permissions are created first (post_migrate comes after this on a fresh database)
and only ever added to the groups.
"""
from django.contrib.auth.management import create_permissions
from django.db import migrations

MODELS = ("campaign", "campaigncontact")
ROLES = {
    "Agents": [f"view_{model}" for model in MODELS],
    "Supervisors": [f"{action}_{model}" for model in MODELS for action in ("view", "add", "change", "delete")],
}


def add_campaign_roles(apps, schema_editor) -> None:
    using = schema_editor.connection.alias
    config = apps.get_app_config("campaigns")
    config.models_module = True  # create_permissions skips app configs without one, as migration stubs are
    create_permissions(config, verbosity=0, using=using, apps=apps)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.add(*Permission.objects.using(using).filter(
            content_type__app_label="campaigns", codename__in=codenames))


class Migration(migrations.Migration):

    dependencies = [
        ("campaigns", "0001_campaigns_and_their_contacts"),
        ("calls", "0004_roles_agents_and_supervisors"),
    ]

    operations = [migrations.RunPython(add_campaign_roles, migrations.RunPython.noop)]
