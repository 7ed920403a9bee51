from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.fields import StrictIntegerField

from .models import Order, OrderLine
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


class OrderLineSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="product.sku")
    name = serializers.CharField(source="product.name")
    line_total = serializers.SerializerMethodField()

    class Meta:
        model = OrderLine
        fields = ["line_number", "product", "sku", "name", "quantity", "unit_price", "line_total"]

    @extend_schema_field(serializers.DecimalField(max_digits=14, decimal_places=2))
    def get_line_total(self, line: OrderLine) -> str:
        return f"{line.quantity * line.unit_price:.2f}"


class OrderSerializer(serializers.ModelSerializer):
    lines = OrderLineSerializer(many=True)
    total = serializers.SerializerMethodField()
    currency = serializers.SerializerMethodField(help_text="ISO 4217 code of every amount on the order.")

    class Meta:
        model = Order
        fields = ["id", "number", "placed_at", "status", "expires_at", "currency", "total", "lines"]

    @extend_schema_field(serializers.DecimalField(max_digits=14, decimal_places=2))
    def get_total(self, order: Order) -> str:
        return f"{order_total(order):.2f}"

    def get_currency(self, order: Order) -> str:
        return settings.SHOP["CURRENCY"]
