"""Orders fulfilled before payments existed (imports, staff fulfilment) were paid: say so.

``paid_at`` is what demand and training data filter on, so every fulfilled order gets its placement
time as its payment time. Placed and cancelled orders were never paid and stay as they are (a placed
order still lapses unless it is paid). Reversing leaves ``paid_at`` as it is: the column goes with
the schema migration before this one.
"""

from django.db import migrations
from django.db.models import F


def mark_fulfilled_orders_paid(apps, schema_editor):
    Order = apps.get_model("shop", "Order")
    Order.objects.filter(status="fulfilled", paid_at__isnull=True).update(paid_at=F("placed_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("shop", "0007_order_payments_shipments_returns_guest_email"),
    ]

    operations = [
        migrations.RunPython(mark_fulfilled_orders_paid, migrations.RunPython.noop, elidable=True),
    ]
