import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from recommender import services
from shop.models import Customer


@pytest.fixture
def trained(shop):
    services.recommender_train()
    return shop


def _client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def test_me_recommendations_serve_the_logged_in_users_customer_list(trained):
    user = get_user_model().objects.create_user("c0-user", password="pw-123456789")
    Customer.objects.filter(pk=trained.customers["c0"].pk).update(user=user)
    response = _client(user).get("/api/me/recommendations/", {"mode": "new", "limit": 7})
    assert response.status_code == 200
    body = response.json()
    assert len(body) == 7
    assert set(body[0]) == {"product", "score", "reason", "reason_code"}
    catalogue = _client().get(f"/api/products/{body[0]['product']['id']}/").json()
    assert body[0]["product"] == catalogue  # the product list's own representation, with "available"
    scores = [item["score"] for item in body]
    assert scores[0] == 1.0 and scores == sorted(scores, reverse=True) and min(scores) >= 0
    bought = set(trained.customers["c0"].orders.values_list("lines__product_id", flat=True))
    assert not ({item["product"]["id"] for item in body} & bought)


def test_me_recommendations_require_login_and_validate_parameters(trained):
    assert _client().get("/api/me/recommendations/").status_code in (401, 403)
    user = get_user_model().objects.create_user("someone", password="pw-123456789")
    assert _client(user).get("/api/me/recommendations/", {"mode": "bogus"}).status_code == 400
    assert _client(user).get("/api/me/recommendations/", {"limit": 0}).status_code == 400
    # A user with no customer record gets the cold-start list, not an error.
    assert len(_client(user).get("/api/me/recommendations/", {"limit": 5}).json()) == 5


def test_customer_recommendations_are_staff_only(trained):
    customer = trained.customers["c1"]
    url = f"/api/customers/{customer.pk}/recommendations/"
    plain = get_user_model().objects.create_user("plain", password="pw-123456789")
    staff = get_user_model().objects.create_user("staff", password="pw-123456789", is_staff=True)
    assert _client().get(url).status_code in (401, 403)
    assert _client(plain).get(url).status_code == 403
    response = _client(staff).get(url, {"limit": 12})
    assert response.status_code == 200 and len(response.json()) == 12
    assert _client(staff).get("/api/customers/999999/recommendations/").status_code == 404


def test_similar_products_endpoint_is_public_and_excludes_the_product(trained):
    product = trained.products["p005"]
    response = _client().get(f"/api/products/{product.pk}/similar/", {"limit": 5})
    assert response.status_code == 200
    ids = [item["product"]["id"] for item in response.json()]
    scores = [item["score"] for item in response.json()]
    assert scores[0] == 1.0 and scores == sorted(scores, reverse=True) and min(scores) >= 0
    assert len(ids) == 5 and product.pk not in ids


def test_openapi_schema_documents_the_recommendation_endpoints(db):
    response = _client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/me/recommendations/",
        "/api/customers/{id}/recommendations/",
        "/api/products/{id}/similar/",
    ):
        assert path in paths
    parameters = {p["name"] for p in paths["/api/me/recommendations/"]["get"]["parameters"]}
    assert {"mode", "limit"} <= parameters
