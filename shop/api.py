"""Thin API views: validate, call one service or selector, serialize."""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.errors import ProblemError
from config.api.schema import problem_responses
from config.api.throttling import AnonThrottle, CustomerThrottle, OrderThrottle

from . import selectors, services
from .models import Order
from .serializers import OrderPlaceInputSerializer, OrderSerializer

# --- Orders ---------------------------------------------------------------------------------------

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
    OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (a UUID) of printable ASCII, at most 255 characters. Repeating it "
    "within the key window (24 h by default) returns the first order's answer and places nothing "
    "(the answer carries `Idempotent-Replayed: true`); the same key with a different body is a 422.",
)
_ORDER_PROBLEMS = {
    403: "The login has no customer account (or the session's CSRF token is missing)",
    409: "Some products are unavailable (unknown or not for sale; not named), not enough stock "
    "(named), or the per-customer reservation limit is reached",
    422: "The Idempotency-Key was used before with a different body",
}


def _line_errors(raw_lines: list[dict], product_ids: set[int], message: str, field: str) -> dict:
    """Point at the request's own lines (by position), never at a product's name or SKU."""
    return {
        f"lines.{index}.{field}": [message]
        for index, line in enumerate(raw_lines)
        if line["product"] in product_ids
    }


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not all(" " <= char <= "~" for char in key):
        raise ProblemError(
            400,
            "invalid",
            "Idempotency-Key must be 1 to 255 printable ASCII characters.",
            errors={"Idempotency-Key": ["1 to 255 printable ASCII characters."]},
        )
    return key


class OrderListCreateApi(generics.GenericAPIView):
    """GET: the caller's orders (staff: everyone's), newest first. POST: place an order."""

    permission_classes = [permissions.IsAuthenticated]
    throttle_classes = [AnonThrottle, CustomerThrottle, OrderThrottle]
    serializer_class = OrderSerializer

    def get_queryset(self):
        return selectors.orders_visible_to(user=self.request.user)

    @extend_schema(
        responses=OrderSerializer(many=True),
        summary="List my orders, newest first (staff: every order)",
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(OrderSerializer(page, many=True).data)

    @extend_schema(
        request=OrderPlaceInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: OrderSerializer, **problem_responses(_ORDER_PROBLEMS)},
        summary="Place an order: its stock is reserved until it is fulfilled, cancelled or expires",
    )
    def post(self, request: Request) -> Response:
        customer = selectors.customer_for_user(user=request.user)
        if customer is None:
            raise ProblemError(403, "no_customer", "This login has no customer account.")
        key = _idempotency_key(request)
        serializer = OrderPlaceInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        raw_lines = serializer.validated_data["lines"]
        cap = settings.SHOP["MAX_RESERVED_PER_PRODUCT"]  # the storefront's policy; staff tools have none
        lines = [
            services.LineRequest(product_id=line["product"], quantity=line["quantity"]) for line in raw_lines
        ]
        try:
            if key is None:
                order = services.order_place(customer=customer, lines=lines, max_reserved_per_product=cap)
                return Response(self._render(order), status=status.HTTP_201_CREATED)
            fingerprint = hashlib.sha256(
                json.dumps(request.data, sort_keys=True, separators=(",", ":")).encode()
            ).hexdigest()
            outcome = services.order_place_idempotent(
                customer=customer,
                lines=lines,
                key=key,
                fingerprint=fingerprint,
                render=self._render,
                max_reserved_per_product=cap,
            )
        except services.ProductUnavailable as exc:
            raise ProblemError(
                409,
                "product_unavailable",
                str(exc),
                errors=_line_errors(
                    raw_lines, set(exc.product_ids), "This product is unavailable.", "product"
                ),
            ) from None
        except services.InsufficientStock as exc:
            raise ProblemError(
                409,
                "insufficient_stock",
                str(exc),
                errors=_line_errors(raw_lines, {exc.product.pk}, str(exc), "quantity"),
                product=exc.product.pk,
                sku=exc.product.sku,
                requested=exc.requested,
                available=exc.available,
            ) from None
        except services.ReservationLimitExceeded as exc:
            raise ProblemError(
                409,
                "reservation_limit",
                str(exc),
                errors=_line_errors(raw_lines, {exc.product.pk}, str(exc), "quantity"),
                product=exc.product.pk,
                limit=exc.limit,
                held=exc.held,
            ) from None
        except services.IdempotencyKeyReused as exc:
            raise ProblemError(422, "idempotency_key_reused", str(exc)) from None
        headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
        return Response(outcome.body, status=outcome.status, headers=headers)

    @staticmethod
    def _render(order: Order) -> dict:
        # Re-read with lines and products prefetched: two queries whatever the line count.
        return OrderSerializer(selectors.order_with_lines(order_id=order.pk)).data


def _visible_order(request: Request, pk: int) -> Order:
    order = selectors.orders_visible_to(user=request.user).filter(pk=pk).first()
    if order is None:
        # Someone else's order is "not found", never "forbidden": ids reveal nothing.
        raise NotFound("No such order.")
    return order


class OrderDetailApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        responses={200: OrderSerializer, **problem_responses({404: "No such order among the caller's"})},
        summary="One of my orders, with its lines, prices, total and currency",
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(OrderSerializer(_visible_order(request, pk)).data)


class OrderCancelApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            200: OrderSerializer,
            **problem_responses(
                {
                    404: "No such order among the caller's",
                    409: "The order is no longer open (already cancelled, fulfilled or expired)",
                }
            ),
        },
        summary="Cancel one of my open orders and release its reserved stock",
    )
    def post(self, request: Request, pk: int) -> Response:
        order = _visible_order(request, pk)
        try:
            services.order_cancel(order=order)
        except services.InvalidOrderState as exc:
            raise ProblemError(409, "invalid_order_state", str(exc)) from None
        return Response(OrderSerializer(selectors.order_with_lines(order_id=order.pk)).data)
