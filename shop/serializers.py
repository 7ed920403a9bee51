from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.fields import StrictCharField, StrictEmailField, StrictIntegerField

from .models import Order, OrderLine, Payment, Refund, Shipment, ShipmentLine
from .selectors import guest_order_token, order_money, order_shipped_by_line
from .services import order_total


class OrderLineInputSerializer(serializers.Serializer):
    # A plain id, not a PrimaryKeyRelatedField: that would run one query per line. order_place reads
    # every product in one query and answers "unavailable" for unknown and inactive ones alike.
    product = StrictIntegerField(min_value=1, max_value=2**63 - 1)
    quantity = StrictIntegerField(min_value=1, max_value=100_000)


class _LinesField(serializers.ListField):
    """Refuses an over-long list before validating any element, and reads its limit per request."""

    def __init__(self, **kwargs):
        super().__init__(child=OrderLineInputSerializer(), allow_empty=False, min_length=1, **kwargs)
        self.max_length = settings.SHOP["ORDER_MAX_LINES"]  # shown as maxItems in the schema

    def to_internal_value(self, data):
        limit = settings.SHOP["ORDER_MAX_LINES"]
        if isinstance(data, list) and len(data) > limit:
            self.fail("max_length", max_length=limit)
        return super().to_internal_value(data)


class OrderPlaceInputSerializer(serializers.Serializer):
    lines = _LinesField()


class GuestOrderPlaceInputSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254, help_text="Where the shop writes about this order.")
    country = StrictCharField(required=False, allow_blank=True, default="", max_length=64)
    lines = _LinesField()


class OrderLineSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="product.sku")
    name = serializers.CharField(source="product.name")
    line_total = serializers.SerializerMethodField()
    shipped = serializers.SerializerMethodField(help_text="Units of this line shipped so far.")
    returned = serializers.SerializerMethodField(help_text="Shipped units that came back.")

    class Meta:
        model = OrderLine
        fields = [
            *("line_number", "product", "sku", "name", "quantity", "unit_price", "line_total"),
            *("shipped", "returned"),
        ]

    @extend_schema_field(serializers.DecimalField(max_digits=14, decimal_places=2))
    def get_line_total(self, line: OrderLine) -> str:
        return f"{line.quantity * line.unit_price:.2f}"

    def get_shipped(self, line: OrderLine) -> int:
        order = line.order  # the prefetch set it: no query
        if not hasattr(order, "_shipped_by_line"):
            order._shipped_by_line = order_shipped_by_line(order)
        return order._shipped_by_line.get(line.pk, 0)

    def get_returned(self, line: OrderLine) -> int:
        return sum(item.quantity for item in line.returns.all())


class PaymentSerializer(serializers.ModelSerializer):
    paid_at = serializers.DateTimeField(source="created_at")

    class Meta:
        model = Payment
        fields = ["amount", "currency", "paid_at"]


class RefundSerializer(serializers.ModelSerializer):
    refunded_at = serializers.DateTimeField(source="created_at")
    confirmed = serializers.SerializerMethodField(help_text="The payment provider reported it.")

    class Meta:
        model = Refund
        fields = ["amount", "currency", "reason", "refunded_at", "confirmed"]

    def get_confirmed(self, refund: Refund) -> bool:
        return refund.confirmed_at is not None


class ShipmentLineSerializer(serializers.ModelSerializer):
    line_number = serializers.IntegerField(source="order_line.line_number")
    product = serializers.IntegerField(source="order_line.product_id")
    sku = serializers.CharField(source="order_line.product.sku")

    class Meta:
        model = ShipmentLine
        fields = ["line_number", "product", "sku", "quantity"]


class ShipmentSerializer(serializers.ModelSerializer):
    shipped_at = serializers.DateTimeField(source="created_at")
    lines = ShipmentLineSerializer(many=True)

    class Meta:
        model = Shipment
        fields = ["sequence", "shipped_at", "lines"]


_MONEY = serializers.DecimalField(max_digits=14, decimal_places=2)


class OrderSerializer(serializers.ModelSerializer):
    lines = OrderLineSerializer(many=True)
    total = serializers.SerializerMethodField()
    paid = serializers.SerializerMethodField(help_text="Sum of the payments received.")
    refunded = serializers.SerializerMethodField(help_text="Sum of the refunds recorded.")
    currency = serializers.SerializerMethodField(help_text="ISO 4217 code of every amount on the order.")
    payments = PaymentSerializer(many=True)
    refunds = RefundSerializer(many=True)
    shipments = ShipmentSerializer(many=True)

    class Meta:
        model = Order
        fields = [
            *("id", "number", "placed_at", "status", "expires_at", "paid_at", "currency"),
            *("total", "paid", "refunded", "lines", "payments", "refunds", "shipments"),
        ]
        extra_kwargs = {
            "status": {
                "help_text": "placed (awaiting payment; lapses at expires_at), paid, partly_shipped, "
                "fulfilled or cancelled."
            }
        }

    @extend_schema_field(_MONEY)
    def get_total(self, order: Order) -> str:
        return f"{order_total(order):.2f}"

    @extend_schema_field(_MONEY)
    def get_paid(self, order: Order) -> str:
        return f"{order_money(order)[0]:.2f}"

    @extend_schema_field(_MONEY)
    def get_refunded(self, order: Order) -> str:
        return f"{order_money(order)[1]:.2f}"

    def get_currency(self, order: Order) -> str:
        return settings.SHOP["CURRENCY"]


class GuestOrderSerializer(OrderSerializer):
    """A guest's order with its lookup link: the only way back to it without an account."""

    lookup_token = serializers.SerializerMethodField(
        help_text="The secret of GET /api/orders/guest/{token}/: whoever holds it sees this order."
    )
    lookup_url = serializers.SerializerMethodField()

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "lookup_token", "lookup_url"]

    def get_lookup_token(self, order: Order) -> str:
        return guest_order_token(order=order)

    def get_lookup_url(self, order: Order) -> str:
        path = f"/api/orders/guest/{self.get_lookup_token(order)}/"
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class PaymentEventSerializer(serializers.Serializer):
    """The payment provider's event (``POST /api/payments/webhook/``), read after its signature."""

    id = StrictCharField(max_length=255, help_text="The provider's event id; a repeat is acknowledged only.")
    type = StrictCharField(
        max_length=64, help_text="payment.succeeded or payment.refunded; other types are acknowledged."
    )
    order = StrictCharField(max_length=32, help_text="The order number.")
    amount = StrictCharField(
        max_length=13,
        validators=[
            RegexValidator(r"^\d{1,10}(\.\d{1,2})?$", 'A decimal string with at most two decimals: "10.50".')
        ],
        help_text='A decimal string, e.g. "10.50".',
    )
    currency = StrictCharField(
        min_length=3,
        max_length=3,
        validators=[RegexValidator(r"^[A-Za-z]{3}$", "Three letters (ISO 4217).")],
        help_text="ISO 4217 code, e.g. GBP (any case).",
    )


class PaymentEventAckSerializer(serializers.Serializer):
    event = serializers.CharField(help_text="The event id.")
    duplicate = serializers.BooleanField(help_text="The event was seen before; nothing was done again.")
    effect = serializers.ChoiceField(
        ["paid", "refunded", "none", "ignored"],
        help_text="What this delivery did: none for a duplicate, ignored for another event type.",
    )
    order = serializers.CharField(allow_null=True, help_text="The order number.")
    status = serializers.CharField(allow_null=True, help_text="The order's status afterwards.")
