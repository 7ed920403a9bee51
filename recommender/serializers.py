from rest_framework import serializers

from .models import Mode


class RecommendationQuerySerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=Mode.choices, default=Mode.ALL)
    limit = serializers.IntegerField(min_value=1, max_value=50, default=10)


class SimilarQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=50, default=10)


class RecommendedProductSerializer(serializers.Serializer):
    product_id = serializers.IntegerField(source="product.pk")
    sku = serializers.CharField(source="product.sku")
    name = serializers.CharField(source="product.name")
    price = serializers.DecimalField(source="product.price", max_digits=10, decimal_places=2)
    score = serializers.FloatField()
    reason = serializers.CharField()
    reason_code = serializers.CharField()
