"""The payment provider's webhook: ``POST /api/payments/webhook/``, signed like Stripe's.

The view checks the signature over the raw body before reading it, then hands the event to one
service (``payment_event_apply``), which applies it at most once. Every refusal is a problem
document; refusals of a genuine event (wrong amount, unknown order, wrong state) are also logged,
since they mean money the shop must look at.
"""

from __future__ import annotations

import json
import logging
import time
from decimal import Decimal

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.errors import ProblemError
from config.api.schema import problem_responses

from . import services, webhooks
from .serializers import PaymentEventAckSerializer, PaymentEventSerializer

logger = logging.getLogger("shop.payments")

SIGNATURE_PARAMETER = OpenApiParameter(
    webhooks.SIGNATURE_HEADER,
    {"type": "string", "minLength": 1, "maxLength": 2000},
    OpenApiParameter.HEADER,
    required=True,
    description="`t=<unix seconds>,v1=<hex>`: HMAC-SHA256 of `<t>.<raw body>` under "
    "SHOP_PAYMENT_WEBHOOK_SECRET, in hex. Several `v1=` values may be sent (any may match); the "
    "timestamp must be within 5 minutes of the server's clock.",
)


class PaymentWebhookApi(APIView):
    """Events from the payment provider; authenticated by their signature, not by a login."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes: list = []  # a provider retries in bursts; a forged request costs one HMAC

    @extend_schema(
        request=PaymentEventSerializer,
        parameters=[SIGNATURE_PARAMETER],
        responses={
            200: PaymentEventAckSerializer,
            **problem_responses(
                {
                    400: "Missing or bad signature (invalid_signature), a timestamp more than 5 minutes "
                    "away (signature_expired), or a body that is not the event's shape (invalid)",
                    404: "The event names an order the shop does not have (order_not_found; logged)",
                    409: "The amount or currency is not the order's total (payment_mismatch), the order "
                    "cannot take this event (invalid_order_state: already paid, lapsed, cancelled), or "
                    "a refund exceeds what was paid (refund_exceeds_payments); each is logged",
                    503: "SHOP_PAYMENT_WEBHOOK_SECRET is not set (payments_not_configured)",
                }
            ),
        },
        examples=[
            OpenApiExample(
                "payment.succeeded",
                value={
                    "id": "evt_1",
                    "type": "payment.succeeded",
                    "order": "A1B2C3",
                    "amount": "10.50",
                    "currency": "GBP",
                },
                request_only=True,
            )
        ],
        summary="Payment provider events: payment.succeeded pays an order, payment.refunded records a refund",
        description="A delivery of an event id already applied answers 200 with `duplicate: true` and "
        "changes nothing. Event types other than the two above are acknowledged (`effect: ignored`).",
    )
    def post(self, request: Request) -> Response:
        secret = settings.SHOP.get("PAYMENT_WEBHOOK_SECRET", "")
        if not secret:
            raise ProblemError(
                503, "payments_not_configured", "Payment events are not accepted: no signing secret is set."
            )
        body = request.body  # the raw bytes the provider signed, before any parsing
        try:
            webhooks.verify_signature(
                header=request.headers.get(webhooks.SIGNATURE_HEADER),
                body=body,
                secret=secret,
                now=time.time(),
            )
        except webhooks.SignatureExpired as exc:
            raise ProblemError(400, "signature_expired", str(exc)) from None
        except webhooks.SignatureError as exc:
            logger.warning(
                "Payment webhook: signature refused from %s: %s", request.META.get("REMOTE_ADDR"), exc
            )
            raise ProblemError(400, "invalid_signature", str(exc)) from None
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise ProblemError(400, "invalid", "The body is not JSON.") from None
        serializer = PaymentEventSerializer(data=payload if isinstance(payload, dict) else None)
        serializer.is_valid(raise_exception=True)
        event = serializer.validated_data
        if event["type"] not in services.PAYMENT_EVENT_TYPES:
            return Response(
                {"event": event["id"], "duplicate": False, "effect": "ignored", "order": None, "status": None}
            )
        try:
            outcome = services.payment_event_apply(
                event_id=event["id"],
                event_type=event["type"],
                order_number=event["order"],
                amount=Decimal(event["amount"]),
                currency=event["currency"],
                payload=payload,
            )
        except services.UnknownOrder as exc:
            self._log_refusal(event, exc)
            raise ProblemError(404, "order_not_found", str(exc)) from None
        except services.PaymentMismatch as exc:
            self._log_refusal(event, exc)
            raise ProblemError(409, "payment_mismatch", str(exc)) from None
        except services.RefundExceedsPayments as exc:
            self._log_refusal(event, exc)
            raise ProblemError(409, "refund_exceeds_payments", str(exc)) from None
        except services.InvalidOrderState as exc:
            self._log_refusal(event, exc)
            raise ProblemError(409, "invalid_order_state", str(exc)) from None
        order = outcome.order
        return Response(
            {
                "event": outcome.event_id,
                "duplicate": outcome.duplicate,
                "effect": outcome.effect,
                "order": order.number if order else None,
                "status": order.status if order else None,
            }
        )

    @staticmethod
    def _log_refusal(event: dict, exc: Exception) -> None:
        logger.warning(
            "Payment event %s (%s, order %s, %s %s) refused: %s",
            event["id"],
            event["type"],
            event["order"],
            event["amount"],
            event["currency"],
            exc,
        )
