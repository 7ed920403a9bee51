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
from .serializers import (
    GuestOrderPlaceInputSerializer,
    GuestOrderSerializer,
    OrderPlaceInputSerializer,
    OrderSerializer,
)

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
GUEST_TOKEN = OpenApiParameter(
    "token",
    {"type": "string", "minLength": 1, "maxLength": 200},
    OpenApiParameter.PATH,
    description="The lookup token returned when the guest order was placed.",
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


def _fingerprint(request: Request) -> str:
    return hashlib.sha256(
        json.dumps(request.data, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def _placement_problem(exc: Exception, raw_lines: list[dict]) -> Exception:
    """The problem answer for a placement the services refused (re-raises anything else)."""
    if isinstance(exc, services.ProductUnavailable):
        return ProblemError(
            409,
            "product_unavailable",
            str(exc),
            errors=_line_errors(raw_lines, set(exc.product_ids), "This product is unavailable.", "product"),
        )
    if isinstance(exc, services.InsufficientStock):
        return ProblemError(
            409,
            "insufficient_stock",
            str(exc),
            errors=_line_errors(raw_lines, {exc.product.pk}, str(exc), "quantity"),
            product=exc.product.pk,
            sku=exc.product.sku,
            requested=exc.requested,
            available=exc.available,
        )
    if isinstance(exc, services.ReservationLimitExceeded):
        return ProblemError(
            409,
            "reservation_limit",
            str(exc),
            errors=_line_errors(raw_lines, {exc.product.pk}, str(exc), "quantity"),
            product=exc.product.pk,
            limit=exc.limit,
            held=exc.held,
        )
    if isinstance(exc, services.IdempotencyKeyReused):
        return ProblemError(422, "idempotency_key_reused", str(exc))
    return exc


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
        summary="Place an order: its stock is reserved until shipped or cancelled; unpaid, it lapses",
    )
    def post(self, request: Request) -> Response:
        customer = selectors.customer_for_user(user=request.user)
        if customer is None:
            raise ProblemError(403, "no_customer_account", "This login has no customer account.")
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
            outcome = services.order_place_idempotent(
                customer=customer,
                lines=lines,
                key=key,
                fingerprint=_fingerprint(request),
                render=self._render,
                max_reserved_per_product=cap,
            )
        except services.ShopError as exc:
            raise _placement_problem(exc, raw_lines) from None
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
                    409: "The order is not awaiting payment (paid, shipped, cancelled or expired); "
                    "a paid order is cancelled by the shop",
                }
            ),
        },
        summary="Cancel one of my unpaid orders and release its reserved stock",
    )
    def post(self, request: Request, pk: int) -> Response:
        order = _visible_order(request, pk)
        try:
            # Staff may cancel a paid order here too (it records the refund); a customer only an unpaid one.
            services.order_cancel(order=order, user=request.user, by_customer=not request.user.is_staff)
        except services.InvalidOrderState as exc:
            raise ProblemError(409, "invalid_order_state", str(exc)) from None
        return Response(OrderSerializer(selectors.order_with_lines(order_id=order.pk)).data)


# --- Guest checkout -------------------------------------------------------------------------------


class GuestOrderThrottle(OrderThrottle):
    """Guest order placements per client IP, at the signed-in customers' order rate."""

    def get_cache_key(self, request, view):
        if request.method != "POST":
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def _guest_order(token: str) -> Order:
    order = selectors.guest_order_for_token(token=token)
    if order is None:
        # A forged or altered token and an unknown order look the same: nothing to probe.
        raise NotFound("No such order.")
    return order


class GuestOrderCreateApi(APIView):
    """Place an order without an account: by email, with a lookup link to follow it."""

    permission_classes = [permissions.AllowAny]
    throttle_classes = [AnonThrottle, CustomerThrottle, GuestOrderThrottle]

    @extend_schema(
        request=GuestOrderPlaceInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: GuestOrderSerializer,
            **problem_responses(
                {
                    409: "Some products are unavailable (not named), not enough stock (named), or the "
                    "per-customer reservation limit is reached for this email",
                    422: "The Idempotency-Key was used before with a different body",
                }
            ),
        },
        summary="Place an order as a guest (email, no account); the answer carries its lookup link",
        description="The order is kept for a guest customer of this email (one per email, the only "
        "place the email is stored). `lookup_url` (`lookup_token`) shows this order and nothing else; "
        "whoever holds it can see and cancel the order while it is unpaid, so send it to the email only.",
    )
    def post(self, request: Request) -> Response:
        key = _idempotency_key(request)
        serializer = GuestOrderPlaceInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        lines = [
            services.LineRequest(product_id=line["product"], quantity=line["quantity"])
            for line in data["lines"]
        ]
        try:
            outcome = services.guest_order_place(
                email=data["email"],
                country=data["country"],
                lines=lines,
                render=lambda order: self._render(request, order),
                key=key,
                fingerprint=_fingerprint(request) if key is not None else "",
                max_reserved_per_product=settings.SHOP["MAX_RESERVED_PER_PRODUCT"],
            )
        except services.ShopError as exc:
            raise _placement_problem(exc, data["lines"]) from None
        headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
        return Response(outcome.body, status=outcome.status, headers=headers)

    @staticmethod
    def _render(request: Request, order: Order) -> dict:
        return GuestOrderSerializer(
            selectors.order_with_lines(order_id=order.pk), context={"request": request}
        ).data


class GuestOrderDetailApi(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        parameters=[GUEST_TOKEN],
        responses={200: OrderSerializer, **problem_responses({404: "No order has this link"})},
        summary="A guest's order, by its lookup link",
    )
    def get(self, request: Request, token: str) -> Response:
        return Response(OrderSerializer(_guest_order(token)).data)


class GuestOrderCancelApi(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        request=None,
        parameters=[GUEST_TOKEN],
        responses={
            200: OrderSerializer,
            **problem_responses(
                {
                    404: "No order has this link",
                    409: "The order is not awaiting payment (paid, shipped, cancelled or expired)",
                }
            ),
        },
        summary="Cancel a guest's unpaid order, by its lookup link",
    )
    def post(self, request: Request, token: str) -> Response:
        order = _guest_order(token)
        try:
            services.order_cancel(order=order, by_customer=True)
        except services.InvalidOrderState as exc:
            raise ProblemError(409, "invalid_order_state", str(exc)) from None
        return Response(OrderSerializer(selectors.order_with_lines(order_id=order.pk)).data)
