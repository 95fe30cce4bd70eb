"""The two roles staff are given (README, "Roles"): Agents call and listen, Supervisors do everything.

Permissions are normally created after `migrate` (post_migrate), i.e. after this runs on a fresh database, so they
are created here first, from the migration's own app registry. Existing groups keep whatever an administrator
added to them: permissions are only ever added.
"""
from django.contrib.auth.management import create_permissions
from django.db import migrations

AGENTS = [
    "contacts.view_contact",
    "calls.view_call", "calls.view_callevent",
    "calls.place_call", "calls.hangup_call", "calls.listen_recording",
]
SUPERVISORS = [
    *(f"contacts.{action}_contact" for action in ("view", "add", "change", "delete")),
    "contacts.import_contacts", "contacts.export_contacts",
    *(f"calls.{action}_{model}" for model in ("call", "callevent") for action in ("view", "add", "change", "delete")),
    "calls.place_call", "calls.hangup_call", "calls.listen_recording", "calls.download_recording",
    "calls.rerun_processing", "calls.upload_recording", "calls.export_calls",
]
ROLES = {"Agents": AGENTS, "Supervisors": SUPERVISORS}


def create_roles(apps, schema_editor) -> None:
    using = schema_editor.connection.alias
    for app_config in apps.get_app_configs():
        app_config.models_module = True  # create_permissions skips app configs without one, as migration stubs are
        create_permissions(app_config, verbosity=0, using=using, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codes in ROLES.items():
        wanted = {tuple(code.split(".")) for code in codes}
        permissions = [
            permission for permission in Permission.objects.using(using).select_related("content_type")
            if (permission.content_type.app_label, permission.codename) in wanted
        ]
        missing = wanted - {(p.content_type.app_label, p.codename) for p in permissions}
        if missing:
            raise RuntimeError(f"Permissions missing for the {name} role: {sorted(missing)}")
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.add(*permissions)


class Migration(migrations.Migration):

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("contacts", "0004_contact_custom_permissions"),
        ("calls", "0003_call_custom_permissions"),
    ]

    operations = [
        # Undone, the groups stay: deleting them would take every user's role away with them.
        migrations.RunPython(create_roles, migrations.RunPython.noop),
    ]
