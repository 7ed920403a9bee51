"""Storefront catalogue endpoints: products, categories, the customer's ratings, product events.

Thin views: validate, call a selector or a service, serialize. Catalogue reads carry an ETag (a
304 answers a matching ``If-None-Match``) and a ``Cache-Control`` that lets shared caches keep
anonymous answers for ``SHOP_CATALOGUE_MAX_AGE`` seconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import django_filters
from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F, Q
from django.utils.cache import get_conditional_response, patch_vary_headers
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, permissions, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.errors import ProblemError
from config.api.schema import problem_responses

from . import selectors, services_catalogue
from .models import Customer, Product, Rating
from .serializers_catalogue import (
    CategorySerializer,
    EventBatchResultSerializer,
    EventBatchSerializer,
    ProductSerializer,
    RatingCreateSerializer,
    RatingSerializer,
    RatingUpdateSerializer,
)

UNAVAILABLE = "Unknown or unavailable product."
UNAVAILABLE_DETAIL = "Some products are unknown or unavailable; errors points at them by position."
NOT_MODIFIED = OpenApiResponse(description="Not modified: the ETag in If-None-Match still matches; no body")


def cached_answer(key: str, compute: Callable[[], Any]) -> Any:
    """The answer stored under ``key`` if a worker computed it in the last SHOP_SERVE_CACHE_SECONDS.

    Exceptions (a 404, a 400) are never stored: only answers that ``compute`` returns.
    """
    seconds = settings.SHOP_SERVE_CACHE_SECONDS
    if seconds <= 0:
        return compute()
    key = "api:" + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
    serve = caches["serve"]
    value = serve.get(key)
    if value is None:
        value = compute()
        serve.set(key, value, seconds)
    return value


class CacheableReadMixin:
    """ETag from the rendered body, 304 on a matching ``If-None-Match``, and ``Cache-Control``.

    The body is hashed rather than derived from a timestamp because stock levels, prices and the
    active flag all change what a page shows, and no single column tracks all three.
    """

    def finalize_response(self, request: Request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method not in ("GET", "HEAD") or response.status_code != status.HTTP_200_OK:
            return response
        if request.user.is_authenticated:
            response["Cache-Control"] = "private, no-cache"
        else:
            response["Cache-Control"] = f"public, max-age={settings.SHOP_CATALOGUE_MAX_AGE}"
        patch_vary_headers(response, ["Authorization", "Cookie"])
        response.render()
        response["ETag"] = f'"{hashlib.blake2b(response.content, digest_size=16).hexdigest()}"'
        return get_conditional_response(request._request, etag=response["ETag"], response=response)


class StableOrderingFilter(django_filters.OrderingFilter):
    """Sorts by the chosen fields, then by id, so pages never overlap on ties."""

    def filter(self, qs, value):
        if value in django_filters.constants.EMPTY_VALUES:
            return qs
        return qs.order_by(*[self.get_ordering_value(param) for param in value], "pk")


class ProductFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(
        method="filter_search", max_length=100, label="Words in the name, or the exact SKU"
    )
    q = django_filters.CharFilter(method="filter_search", max_length=100, label="Alias of search")
    category = django_filters.CharFilter(
        method="filter_category",
        max_length=120,
        label="Category name, case-insensitive (a path such as 'Home > Kitchen'); sub-categories included",
    )
    min_price = django_filters.NumberFilter(
        field_name="price", lookup_expr="gte", min_value=0, max_value=10**8
    )
    max_price = django_filters.NumberFilter(
        field_name="price", lookup_expr="lte", min_value=0, max_value=10**8
    )
    # A ChoiceFilter, not a BooleanFilter: the latter reads "maybe" as "no filter" without a word.
    in_stock = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")], method="filter_in_stock"
    )
    ordering = StableOrderingFilter(
        fields=(("name", "name"), ("price", "price"), ("units_sold", "popularity")),
        label="name, price or popularity (units sold); '-' in front for descending",
    )

    class Meta:
        model = Product
        fields = ["search", "q", "category", "min_price", "max_price", "in_stock"]

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(sku__iexact=value))

    def filter_category(self, queryset, name, value):
        return queryset.filter(selectors.category_subtree_q(value))

    def filter_in_stock(self, queryset, name, value):
        in_stock = Q(stock__on_hand__gt=F("stock__reserved"))
        return queryset.filter(in_stock) if value == "true" else queryset.exclude(in_stock)


@extend_schema_view(get=extend_schema(responses={200: ProductSerializer(many=True), 304: NOT_MODIFIED}))
class ProductListApi(CacheableReadMixin, generics.ListAPIView):
    """Active products: search, filters, ordering by name, price or popularity, `page_size` up to 100."""

    serializer_class = ProductSerializer
    filterset_class = ProductFilter
    permission_classes = [permissions.AllowAny]

    def get_queryset(self):
        return selectors.product_list().order_by("sku")

    def list(self, request: Request, *args, **kwargs) -> Response:
        # Same parameters, same answer: the key is the sorted query string (page included).
        key = "products?" + "&".join(sorted(f"{k}={v}" for k, v in request.query_params.lists()))
        return Response(cached_answer(key, lambda: super(ProductListApi, self).list(request).data))


@extend_schema_view(get=extend_schema(responses={200: ProductSerializer, 304: NOT_MODIFIED}))
class ProductDetailApi(CacheableReadMixin, generics.RetrieveAPIView):
    """One active product; an inactive one is a 404, like an unknown id."""

    serializer_class = ProductSerializer
    permission_classes = [permissions.AllowAny]

    def get_queryset(self):
        return selectors.product_list()

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        key = f"product:{kwargs['pk']}"
        return Response(cached_answer(key, lambda: super(ProductDetailApi, self).retrieve(request).data))


@extend_schema_view(get=extend_schema(responses={200: CategorySerializer(many=True), 304: NOT_MODIFIED}))
class CategoryListApi(CacheableReadMixin, generics.ListAPIView):
    """Every category with its parent and its number of active products, sub-categories included, by name
    (a short list: not paginated). ``products`` matches what ``/api/products/?category=`` returns."""

    serializer_class = CategorySerializer
    permission_classes = [permissions.AllowAny]
    pagination_class = None
    filter_backends: list = []

    def get_queryset(self):
        return selectors.categories_with_product_counts()


NO_CUSTOMER = "This login has no customer account."


def _customer_or_403(request: Request) -> Customer:
    customer = selectors.customer_for_user(user=request.user)
    if customer is None:
        raise ProblemError(403, "no_customer_account", NO_CUSTOMER)
    return customer


def _not_rated() -> ProblemError:
    return ProblemError(404, "not_found", "You have not rated this product, or it is unavailable.")


class MyRatingListApi(generics.ListAPIView):
    """The signed-in customer's star ratings: list them, or rate a product (create or replace)."""

    serializer_class = RatingSerializer
    permission_classes = [permissions.IsAuthenticated]
    filter_backends: list = []

    def get_queryset(self):
        customer = _customer_or_403(self.request)
        return Rating.objects.filter(customer=customer, product__active=True).order_by("-rated_at", "-id")

    @extend_schema(
        responses={200: RatingSerializer(many=True), **problem_responses({403: NO_CUSTOMER})},
        summary="List my ratings, newest first",
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=RatingCreateSerializer,
        responses={
            200: RatingSerializer,
            201: RatingSerializer,
            **problem_responses({409: "Unknown or unavailable product (not named)", 403: NO_CUSTOMER}),
        },
        summary="Rate a product (201), or replace my rating of it (200)",
    )
    def post(self, request: Request) -> Response:
        customer = _customer_or_403(request)
        serializer = RatingCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            rating, created = services_catalogue.rating_set(
                customer=customer,
                product_id=serializer.validated_data["product"],
                stars=serializer.validated_data["stars"],
            )
        except services_catalogue.ProductNotAvailable:
            errors = {"product": [UNAVAILABLE]}
            raise ProblemError(409, "product_unavailable", UNAVAILABLE, errors=errors) from None
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        return Response(
            RatingSerializer(rating).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class MyRatingDetailApi(APIView):
    """The signed-in customer's rating of one product, addressed by the product's id."""

    permission_classes = [permissions.IsAuthenticated]

    def _rating(self, customer: Customer, product_id: int) -> Rating:
        rating = Rating.objects.filter(customer=customer, product_id=product_id, product__active=True).first()
        if rating is None:
            raise _not_rated()
        return rating

    @extend_schema(
        responses={200: RatingSerializer, **problem_responses({403: NO_CUSTOMER, 404: "Not rated"})},
        summary="My rating of a product",
    )
    def get(self, request: Request, product_id: int) -> Response:
        return Response(RatingSerializer(self._rating(_customer_or_403(request), product_id)).data)

    @extend_schema(
        request=RatingUpdateSerializer,
        responses={
            200: RatingSerializer,
            201: RatingSerializer,
            **problem_responses({403: NO_CUSTOMER, 404: "Unknown or unavailable product"}),
        },
        summary="Set my rating of a product (201 when new)",
    )
    def put(self, request: Request, product_id: int) -> Response:
        customer = _customer_or_403(request)
        serializer = RatingUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            rating, created = services_catalogue.rating_set(
                customer=customer, product_id=product_id, stars=serializer.validated_data["stars"]
            )
        except services_catalogue.ProductNotAvailable:
            raise ProblemError(404, "not_found", UNAVAILABLE) from None
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        return Response(
            RatingSerializer(rating).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(
        responses={204: None, **problem_responses({403: NO_CUSTOMER, 404: "Not rated"})},
        summary="Delete my rating of a product",
    )
    def delete(self, request: Request, product_id: int) -> Response:
        customer = _customer_or_403(request)
        self._rating(customer, product_id)
        services_catalogue.rating_delete(customer=customer, product_id=product_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EventBatchApi(APIView):
    """Record product views and cart additions/removals for the next recommender trainings."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(
        request=EventBatchSerializer,
        responses={
            202: EventBatchResultSerializer,
            **problem_responses({409: "Unknown or unavailable products (by position, not named)"}),
        },
        summary="Record a batch of product views and cart events",
        description="Every caller sends the frontend's `session_id`; a signed-in customer's events are "
        "also recorded as theirs. The batch is stored with one insert, or not at all.",
    )
    def post(self, request: Request) -> Response:
        serializer = EventBatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        customer = selectors.customer_for_user(user=request.user)
        events = [
            services_catalogue.EventRequest(kind=e["type"], product_id=e["product"], quantity=e["quantity"])
            for e in data["events"]
        ]
        try:
            accepted = services_catalogue.product_events_record(
                events=events, customer=customer, session_id=data["session_id"]
            )
        except services_catalogue.ProductNotAvailable as exc:
            errors = {f"events.{index}.product": [UNAVAILABLE] for index in exc.args[0]}
            raise ProblemError(409, "product_unavailable", UNAVAILABLE_DETAIL, errors=errors) from None
        return Response({"accepted": accepted}, status=status.HTTP_202_ACCEPTED)
