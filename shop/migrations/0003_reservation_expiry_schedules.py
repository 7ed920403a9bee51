"""Every minute, cancel orders whose reservation lapsed; hourly, forget old Idempotency-Keys.

Created once, then edited by staff in the admin (Periodic tasks), like the pipeline's schedules.
"""

from django.db import migrations
from django.utils import timezone

SCHEDULES = [
    (
        "Expire lapsed order reservations",
        "shop.tasks.expire_reservations",
        1,
        "minutes",
        "Cancels placed orders past their expires_at and releases their reserved stock.",
    ),
    (
        "Purge old idempotency keys",
        "shop.tasks.purge_idempotency_keys",
        1,
        "hours",
        "Deletes Idempotency-Keys older than SHOP_IDEMPOTENCY_KEY_HOURS.",
    ),
]


def create_schedules(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    for name, task, every, period, description in SCHEDULES:
        interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
        PeriodicTask.objects.get_or_create(
            name=name,
            defaults={"task": task, "interval": interval, "queue": "default", "description": description},
        )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, *_ in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("shop", "0002_order_expiry_and_idempotency_keys"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
