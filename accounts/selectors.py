"""Reads of the accounts: a login's customer, its tokens, and everything stored about a person."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from shop.models import Cancellation, Customer, IdempotencyKey, Order, ProductEvent, Rating

from .models import ApiToken, UserSession, VerifiedEmail


def customer_of(*, user: AbstractBaseUser) -> Customer | None:
    if not user or not user.is_authenticated:
        return None
    return Customer.objects.filter(user_id=user.pk).first()


def email_is_verified(*, user: AbstractBaseUser) -> bool:
    if not user.email:
        return False
    verified = VerifiedEmail.objects.filter(user_id=user.pk).values_list("email", flat=True).first()
    return verified is not None and verified.lower() == user.email.lower()


def tokens_of(*, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user_id=user.pk).order_by("-created_at", "-id")


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def account_export(*, user: AbstractBaseUser) -> dict[str, Any]:
    """Everything the application stores about the person behind a login, as plain JSON values.

    ``tests/accounts/test_export.py`` checks that every table with a path to a customer or a login is
    either in here or listed there with the reason it is not.
    """
    from axes.models import AccessAttempt

    from recommender.models import CustomerRecommendation

    customer = customer_of(user=user)
    verified = VerifiedEmail.objects.filter(user_id=user.pk).first()
    data: dict[str, Any] = {
        "exported_at": timezone.now().isoformat(),
        "account": {
            "username": user.get_username(),
            "email": user.email,
            "email_verified": email_is_verified(user=user),
            "verified_email": verified.email if verified else None,
            "email_verified_at": _iso(verified.verified_at) if verified else None,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "date_joined": _iso(user.date_joined),
            "last_login": _iso(user.last_login),
            "is_staff": user.is_staff,
        },
        "customer": None,
        "orders": [],
        "cancellations": [],
        "ratings": [],
        "events": [],
        "recommendations": [],
        "idempotency_keys": [],
        "tokens": [
            {
                "id": t.pk,
                "name": t.name,
                "created_at": _iso(t.created_at),
                "last_used_at": _iso(t.last_used_at),
            }
            for t in tokens_of(user=user)
        ],
        "sessions": [
            {"created_at": _iso(s.created_at)}
            for s in UserSession.objects.filter(user_id=user.pk).order_by("created_at")
        ],
        "sign_in_failures": [
            {
                "attempt_time": _iso(a.attempt_time),
                "ip_address": a.ip_address,
                "user_agent": a.user_agent,
                "failures": a.failures_since_start,
            }
            for a in AccessAttempt.objects.filter(username__iexact=user.get_username()).order_by(
                "attempt_time"
            )
        ],
    }
    if customer is None:
        return data
    data["customer"] = {
        "external_id": customer.external_id,
        "email": customer.email,  # a guest's; a login's email is under "user"
        "country": customer.country,
        "created_at": _iso(customer.created_at),
    }
    orders = (
        Order.objects.filter(customer=customer)
        .prefetch_related(
            "lines__product", "payments", "refunds", "shipments__lines__order_line__product", "lines__returns"
        )
        .order_by("placed_at", "pk")
    )
    data["orders"] = [
        {
            "number": order.number,
            "status": order.status,
            "placed_at": _iso(order.placed_at),
            "paid_at": _iso(order.paid_at),
            "country": order.country,
            "payments": [
                {
                    "amount": f"{p.amount:.2f}",
                    "currency": p.currency,
                    "reference": p.reference,
                    "created_at": _iso(p.created_at),
                }
                for p in order.payments.all()
            ],
            "refunds": [
                {
                    "amount": f"{r.amount:.2f}",
                    "currency": r.currency,
                    "reason": r.reason,
                    "created_at": _iso(r.created_at),
                }
                for r in order.refunds.all()
            ],
            "shipments": [
                {
                    "sequence": shipment.sequence,
                    "created_at": _iso(shipment.created_at),
                    "lines": [
                        {"sku": line.order_line.product.sku, "quantity": line.quantity}
                        for line in shipment.lines.all()
                    ],
                }
                for shipment in order.shipments.all()
            ],
            "returns": [
                {
                    "sku": line.product.sku,
                    "quantity": ret.quantity,
                    "restock": ret.restock,
                    "reason": ret.reason,
                    "created_at": _iso(ret.created_at),
                }
                for line in order.lines.all()
                for ret in line.returns.all()
            ],
            "lines": [
                {
                    "line_number": line.line_number,
                    "sku": line.product.sku,
                    "name": line.product.name,
                    "quantity": line.quantity,
                    "unit_price": f"{line.unit_price:.2f}",
                }
                for line in sorted(order.lines.all(), key=lambda line: line.line_number)
            ],
        }
        for order in orders
    ]
    data["cancellations"] = [
        {
            "reference": c.reference,
            "kind": c.kind,
            "sku": c.product.sku,
            "quantity": c.quantity,
            "unit_price": f"{c.unit_price:.2f}",
            "created_at": _iso(c.created_at),
        }
        for c in Cancellation.objects.filter(customer=customer)
        .select_related("product")
        .order_by("created_at")
    ]
    data["ratings"] = [
        {"product": r.product_id, "sku": r.product.sku, "stars": float(r.stars), "rated_at": _iso(r.rated_at)}
        for r in Rating.objects.filter(customer=customer).select_related("product").order_by("rated_at")
    ]
    data["events"] = [
        {
            "type": e.kind,
            "product": e.product_id,
            "sku": e.product.sku,
            "session_id": e.session_id,
            "quantity": e.quantity,
            "occurred_at": _iso(e.occurred_at),
        }
        for e in ProductEvent.objects.filter(customer=customer)
        .select_related("product")
        .order_by("occurred_at")
    ]
    data["recommendations"] = [
        {"mode": r.mode, "rank": r.rank, "sku": r.product.sku, "score": r.score, "reason": r.reason}
        for r in CustomerRecommendation.objects.of_active_version()
        .filter(customer=customer)
        .select_related("product")
        .order_by("mode", "rank")
    ]
    data["idempotency_keys"] = [
        {"key": k.key, "created_at": _iso(k.created_at), "order_number": k.order.number if k.order else None}
        for k in IdempotencyKey.objects.filter(customer=customer)
        .select_related("order")
        .order_by("created_at")
    ]
    return data
