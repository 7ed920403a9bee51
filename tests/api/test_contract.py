"""One error shape everywhere under /api/, authentication defaults, throttling and pagination."""

from __future__ import annotations

import base64

import pytest
from rest_framework.test import APIClient

from tests.shop.factories import make_product

from .conftest import token_client

pytestmark = pytest.mark.django_db

PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "errors"}


def assert_problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status and body["type"].endswith(body["code"])
    if code:
        assert body["code"] == code
    return body


def test_unknown_url_under_api_is_a_json_404_not_html(client):
    assert_problem(client.get("/api/no-such-thing/"), 404, "not_found")
    assert_problem(client.get("/api/products/not-a-number/"), 404, "not_found")


def test_unknown_url_outside_api_keeps_django_behaviour(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "json" not in response["Content-Type"]


def test_method_not_allowed_is_a_problem_with_allow(client):
    body = assert_problem(client.delete("/api/products/"), 405, "method_not_allowed")
    assert "DELETE" in body["detail"]


@pytest.mark.urls("tests.api.boom_urls")
def test_plain_django_405_under_api_is_a_problem_with_allow(client):
    response = client.get("/api/test-plain-post/")
    assert_problem(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"


@pytest.mark.urls("tests.api.boom_urls")
@pytest.mark.parametrize("url", ["/api/test-boom/", "/api/test-boom-drf/"])
def test_a_bug_is_a_json_500_without_internals(client, url):
    body = assert_problem(client.get(url), 500, "server_error")
    assert "a bug" not in str(body)


def test_oversized_body_is_413_and_writes_nothing(alice, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    product = make_product(stock=5)
    lines = [{"product": product.pk, "quantity": 1}] * 100
    response = token_client(alice).post("/api/orders/", {"lines": lines}, format="json")
    assert_problem(response, 413, "request_too_large")
    assert alice.customer.orders.count() == 0


def test_validation_errors_name_each_field_path(alice):
    response = token_client(alice).post("/api/orders/", {"lines": [{"quantity": 0}]}, format="json")
    body = assert_problem(response, 400, "invalid")
    assert set(body["errors"]) == {"lines.0.product", "lines.0.quantity"}


def test_malformed_json_and_wrong_content_type_are_problems(alice):
    client = token_client(alice)
    assert_problem(
        client.post("/api/orders/", "{not json", content_type="application/json"), 400, "parse_error"
    )
    assert_problem(
        client.post("/api/orders/", "lines=1", content_type="application/x-www-form-urlencoded"),
        415,
        "unsupported_media_type",
    )


def test_anonymous_caller_of_a_protected_endpoint_gets_401_with_a_challenge(client):
    response = client.post("/api/orders/", {}, content_type="application/json")
    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Token")


def test_wrong_basic_credentials_do_not_break_the_public_catalogue(client):
    make_product(stock=1)
    header = "Basic " + base64.b64encode(b"nobody:wrong").decode()
    response = client.get("/api/products/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 200
    assert response.json()["count"] == 1


@pytest.mark.parametrize("header", ["Token nope", "Bearer nope", "Token a b", "Token"])
def test_an_invalid_token_is_a_401_even_on_the_public_catalogue(client, header):
    response = client.get("/api/products/", HTTP_AUTHORIZATION=header)
    assert_problem(response, 401, "authentication_failed")
    assert response["WWW-Authenticate"]


def test_a_valid_token_works_with_either_keyword(alice):
    from accounts.services import token_create

    _, key = token_create(user=alice)
    for keyword in ("Token", "Bearer"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"{keyword} {key}")
        assert client.get("/api/auth/me/").json()["username"] == "alice"


def test_page_size_is_honoured_capped_and_validated(client, settings):
    settings.API_MAX_PAGE_SIZE = 3
    for _ in range(5):
        make_product(stock=1)
    assert len(client.get("/api/products/", {"page_size": 2}).json()["results"]) == 2
    assert len(client.get("/api/products/", {"page_size": 500}).json()["results"]) == 3
    for bad in ("0", "-1", "abc"):
        body = assert_problem(client.get("/api/products/", {"page_size": bad}), 400, "invalid")
        assert set(body["errors"]) == {"page_size"}
    assert_problem(client.get("/api/products/", {"page": 99}), 404, "not_found")


def test_anonymous_traffic_is_throttled_per_ip_with_retry_after(client, settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "anon": "3/min"}
    assert [client.get("/api/products/").status_code for _ in range(3)] == [200, 200, 200]
    response = client.get("/api/products/")
    assert_problem(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    other_ip = client.get("/api/products/", REMOTE_ADDR="10.0.0.9")
    assert other_ip.status_code == 200


def test_customers_are_throttled_per_user_not_per_ip(alice, bob, settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "customer": "2/min"}
    client = token_client(alice)
    assert [client.get("/api/auth/me/").status_code for _ in range(3)] == [200, 200, 429]
    assert token_client(bob).get("/api/auth/me/").status_code == 200


def test_every_error_status_in_the_schema_has_the_problem_body(client):
    paths = client.get("/api/schema/", {"format": "json"}).json()["paths"]
    checked = 0
    for path, operations in paths.items():
        for method, operation in operations.items():
            statuses = operation["responses"]
            assert "429" in statuses, (method, path)
            for code, response in statuses.items():
                if code >= "400":
                    schema = response["content"]["application/problem+json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Problem"}, (method, path, code)
                    checked += 1
    assert checked > 50
    assert {"403", "404"} <= set(paths["/api/products/{id}/forecast/"]["get"]["responses"])
