"""Serializers of the storefront catalogue: products, categories, ratings and events."""

from __future__ import annotations

import re
from decimal import Decimal

from django.conf import settings
from rest_framework import serializers

from .models import Category, Product, ProductEvent, Rating


class ProductSerializer(serializers.Serializer):
    """A catalogue product. Plain fields (no ModelSerializer introspection): it runs on every page."""

    id = serializers.IntegerField(read_only=True)
    sku = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    # Most imported products have no category: the schema says so.
    category = serializers.CharField(source="category.name", default=None, allow_null=True, read_only=True)
    price = serializers.DecimalField(max_digits=10, decimal_places=2, read_only=True)
    active = serializers.BooleanField(read_only=True)
    available = serializers.SerializerMethodField()
    units_sold = serializers.IntegerField(
        read_only=True, help_text="The popularity that `ordering` sorts by."
    )

    def get_available(self, product: Product) -> int:
        stock = getattr(product, "stock", None)
        return max(stock.available, 0) if stock else 0


class CategorySerializer(serializers.ModelSerializer):
    products = serializers.IntegerField(
        source="active_products", read_only=True, help_text="Active products."
    )

    class Meta:
        model = Category
        fields = ["id", "name", "products"]


def _product_id_field(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=2**53, **kwargs)


class RatingSerializer(serializers.ModelSerializer):
    product = serializers.IntegerField(source="product_id", read_only=True)
    stars = serializers.DecimalField(max_digits=2, decimal_places=1, coerce_to_string=False, read_only=True)

    class Meta:
        model = Rating
        fields = ["product", "stars", "rated_at"]


class StarsField(serializers.DecimalField):
    def __init__(self, **kwargs) -> None:
        super().__init__(
            max_digits=2,
            decimal_places=1,
            min_value=Decimal("0.5"),
            max_value=Decimal("5"),
            coerce_to_string=False,
            **kwargs,
        )

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value % 1 not in (0, 0.5):
            raise serializers.ValidationError("Stars go from 0.5 to 5 in half steps.")
        return value


class RatingCreateSerializer(serializers.Serializer):
    product = _product_id_field()
    stars = StarsField()


class RatingUpdateSerializer(serializers.Serializer):
    stars = StarsField()


SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class EventSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ProductEvent.Kind.choices)
    product = _product_id_field()
    quantity = serializers.IntegerField(min_value=1, max_value=1000, default=1)


class EventBatchSerializer(serializers.Serializer):
    session_id = serializers.CharField(
        required=False,
        max_length=64,
        help_text="The frontend's anonymous session id (8-64 of A-Z, a-z, 0-9, _ and -); "
        "required when the caller is not signed in as a customer, ignored otherwise.",
    )
    events = EventSerializer(many=True, allow_empty=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The cap is checked before any event is validated, so an oversized batch costs nothing.
        self.fields["events"] = EventSerializer(
            many=True, allow_empty=False, max_length=settings.SHOP_EVENTS_MAX_BATCH
        )

    def validate_session_id(self, value: str) -> str:
        if not SESSION_ID.match(value):
            raise serializers.ValidationError("8 to 64 letters, digits, '_' or '-'.")
        return value


class EventBatchResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
