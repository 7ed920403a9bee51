"""One token per device, stored as a hash, revocable one by one or all at once; the token cache."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts import services, tokens
from accounts.models import ApiToken, UserSession
from tests.api.conftest import make_user

pytestmark = pytest.mark.django_db
PASSWORD = "pw-ann-Secret-9"


@pytest.fixture
def ann(db):
    return make_user("ann")


def sign_in(name: str = "") -> tuple[str, int]:
    body = {"username": "ann", "password": PASSWORD, "name": name}
    response = APIClient().post("/api/auth/token/", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()["token"], response.json()["token_id"]


def client_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def token_queries(context) -> int:
    return sum("accounts_apitoken" in query["sql"] for query in context.captured_queries)


def test_each_sign_in_gets_its_own_token_and_only_its_hash_is_stored(ann):
    phone, phone_id = sign_in("phone")
    laptop, laptop_id = sign_in("laptop")
    assert phone != laptop and len(phone) == 40
    stored = ApiToken.objects.get(pk=phone_id)
    assert stored.key_hash == hashlib.sha256(phone.encode()).hexdigest()
    assert not ApiToken.objects.filter(key_hash__in=[phone, laptop]).exists()
    listed = client_for(phone).get("/api/auth/tokens/").json()
    assert [(t["id"], t["name"], t["current"]) for t in listed] == [
        (laptop_id, "laptop", False),
        (phone_id, "phone", True),
    ]
    assert "token" not in listed[0] and "key_hash" not in listed[0]


def test_revoking_one_token_signs_out_that_device_only(ann):
    phone, phone_id = sign_in("phone")
    laptop, _ = sign_in("laptop")
    assert client_for(laptop).delete(f"/api/auth/tokens/{phone_id}/").status_code == 204
    refused = client_for(phone).get("/api/auth/me/")
    assert refused.status_code == 401 and refused.json()["code"] == "authentication_failed"
    assert client_for(laptop).get("/api/auth/me/").status_code == 200
    assert client_for(laptop).post("/api/auth/token/revoke/").status_code == 204
    assert client_for(laptop).get("/api/auth/me/").status_code == 401


def test_another_users_token_is_a_404_and_stays_valid(ann):
    _, ann_token_id = sign_in()
    other = make_user("otto")
    _, otto_key = services.token_create(user=other)
    assert client_for(otto_key).delete(f"/api/auth/tokens/{ann_token_id}/").status_code == 404
    assert ApiToken.objects.filter(pk=ann_token_id).exists()


def test_sign_out_everywhere_revokes_every_token_and_ends_every_session(ann):
    phone, _ = sign_in("phone")
    laptop, _ = sign_in("laptop")
    browser = APIClient(enforce_csrf_checks=True)
    csrf = browser.get("/api/auth/session/").json()["csrf_token"]
    credentials = {"username": "ann", "password": PASSWORD}
    assert (
        browser.post("/api/auth/session/", credentials, format="json", HTTP_X_CSRFTOKEN=csrf).status_code
        == 200
    )
    assert browser.get("/api/auth/me/").status_code == 200
    assert UserSession.objects.filter(user=ann).count() == 1

    assert client_for(phone).post("/api/auth/sign-out-everywhere/").status_code == 204
    for key in (phone, laptop):
        assert client_for(key).get("/api/auth/me/").status_code == 401
    assert browser.get("/api/auth/me/").status_code == 401
    assert (
        not ApiToken.objects.filter(user=ann).exists() and not UserSession.objects.filter(user=ann).exists()
    )
    assert not Session.objects.exists()


def test_a_csrf_failure_under_a_session_is_csrf_failed_not_permission_denied(ann):
    browser = APIClient(enforce_csrf_checks=True)
    csrf = browser.get("/api/auth/session/").json()["csrf_token"]
    credentials = {"username": "ann", "password": PASSWORD}
    browser.post("/api/auth/session/", credentials, format="json", HTTP_X_CSRFTOKEN=csrf)
    response = browser.patch("/api/me/", {"first_name": "Ann"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "csrf_failed"
    assert "X-CSRFToken" in response.json()["detail"]
    csrf = browser.cookies["csrftoken"].value
    assert (
        browser.patch("/api/me/", {"first_name": "Ann"}, format="json", HTTP_X_CSRFTOKEN=csrf).status_code
        == 200
    )


def test_reads_find_the_token_in_the_cache_and_a_revocation_overwrites_it_at_once(
    ann, settings, django_capture_on_commit_callbacks
):
    settings.API_TOKEN_CACHE_SECONDS = 300
    key, token_id = sign_in()
    client = client_for(key)
    with CaptureQueriesContext(connection) as first:
        assert client.get("/api/products/").status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert client.get("/api/products/").status_code == 200
    assert token_queries(first) == 1 and token_queries(second) == 0
    assert cache.get(tokens.cache_key(tokens.key_hash(key)))[0] == token_id

    with django_capture_on_commit_callbacks(execute=True):  # as when the revoking request commits
        services.token_revoke(token=ApiToken.objects.get(pk=token_id))
    assert cache.get(tokens.cache_key(tokens.key_hash(key))) == tokens.REFUSED
    with CaptureQueriesContext(connection) as after:
        assert client.get("/api/products/").status_code == 401
    assert token_queries(after) == 0  # refused from the cache itself


def test_a_lookup_racing_a_revocation_cannot_put_the_key_back(
    ann, settings, django_capture_on_commit_callbacks
):
    settings.API_TOKEN_CACHE_SECONDS = 300
    key, token_id = sign_in()
    hashed = tokens.key_hash(key)
    stale = tokens.cache_entry(token_id=token_id, user=ann)  # read from the database before the revoke
    with django_capture_on_commit_callbacks(execute=True):
        services.token_revoke(token=ApiToken.objects.get(pk=token_id))
    tokens.cache_fill(hashed, stale)  # ...and written after it
    assert client_for(key).get("/api/auth/me/").status_code == 401


@pytest.mark.parametrize("change", ["deactivate", "demote", "delete"])
def test_changing_or_removing_the_user_updates_their_cached_tokens_at_once(
    ann, settings, change, django_capture_on_commit_callbacks
):
    settings.API_TOKEN_CACHE_SECONDS = 300
    ann.is_staff = True
    ann.save()
    key, _ = sign_in()
    client = client_for(key)
    assert client.get("/api/auth/me/").json()["is_staff"] is True  # now cached as staff
    with django_capture_on_commit_callbacks(execute=True):  # as the admin's save commits
        if change == "deactivate":
            ann.is_active = False
            ann.save()
        elif change == "demote":
            ann.is_staff = False
            ann.save()
        else:
            get_user_model().objects.filter(pk=ann.pk).delete()
    response = client.get("/api/auth/me/")
    if change == "demote":
        assert response.status_code == 200 and response.json()["is_staff"] is False
    else:
        assert response.status_code == 401


def test_a_password_change_keeps_this_device_and_signs_out_the_others(ann):
    phone, _ = sign_in("phone")
    laptop, _ = sign_in("laptop")
    body = {"current_password": PASSWORD, "new_password": "a-Fresh-long-pass-77"}
    wrong = client_for(phone).post("/api/me/password/", {**body, "current_password": "nope"}, format="json")
    assert wrong.status_code == 400 and wrong.json()["code"] == "invalid_credentials"
    weak = client_for(phone).post("/api/me/password/", {**body, "new_password": "12345678901"}, format="json")
    assert weak.status_code == 400 and "new_password" in weak.json()["errors"]
    assert client_for(phone).post("/api/me/password/", body, format="json").status_code == 204
    assert client_for(phone).get("/api/auth/me/").status_code == 200
    assert client_for(laptop).get("/api/auth/me/").status_code == 401
    ann.refresh_from_db()
    assert ann.check_password("a-Fresh-long-pass-77")


def test_drf_authtoken_keys_are_migrated_as_hashes_and_keep_working(ann):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("accounts.migrations.0002_tokens_from_drf_authtoken")
    key = "0123456789abcdef0123456789abcdef01234567"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp with time zone "
            "NOT NULL, user_id integer NOT NULL)"
            if connection.vendor == "postgresql"
            else "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created datetime NOT NULL, "
            "user_id integer NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
            [key, "2024-05-01 10:00:00+00:00", ann.pk],
        )
    migration.forwards(apps, SimpleNamespace(connection=connection))
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0  # no plaintext key left behind
        cursor.execute("DROP TABLE authtoken_token")
    migrated = ApiToken.objects.get(user=ann)
    assert migrated.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert client_for(key).get("/api/auth/me/").json()["username"] == "ann"
