"""Webhooks out in the two roles (README, "Roles"): Supervisors configure endpoints, read the deliveries and
re-send them; Agents get nothing (the endpoints' secrets sign what integrators trust)."""
from django.db import migrations

from voicebot_site.role_migrations import roles_grant

ROLES = {
    "Agents": [],
    "Supervisors": [
        *(f"{action}_endpoint" for action in ("view", "add", "change", "delete")),
        "view_delivery", "resend_delivery",
    ],
}


def add_webhook_roles(apps, schema_editor) -> None:
    roles_grant(apps, schema_editor, app_label="webhooks", roles=ROLES)


class Migration(migrations.Migration):

    dependencies = [
        ("webhooks", "0001_endpoints_and_deliveries"),
        ("calls", "0004_roles_agents_and_supervisors"),
    ]

    operations = [migrations.RunPython(add_webhook_roles, migrations.RunPython.noop)]
