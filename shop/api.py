"""Thin API views: validate, call one service or selector, serialize."""

from __future__ import annotations

import django_filters
from django.db.models import Q
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .models import Product
from .serializers import OrderPlaceInputSerializer, OrderSerializer, ProductSerializer


class ProductFilter(django_filters.FilterSet):
    category = django_filters.CharFilter(field_name="category__name", lookup_expr="iexact")
    q = django_filters.CharFilter(method="search", label="Search in SKU and name")
    min_price = django_filters.NumberFilter(field_name="price", lookup_expr="gte")
    max_price = django_filters.NumberFilter(field_name="price", lookup_expr="lte")
    in_stock = django_filters.BooleanFilter(method="filter_in_stock")

    class Meta:
        model = Product
        fields = ["category", "q", "min_price", "max_price", "in_stock"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(sku__iexact=value))

    def filter_in_stock(self, queryset, name, value):
        in_stock = queryset.in_stock()
        return in_stock if value else queryset.exclude(pk__in=in_stock.values("pk"))


class ProductListApi(generics.ListAPIView):
    """Active products, filterable by category, price, stock and a search term."""

    serializer_class = ProductSerializer
    filterset_class = ProductFilter
    permission_classes = [permissions.AllowAny]

    def get_queryset(self):
        return selectors.product_list().order_by("sku")


class ProductDetailApi(generics.RetrieveAPIView):
    serializer_class = ProductSerializer
    permission_classes = [permissions.AllowAny]

    def get_queryset(self):
        return selectors.product_list()


class OrderPlaceApi(APIView):
    """Place an order for the logged-in customer; stock is reserved or nothing happens."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=OrderPlaceInputSerializer,
        responses={
            201: OrderSerializer,
            400: OpenApiResponse(description="Invalid lines"),
            403: OpenApiResponse(description="The user has no customer account"),
            409: OpenApiResponse(description="Not enough stock for a product; the message names it"),
        },
    )
    def post(self, request: Request) -> Response:
        customer = selectors.customer_for_user(user=request.user)
        if customer is None:
            return Response(
                {"detail": "This login has no customer account."}, status=status.HTTP_403_FORBIDDEN
            )
        serializer = OrderPlaceInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lines = [
            services.LineRequest(product_id=line["product"].pk, quantity=line["quantity"])
            for line in serializer.validated_data["lines"]
        ]
        try:
            order = services.order_place(customer=customer, lines=lines)
        except services.InsufficientStock as exc:
            return Response(
                {
                    "detail": str(exc),
                    "code": "insufficient_stock",
                    "product": exc.product.pk,
                    "sku": exc.product.sku,
                    "requested": exc.requested,
                    "available": exc.available,
                },
                status=status.HTTP_409_CONFLICT,
            )
        except services.ProductUnavailable as exc:
            return Response(
                {"detail": str(exc), "code": "product_unavailable", "product": exc.product.pk},
                status=status.HTTP_409_CONFLICT,
            )
        order = type(order).objects.prefetch_related("lines__product").get(pk=order.pk)
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)
