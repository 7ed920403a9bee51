"""Staff sign-in (the admin login) and API sign-in lock out after repeated failures (django-axes),
per username and per address, and tell the locked-out user when to retry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db
RIGHT = "Staff-password-long-42"


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("stella", password=RIGHT, is_staff=True, is_superuser=True)


def admin_login(client: Client, password: str, username: str = "stella", ip: str = "10.0.0.1"):
    return client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def lapse_the_lock() -> None:
    # As if the cool-off had passed: the attempts are dated before it.
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= timedelta(hours=1)
        attempt.save(update_fields=["attempt_time"])


def test_ten_wrong_staff_passwords_lock_that_login_until_the_lock_lapses(staff, settings, caplog):
    assert settings.AXES_FAILURE_LIMIT == 10
    client = Client()
    for attempt in range(9):
        assert admin_login(client, f"wrong-{attempt}").status_code == 200  # the form again, with an error
    locked = admin_login(client, "wrong-9")  # the tenth
    assert locked.status_code == 429
    # The right password, even from another address, is refused while the lock holds: the username is locked.
    refused = admin_login(Client(), RIGHT, ip="10.9.9.9")
    assert refused.status_code == 429 and "_auth_user_id" not in refused.client.session
    assert int(refused["Retry-After"]) == int(settings.AXES_COOLOFF_TIME.total_seconds())
    assert "Try again in 15 minutes" in refused.content.decode()
    assert any(
        "Locking out" in record.getMessage() and "stella" in record.getMessage() for record in caplog.records
    )

    lapse_the_lock()
    allowed = admin_login(Client(), RIGHT, ip="10.9.9.9")
    assert allowed.status_code == 302 and allowed.url == "/admin/"


def test_ten_failures_from_one_address_lock_that_address_for_every_username(staff, settings):
    get_user_model().objects.create_user("other", password=RIGHT, is_staff=True)
    for attempt in range(10):
        admin_login(Client(), "wrong", username=f"guess-{attempt}", ip="10.0.0.7")
    assert admin_login(Client(), RIGHT, username="other", ip="10.0.0.7").status_code == 429
    assert admin_login(Client(), RIGHT, username="other", ip="10.0.0.8").status_code == 302


def test_the_api_sign_in_is_locked_the_same_way_and_says_when_to_retry(staff, settings):
    client = APIClient()
    for attempt in range(10):
        client.post("/api/auth/token/", {"username": "stella", "password": f"no-{attempt}"}, format="json")
    response = client.post("/api/auth/token/", {"username": "stella", "password": RIGHT}, format="json")
    assert response.status_code == 429 and response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "locked_out" and "Try again in 15 minutes" in body["detail"]
    assert int(response["Retry-After"]) == 900


def test_a_throttled_sign_in_is_told_when_to_retry(staff, settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "signin_username": "2/min"}
    client = APIClient()
    for _ in range(2):
        client.post("/api/auth/token/", {"username": "stella", "password": "no"}, format="json")
    response = client.post("/api/auth/token/", {"username": "stella", "password": "no"}, format="json")
    assert response.status_code == 429 and response.json()["code"] == "throttled"
    wait = int(response["Retry-After"])
    assert 1 <= wait <= 60 and f"{wait} second" in response.json()["detail"]
