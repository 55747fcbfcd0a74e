"""An index on the admin's history by object: an erasure renames a client's history rows
(privacy.services), which would otherwise scan the whole table."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("admin", "0003_logentry_add_action_flag_choices")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS privacy_admin_log_object_idx "
            "ON django_admin_log (content_type_id, object_id)",
            reverse_sql="DROP INDEX IF EXISTS privacy_admin_log_object_idx",
        )
    ]
