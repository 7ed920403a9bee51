"""Thin read endpoints over ``recommender.selectors``: one class per operation."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shop.models import Customer, Product

from . import selectors
from .serializers import RecommendationQuerySerializer, RecommendedProductSerializer, SimilarQuerySerializer


def _recommendations_response(request: Request, customer: Customer | None) -> Response:
    # A plain dict: from a QueryDict DRF reads "?mode=" as "not given" and silently uses the default.
    query = RecommendationQuerySerializer(data=request.query_params.dict())
    query.is_valid(raise_exception=True)
    items = selectors.recommendations_for(customer=customer, **query.validated_data)
    return Response(RecommendedProductSerializer(items, many=True).data)


class MyRecommendationsApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        parameters=[RecommendationQuerySerializer],
        responses=RecommendedProductSerializer(many=True),
        summary="Recommendations for the logged-in customer",
        description="mode=all may include products bought before; mode=new only products never bought. "
        "A user without a customer record gets the cold-start (popular) list.",
    )
    def get(self, request: Request) -> Response:
        customer = Customer.objects.filter(user=request.user).first()
        return _recommendations_response(request, customer)


class CustomerRecommendationsApi(APIView):
    permission_classes = [permissions.IsAdminUser]

    @extend_schema(
        parameters=[RecommendationQuerySerializer],
        responses=RecommendedProductSerializer(many=True),
        summary="A customer's recommendations (staff only)",
    )
    def get(self, request: Request, pk: int) -> Response:
        return _recommendations_response(request, get_object_or_404(Customer, pk=pk))


class SimilarProductsApi(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        parameters=[SimilarQuerySerializer],
        responses=RecommendedProductSerializer(many=True),
        summary="Products similar to a product (bought together, then similar descriptions)",
    )
    def get(self, request: Request, pk: int) -> Response:
        product = get_object_or_404(Product, pk=pk)
        query = SimilarQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        items = selectors.similar_products_for(product=product, **query.validated_data)
        return Response(RecommendedProductSerializer(items, many=True).data)
