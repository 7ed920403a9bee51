from django.urls import path

from . import api

urlpatterns = [
    path("me/recommendations/", api.MyRecommendationsApi.as_view(), name="my-recommendations"),
    path(
        "customers/<int:pk>/recommendations/",
        api.CustomerRecommendationsApi.as_view(),
        name="customer-recommendations",
    ),
    path("recommendations/basket/", api.BasketCompletionApi.as_view(), name="basket-completion"),
    path("products/<int:pk>/similar/", api.SimilarProductsApi.as_view(), name="product-similar"),
]
