from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import Mode


class RecommendationQuerySerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=Mode.choices, default=Mode.ALL)
    limit = serializers.IntegerField(min_value=1, max_value=50, default=10)


class SimilarQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=50, default=10)


@extend_schema_field({"type": "string", "pattern": r"^[0-9]{1,15}(,[0-9]{1,15}){0,49}$", "example": "1,2,3"})
class ProductIdListField(serializers.Field):
    """Comma-separated product ids, e.g. ``1,2,3``: anything else is a 400, not a silent skip."""

    default_error_messages = {
        "invalid": "A comma-separated list of product ids, e.g. 1,2,3.",
        "too_many": "At most {max_items} products.",
    }

    def __init__(self, *, max_items: int, **kwargs) -> None:
        self.max_items = max_items
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> list[int]:
        if not isinstance(data, str):
            self.fail("invalid")
        parts = data.split(",")
        if len(parts) > self.max_items:
            self.fail("too_many", max_items=self.max_items)
        # isdecimal() alone would accept other scripts' digits; ids are ASCII.
        if not all(part.isascii() and part.isdecimal() and len(part) <= 15 for part in parts):
            self.fail("invalid")
        ids = [int(part) for part in parts]
        if any(pid <= 0 for pid in ids):
            self.fail("invalid")
        return list(dict.fromkeys(ids))

    def to_representation(self, value):
        return ",".join(str(pid) for pid in value)


class BasketQuerySerializer(serializers.Serializer):
    products = ProductIdListField(
        max_items=50, help_text="Ids of the basket's products, e.g. 1,2,3 (at most 50)."
    )
    limit = serializers.IntegerField(min_value=1, max_value=50, default=10)


class RecommendedProductSerializer(serializers.Serializer):
    product_id = serializers.IntegerField(source="product.pk")
    sku = serializers.CharField(source="product.sku")
    name = serializers.CharField(source="product.name")
    price = serializers.DecimalField(source="product.price", max_digits=10, decimal_places=2)
    score = serializers.FloatField()
    reason = serializers.CharField()
    reason_code = serializers.CharField()
