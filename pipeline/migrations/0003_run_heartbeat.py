import django.utils.timezone
from django.db import migrations, models
from django.db.models.functions import Coalesce


def backfill_heartbeat(apps, schema_editor):
    # The last thing known about an existing run, so one already stuck is recognised as silent.
    Run = apps.get_model("pipeline", "Run")
    Run.objects.update(heartbeat_at=Coalesce("finished_at", "started_at", "created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0002_default_schedules"),
    ]

    operations = [
        migrations.AddField(
            model_name="run",
            name="heartbeat_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now,
                help_text="Last sign of life: the request, then every start, retry and progress step.",
            ),
        ),
        migrations.RunPython(backfill_heartbeat, migrations.RunPython.noop),
    ]
