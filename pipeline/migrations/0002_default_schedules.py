"""The nightly schedules, created once and then edited by staff in the admin (Periodic tasks)."""

import json

from django.db import migrations
from django.utils import timezone

SCHEDULES = [
    # The forecast runs after the recommender so the two long jobs do not compete for the training workers.
    ("Nightly recommender retrain", "recommender", "2", "0"),
    ("Nightly forecast retrain and reorder suggestions", "forecast", "4", "0"),
]


def create_schedules(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    for name, kind, hour, minute in SCHEDULES:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
        )
        PeriodicTask.objects.get_or_create(
            name=name,
            defaults={
                "task": "pipeline.tasks.scheduled_retrain",
                "crontab": crontab,
                "kwargs": json.dumps({"kind": kind}),
                "queue": "default",
                "description": f"Starts a {kind} run unless one is already queued or running.",
            },
        )
    # Tell a running beat that its schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, *_ in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
