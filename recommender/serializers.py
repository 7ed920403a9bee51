import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from shop.serializers_catalogue import ProductSerializer

from .models import Mode, Reason
from .scoring import list_scores


class RecommendationQuerySerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=Mode.choices, default=Mode.ALL)
    limit = serializers.IntegerField(min_value=1, max_value=50, default=10)


class SimilarQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=50, default=10)


# Positive ids without leading zeros: the schema and the parser share this one pattern, so the
# fuzzer's "valid" values are exactly the ones the view accepts.
PRODUCT_ID = r"[1-9][0-9]{0,14}"
PRODUCT_ID_LIST = re.compile(rf"{PRODUCT_ID}(,{PRODUCT_ID})*")


@extend_schema_field(
    {"type": "string", "pattern": rf"^{PRODUCT_ID}(,{PRODUCT_ID}){{0,49}}$", "example": "1,2,3"}
)
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
        # An ASCII-only pattern: str.isdecimal() would also take other scripts' digits.
        if not isinstance(data, str) or not PRODUCT_ID_LIST.fullmatch(data):
            self.fail("invalid")
        parts = data.split(",")
        if len(parts) > self.max_items:
            self.fail("too_many", max_items=self.max_items)
        return list(dict.fromkeys(int(part) for part in parts))

    def to_representation(self, value):
        return ",".join(str(pid) for pid in value)


class BasketQuerySerializer(serializers.Serializer):
    products = ProductIdListField(
        max_items=50, help_text="Ids of the basket's products, e.g. 1,2,3 (at most 50)."
    )
    limit = serializers.IntegerField(min_value=1, max_value=50, default=10)


class RecommendedProductSerializer(serializers.Serializer):
    """One item of a served list: the product as the catalogue shows it, and why it is here."""

    product = ProductSerializer(help_text="The product, exactly as GET /api/products/ shows it.")
    score = serializers.FloatField(
        min_value=0,
        max_value=1,
        help_text="0 to 1, comparable within this list only: 1 for its first item, never rising down the "
        "list (recommender.scoring).",
    )
    reason = serializers.CharField(help_text="Why, in words (e.g. 'because you bought X').")
    reason_code = serializers.ChoiceField(choices=Reason.choices, help_text="Why, as a stable code.")


def recommended_items(items) -> list[dict]:
    """Serialized items with their scores rescaled to the list (``recommender.scoring``)."""
    scores = list_scores([(item.source, item.score) for item in items])
    rows = [
        {"product": item.product, "score": score, "reason": item.reason, "reason_code": item.reason_code}
        for item, score in zip(items, scores, strict=True)
    ]
    return list(RecommendedProductSerializer(rows, many=True).data)
