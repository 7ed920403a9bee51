from django.urls import path

from . import api

urlpatterns = [
    path("me/recommendations/", api.MyRecommendationsApi.as_view(), name="my-recommendations"),
    path(
        "customers/<id:pk>/recommendations/",
        api.CustomerRecommendationsApi.as_view(),
        name="customer-recommendations",
    ),
    path("recommendations/basket/", api.BasketCompletionApi.as_view(), name="basket-completion"),
    path("products/<id:pk>/similar/", api.SimilarProductsApi.as_view(), name="product-similar"),
]
