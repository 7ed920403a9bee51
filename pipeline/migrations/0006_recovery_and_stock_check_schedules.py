"""Every minute, recover work whose worker died (pipeline.services.run_recover); nightly, check stock."""

from django.db import migrations
from django.utils import timezone

RECOVER = "Recover runs whose worker died or whose task was never sent"
STOCK_CHECK = "Nightly stock check: reserved vs placed orders, on hand vs ledger"


def create_schedules(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=RECOVER,
        defaults={
            "task": "pipeline.tasks.recover_runs",
            "interval": every_minute,
            "queue": "default",
            "description": "Sends again a recommender training, forecast step or forecast chunk whose lease "
            "expired (its worker died), and fails queued runs whose request died before sending them.",
        },
    )
    at_three, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=STOCK_CHECK,
        defaults={
            "task": "pipeline.tasks.stock_check",
            "crontab": at_three,
            "kwargs": '{"repair": false}',
            "queue": "default",
            "description": "Logs every product whose reserved stock differs from its placed orders or whose "
            'on-hand stock differs from its ledger. Set kwargs to {"repair": true} to fix them too.',
        },
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[RECOVER, STOCK_CHECK]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0005_run_sent_mark_and_leases"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
