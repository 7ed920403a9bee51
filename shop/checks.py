"""The shop's deploy checks, registered by ``ShopConfig.ready`` (``manage.py check --deploy`` runs them)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def payment_webhook_secret_set(app_configs=None, **kwargs) -> list:
    """Without a signing secret the payment webhook refuses every event (503): no order is paid."""
    if settings.SHOP.get("PAYMENT_WEBHOOK_SECRET"):
        return []
    return [
        Warning(
            "SHOP_PAYMENT_WEBHOOK_SECRET is not set: POST /api/payments/webhook/ answers 503, so the "
            "payment provider cannot mark orders paid (staff still can, in the admin).",
            hint="Set it to the signing secret your payment provider shows for this endpoint.",
            id="shop.W101",
        )
    ]
