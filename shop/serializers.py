from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
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


# --- Accounts -------------------------------------------------------------------------------------


class CredentialsSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})


class SignUpSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    country = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)


class MeCustomerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    country = serializers.CharField()


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()
    is_staff = serializers.BooleanField()
    customer = serializers.SerializerMethodField()

    @extend_schema_field(MeCustomerSerializer(allow_null=True))
    def get_customer(self, user) -> dict | None:
        customer = getattr(user, "customer", None)
        return MeCustomerSerializer(customer).data if customer else None


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>` (or Bearer).")
    user = MeSerializer()


class CsrfSerializer(serializers.Serializer):
    csrf_token = serializers.CharField(help_text="Send back as the X-CSRFToken header on unsafe requests.")
    user = MeSerializer(allow_null=True)
