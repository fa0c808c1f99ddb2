"""The «moderators» group: what SberCRM moderators need in the admin, nothing more.

View on the marketplace, the communications module and the notification service; change only
where a moderator decides something: app versions (approve / reject / publish) and deliveries
(retry / cancel). No access to what holds or reveals secrets: provider signing secrets, bot
binding tokens, issuing integration tokens (needs change), users and groups.
"""

from django.db import migrations

GROUP = "moderators"
VIEW = {
    "marketplace": ["providercompany", "scope", "application", "appversion", "appversionscope", "moderationdecision",
                    "installation"],
    "communications": ["provider", "providerconfiguration", "configurationbinding", "tenantconfiguration",
                       "integrationtoken", "account", "channel", "chat", "participant", "message", "messageedit",
                       "messagestatushistory", "webhook", "delivery", "deliveryattempt", "providerdeliveryhealth",
                       "initialsync", "conformancerun", "conformancecheck", "sandboxtenant"],
    "notifications": ["recipient", "servicebinding", "device", "notification", "pushhistory",
                      "servicebindinghistory", "devicehistory"],
}
CHANGE = {"marketplace": ["appversion"], "communications": ["delivery"]}


def create_group(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations (post_migrate); make sure they exist now.
    # (Historical app configs have no models_module, which create_permissions requires.)
    for app_config in apps.get_app_configs():
        original, app_config.models_module = getattr(app_config, "models_module", None), True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = original
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    wanted = [(app, f"view_{model}") for app, models in VIEW.items() for model in models]
    wanted += [(app, f"change_{model}") for app, models in CHANGE.items() for model in models]
    group, _ = Group.objects.get_or_create(name=GROUP)
    permissions = [Permission.objects.get(content_type__app_label=app, codename=codename) for app, codename in wanted]
    group.permissions.set(permissions)


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("marketplace", "0002_teststand_publish_rule"),
        ("communications", "0005_teststand"),
        ("notifications", "0001_notification_service"),
    ]

    operations = [migrations.RunPython(create_group, delete_group)]
