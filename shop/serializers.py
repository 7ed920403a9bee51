from __future__ import annotations

from rest_framework import serializers

from .models import Order, OrderLine, Product


class OrderLineInputSerializer(serializers.Serializer):
    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all())
    quantity = serializers.IntegerField(min_value=1, max_value=100_000)


class OrderPlaceInputSerializer(serializers.Serializer):
    lines = OrderLineInputSerializer(many=True, allow_empty=False)


class OrderLineSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="product.sku")

    class Meta:
        model = OrderLine
        fields = ["line_number", "product", "sku", "quantity", "unit_price"]


class OrderSerializer(serializers.ModelSerializer):
    lines = OrderLineSerializer(many=True)

    class Meta:
        model = Order
        fields = ["id", "number", "placed_at", "status", "lines"]
