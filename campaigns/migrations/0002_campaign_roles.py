"""Campaigns in the two roles (README, "Roles"): Supervisors manage campaigns, Agents may look at them.

As in calls' roles migration, permissions are created first and only ever added (voicebot_site.role_migrations).
"""
from django.db import migrations

from voicebot_site.role_migrations import roles_grant

MODELS = ("campaign", "campaigncontact")
ROLES = {
    "Agents": [f"view_{model}" for model in MODELS],
    "Supervisors": [f"{action}_{model}" for model in MODELS for action in ("view", "add", "change", "delete")],
}


def add_campaign_roles(apps, schema_editor) -> None:
    roles_grant(apps, schema_editor, app_label="campaigns", roles=ROLES)


class Migration(migrations.Migration):

    dependencies = [
        ("campaigns", "0001_campaigns_and_their_contacts"),
        ("calls", "0004_roles_agents_and_supervisors"),
    ]

    operations = [migrations.RunPython(add_campaign_roles, migrations.RunPython.noop)]
