"""Thin read endpoints over ``recommender.selectors``: one class per operation."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shop.api_catalogue import NOT_MODIFIED, CacheableReadMixin, cached_answer
from shop.models import Customer, Product

from . import selectors
from .serializers import (
    BasketQuerySerializer,
    RecommendationQuerySerializer,
    RecommendedProductSerializer,
    SimilarQuerySerializer,
    recommended_items,
)


def _recommendations_response(request: Request, customer: Customer | None) -> Response:
    # A plain dict: from a QueryDict DRF reads "?mode=" as "not given" and silently uses the default.
    query = RecommendationQuerySerializer(data=request.query_params.dict())
    query.is_valid(raise_exception=True)
    items = selectors.recommendations_for(customer=customer, **query.validated_data)
    return Response(recommended_items(items))


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
        # A plain dict: from a QueryDict DRF reads "?mode=" as "not given" and silently uses the default.
        query = RecommendationQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)

        def compute() -> list:
            customer = Customer.objects.filter(user=request.user).first()
            items = selectors.recommendations_for(customer=customer, **query.validated_data)
            return recommended_items(items)

        # Keyed by the login: a cached answer costs no customer lookup either.
        key = "recs:{}:{mode}:{limit}".format(request.user.pk, **query.validated_data)
        return Response(cached_answer(key, compute))


class CustomerRecommendationsApi(APIView):
    permission_classes = [permissions.IsAdminUser]

    @extend_schema(
        parameters=[RecommendationQuerySerializer],
        responses=RecommendedProductSerializer(many=True),
        summary="A customer's recommendations (staff only)",
    )
    def get(self, request: Request, pk: int) -> Response:
        return _recommendations_response(request, get_object_or_404(Customer, pk=pk))


class SimilarProductsApi(CacheableReadMixin, APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        parameters=[SimilarQuerySerializer],
        responses={200: RecommendedProductSerializer(many=True), 304: NOT_MODIFIED},
        summary="Products similar to a product (bought together, then similar descriptions)",
    )
    def get(self, request: Request, pk: int) -> Response:
        query = SimilarQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)

        def compute() -> list:
            # An inactive product is a 404 here as on its own page: its neighbours would reveal it.
            product = get_object_or_404(Product.objects.active(), pk=pk)
            items = selectors.similar_products_for(product=product, **query.validated_data)
            return recommended_items(items)

        return Response(cached_answer("similar:{}:{limit}".format(pk, **query.validated_data), compute))


class BasketCompletionApi(CacheableReadMixin, APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        parameters=[BasketQuerySerializer],
        responses={200: RecommendedProductSerializer(many=True), 304: NOT_MODIFIED},
        summary="Complete your basket: products often bought with the given ones",
        description="From the stored similar-product lists (no model call). The given products, inactive "
        "and out-of-stock products are left out; unknown or inactive ids in the basket are ignored.",
    )
    def get(self, request: Request) -> Response:
        query = BasketQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        products, limit = query.validated_data["products"], query.validated_data["limit"]

        def compute() -> list:
            items = selectors.basket_completions(product_ids=products, limit=limit)
            return recommended_items(items)

        key = "basket:{}:{}".format(",".join(map(str, sorted(products))), limit)
        return Response(cached_answer(key, compute))
