"""Sign-in by token and by session (with CSRF), sign-up, who-am-I, revoke, sign-in throttles."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from accounts.models import ApiToken
from shop.models import Customer
from tests.shop.factories import make_product

pytestmark = pytest.mark.django_db


def test_token_sign_in_me_and_revoke(alice):
    response = APIClient().post(
        "/api/auth/token/", {"username": "alice", "password": "pw-alice-Secret-9"}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert response.json()["user"]["customer"]["id"] == alice.customer.pk
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = client.get("/api/auth/me/").json()
    assert (me["username"], me["is_staff"], me["customer"]["external_id"]) == (
        "alice",
        False,
        alice.customer.external_id,
    )
    assert client.post("/api/auth/token/revoke/").status_code == 204
    after = client.get("/api/auth/me/")
    assert after.status_code == 401 and after.json()["code"] == "authentication_failed"


@pytest.mark.parametrize(
    "credentials", [{"username": "alice", "password": "wrong"}, {"username": "nobody", "password": "x"}]
)
def test_wrong_credentials_get_one_answer_that_enumerates_nothing(alice, credentials):
    response = APIClient().post("/api/auth/token/", credentials, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_credentials"
    assert response.json()["detail"] == "Unable to sign in with these credentials."
    assert not ApiToken.objects.exists()


def test_a_stale_token_header_does_not_block_signing_in_again(alice):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token revoked-long-ago")
    response = client.post(
        "/api/auth/token/", {"username": "alice", "password": "pw-alice-Secret-9"}, format="json"
    )
    assert response.status_code == 200


def test_session_sign_in_needs_csrf_and_then_unsafe_calls_need_it_too(alice):
    client = APIClient(enforce_csrf_checks=True)
    credentials = {"username": "alice", "password": "pw-alice-Secret-9"}
    refused = client.post("/api/auth/session/", credentials, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"

    csrf = client.get("/api/auth/session/").json()["csrf_token"]
    signed_in = client.post("/api/auth/session/", credentials, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert signed_in.status_code == 200 and signed_in.json()["username"] == "alice"
    assert client.get("/api/auth/me/").json()["username"] == "alice"

    csrf = client.cookies["csrftoken"].value  # rotated at sign-in
    product = make_product(stock=2)
    order = {"lines": [{"product": product.pk, "quantity": 1}]}
    assert client.post("/api/orders/", order, format="json").status_code == 403
    assert client.post("/api/orders/", order, format="json", HTTP_X_CSRFTOKEN=csrf).status_code == 201

    assert client.delete("/api/auth/session/", HTTP_X_CSRFTOKEN=csrf).status_code == 204
    assert client.get("/api/auth/me/").status_code == 401


def test_sign_up_creates_a_user_and_customer_and_returns_a_working_token():
    response = APIClient().post(
        "/api/auth/signup/",
        {"username": "dora", "password": "a-Long-unusual-pass-42", "email": "dora@example.com"},
        format="json",
    )
    assert response.status_code == 201, response.content
    customer = Customer.objects.get(user__username="dora")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get("/api/auth/me/").json()["customer"]["id"] == customer.pk


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"username": "erin", "password": "password"}, "password"),  # common
        ({"username": "erin", "password": "12345678901"}, "password"),  # numeric
        ({"username": "erin", "password": "short"}, "password"),
        ({"username": "erin", "password": "a-Long-unusual-pass-42", "email": "not-an-email"}, "email"),
        ({"username": "bad name!", "password": "a-Long-unusual-pass-42"}, "username"),
        ({"username": "x" * 151, "password": "a-Long-unusual-pass-42"}, "username"),
        ({"username": "nul\x00", "password": "a-Long-unusual-pass-42"}, "username"),
    ],
)
def test_sign_up_refuses_weak_passwords_and_bad_or_taken_names(alice, payload, field):
    before = get_user_model().objects.count()
    response = APIClient().post("/api/auth/signup/", payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert get_user_model().objects.count() == before


def test_a_taken_username_is_a_409_whatever_its_case(alice):
    response = APIClient().post(
        "/api/auth/signup/", {"username": "ALICE", "password": "a-Long-unusual-pass-42"}, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == "username_taken"
    assert get_user_model().objects.count() == 1


def test_sign_in_is_throttled_per_ip(alice, settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "signin_ip": "3/min"}
    client = APIClient()
    codes = [
        client.post("/api/auth/token/", {"username": f"u{i}", "password": "x"}, format="json").status_code
        for i in range(4)
    ]
    assert codes == [400, 400, 400, 429]
    other_ip = client.post(
        "/api/auth/token/",
        {"username": "alice", "password": "pw-alice-Secret-9"},
        format="json",
        REMOTE_ADDR="10.1.1.1",
    )
    assert other_ip.status_code == 200


def test_sign_in_is_throttled_per_username_across_ips(alice, settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "signin_username": "2/min"}
    client = APIClient()
    payload = {"username": "Alice", "password": "guess"}
    codes = [
        client.post("/api/auth/token/", payload, format="json", REMOTE_ADDR=f"10.0.0.{i}").status_code
        for i in range(3)
    ]
    assert codes == [400, 400, 429]
    # Even the right password waits: the name is locked for the window, not the guesser.
    right = {"username": "alice", "password": "pw-alice-Secret-9"}
    assert client.post("/api/auth/token/", right, format="json", REMOTE_ADDR="10.9.9.9").status_code == 429
    assert client.post("/api/auth/session/", right, format="json", REMOTE_ADDR="10.9.9.8").status_code == 429


def test_fetching_the_csrf_token_is_not_a_sign_in_attempt(alice, settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "signin_ip": "2/min"}
    client = APIClient()
    assert [client.get("/api/auth/session/").status_code for _ in range(5)] == [200] * 5
    right = {"username": "alice", "password": "pw-alice-Secret-9"}
    assert client.post("/api/auth/session/", right, format="json").status_code == 200
