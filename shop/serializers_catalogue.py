"""Serializers of the storefront catalogue: products, categories, ratings and events."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.fields import StrictCharField, StrictIntegerField

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
    name = serializers.CharField(read_only=True, help_text='The path from the root, e.g. "Home > Kitchen".')
    parent = serializers.IntegerField(
        source="parent_id",
        read_only=True,
        allow_null=True,
        help_text="The category one level up; null at the root.",
    )
    products = serializers.IntegerField(
        source="active_products", read_only=True, help_text="Active products, sub-categories included."
    )

    class Meta:
        model = Category
        fields = ["id", "name", "parent", "products"]


def _product_id_field(**kwargs) -> serializers.IntegerField:
    return StrictIntegerField(min_value=1, max_value=2**63 - 1, **kwargs)


class RatingSerializer(serializers.ModelSerializer):
    product = serializers.IntegerField(source="product_id", read_only=True)
    stars = serializers.DecimalField(max_digits=2, decimal_places=1, coerce_to_string=False, read_only=True)

    class Meta:
        model = Rating
        fields = ["product", "stars", "rated_at"]


@extend_schema_field({"type": "number", "minimum": 0.5, "maximum": 5, "multipleOf": 0.5})
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
        # A JSON number, as the schema says: DecimalField alone would also take "4.5" or "4".
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if value % 1 not in (0, 0.5):
            raise serializers.ValidationError("Stars go from 0.5 to 5 in half steps.")
        return value


class RatingCreateSerializer(serializers.Serializer):
    product = _product_id_field()
    stars = StarsField()


class RatingUpdateSerializer(serializers.Serializer):
    stars = StarsField()


SESSION_ID = RegexValidator(r"^[A-Za-z0-9_-]{8,64}$", "8 to 64 letters, digits, '_' or '-'.")


class EventSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ProductEvent.Kind.choices)
    product = _product_id_field()
    quantity = StrictIntegerField(min_value=1, max_value=1000, default=1)


class _EventsField(serializers.ListField):
    """1 to SHOP_EVENTS_MAX_BATCH events (minItems/maxItems in the schema); an over-long list is
    refused before any event is validated, so an oversized batch costs nothing."""

    def __init__(self, **kwargs) -> None:
        cap = settings.SHOP_EVENTS_MAX_BATCH
        super().__init__(child=EventSerializer(), allow_empty=False, min_length=1, max_length=cap, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, list) and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class EventBatchSerializer(serializers.Serializer):
    # Always sent, signed in or not: it ties a visitor's anonymous views to their later sign-in.
    session_id = StrictCharField(
        min_length=8,
        max_length=64,
        validators=[SESSION_ID],
        help_text="The frontend's session id (8-64 of A-Z, a-z, 0-9, _ and -).",
    )
    events = serializers.ListField(child=EventSerializer())  # replaced per request in __init__

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The cap is checked before any event is validated, so an oversized batch costs nothing.
        self.fields["events"] = _EventsField()


class EventBatchResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
