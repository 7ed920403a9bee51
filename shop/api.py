"""Thin API views: validate, call one service or selector, serialize."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .serializers import OrderPlaceInputSerializer, OrderSerializer


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
