"""Sign-up with email verification, password reset (verified emails only), account edits."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiToken

pytestmark = pytest.mark.django_db
LINK = re.compile(r"uid=(?P<uid>[^&\s]+)&token=(?P<token>\S+)")


def link_in(message) -> dict:
    return LINK.search(message.body).groupdict()


def sign_up(capture, email: str = "dora@example.com") -> APIClient:
    body = {"username": "dora", "password": "a-Long-unusual-pass-42", "email": email}
    with capture(execute=True):
        response = APIClient().post("/api/auth/signup/", body, format="json")
    assert response.status_code == 201, response.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client


def test_sign_up_mails_a_verification_link_that_verifies_the_email_once(
    mailoutbox, django_capture_on_commit_callbacks, settings
):
    settings.ACCOUNT_EMAIL_VERIFY_URL = "https://shop.example.com/verify?uid={uid}&token={token}"
    client = sign_up(django_capture_on_commit_callbacks)
    assert client.get("/api/me/").json()["email_verified"] is False
    (message,) = mailoutbox
    assert message.to == ["dora@example.com"] and "https://shop.example.com/verify?uid=" in message.body
    link = link_in(message)
    assert APIClient().post("/api/auth/email/verify/", link, format="json").status_code == 204
    assert client.get("/api/me/").json()["email_verified"] is True
    again = APIClient().post("/api/auth/email/verify/", link, format="json")
    assert again.status_code == 400 and again.json()["code"] == "invalid_link"


@pytest.mark.parametrize("tamper", ["token", "uid"])
def test_a_tampered_verification_link_is_refused(mailoutbox, django_capture_on_commit_callbacks, tamper):
    client = sign_up(django_capture_on_commit_callbacks)
    link = link_in(mailoutbox[0])
    link[tamper] = "Mg" if tamper == "uid" else link["token"][:-2] + "xx"
    response = APIClient().post("/api/auth/email/verify/", link, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_link"
    assert client.get("/api/me/").json()["email_verified"] is False


def test_password_reset_needs_a_verified_email_answers_the_same_and_signs_out_everywhere(
    mailoutbox, django_capture_on_commit_callbacks
):
    client = sign_up(django_capture_on_commit_callbacks)
    reset = {"email": "DORA@example.com"}
    with django_capture_on_commit_callbacks(execute=True):
        unverified = APIClient().post("/api/auth/password/reset/", reset, format="json")
        unknown = APIClient().post("/api/auth/password/reset/", {"email": "x@example.com"}, format="json")
    assert unverified.status_code == unknown.status_code == 202
    assert unverified.json() == unknown.json()
    assert len(mailoutbox) == 1  # only the verification link: an unverified address gets no reset

    APIClient().post("/api/auth/email/verify/", link_in(mailoutbox[0]), format="json")
    with django_capture_on_commit_callbacks(execute=True):
        assert APIClient().post("/api/auth/password/reset/", reset, format="json").status_code == 202
    assert len(mailoutbox) == 2 and mailoutbox[1].to == ["dora@example.com"]
    link = link_in(mailoutbox[1])

    weak = APIClient().post(
        "/api/auth/password/reset/confirm/", {**link, "new_password": "password"}, format="json"
    )
    assert weak.status_code == 400 and "new_password" in weak.json()["errors"]
    confirm = {**link, "new_password": "a-Brand-new-pass-31"}
    assert APIClient().post("/api/auth/password/reset/confirm/", confirm, format="json").status_code == 204
    assert client.get("/api/me/").status_code == 401  # every token was revoked
    assert not ApiToken.objects.exists()
    reused = APIClient().post("/api/auth/password/reset/confirm/", confirm, format="json")
    assert reused.status_code == 400 and reused.json()["code"] == "invalid_link"  # single use
    signed_in = APIClient().post(
        "/api/auth/token/", {"username": "dora", "password": "a-Brand-new-pass-31"}, format="json"
    )
    assert signed_in.status_code == 200


def test_editing_the_email_needs_a_new_verification(mailoutbox, django_capture_on_commit_callbacks):
    client = sign_up(django_capture_on_commit_callbacks)
    APIClient().post("/api/auth/email/verify/", link_in(mailoutbox[0]), format="json")
    edit = {
        "email": "dora@new.example.com",
        "first_name": "Dora",
        "last_name": "Explorer",
        "country": "Spain",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.patch("/api/me/", edit, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["email"], body["email_verified"], body["first_name"], body["last_name"]) == (
        "dora@new.example.com",
        False,
        "Dora",
        "Explorer",
    )
    assert body["customer"]["country"] == "Spain"
    assert mailoutbox[-1].to == ["dora@new.example.com"]
    APIClient().post("/api/auth/email/verify/", link_in(mailoutbox[-1]), format="json")
    assert client.get("/api/me/").json()["email_verified"] is True
    invalid = client.patch("/api/me/", {"email": "not-an-email"}, format="json")
    assert invalid.status_code == 400 and "email" in invalid.json()["errors"]


def test_resend_mails_only_while_there_is_something_to_verify(mailoutbox, django_capture_on_commit_callbacks):
    client = sign_up(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/api/auth/email/verify/resend/").status_code == 202
    assert len(mailoutbox) == 2
    APIClient().post("/api/auth/email/verify/", link_in(mailoutbox[-1]), format="json")
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/api/auth/email/verify/resend/").json()["detail"] == "Nothing to verify."
    assert len(mailoutbox) == 2
