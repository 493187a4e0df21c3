# Indexes the dashboard and /metrics read: messages per creation time and status (all, and
# those without a campaign), and failures by time with their campaign and Meta error code.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0008_campaign_status_changes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                fields=["created_at", "status"], name="campaigns_message_created_st"
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("campaign__isnull", True)),
                fields=["created_at", "status"],
                name="campaigns_message_direct_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("status", "failed")),
                fields=["failed_at"],
                include=("campaign", "error_code"),
                name="campaigns_message_failed_idx",
            ),
        ),
    ]
