"""A database that cannot be reached answers 503 with Retry-After (problem JSON under /api/), never 500."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import OperationalError, connections
from django.http import HttpResponse
from django.test import Client

from config.outage import database_unavailable

ROOT = Path(__file__).resolve().parents[2]
SESSION_KEY = "k" * 32  # a well-formed session key: the admin must look it up in the database


@pytest.fixture
def database_refuses_connections(django_db_blocker, monkeypatch):
    """Every new connection fails in the driver itself, as with a server that is down."""
    database = connections["default"]
    with django_db_blocker.unblock():
        database.close()

        def refuse(*args, **kwargs):
            raise database.Database.OperationalError("connection refused (the test closed the database)")

        monkeypatch.setattr(type(database), "get_new_connection", refuse)
        yield
        monkeypatch.undo()
        database.close()


def assert_api_outage(response) -> None:
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert int(response["Retry-After"]) > 0
    body = response.json()
    assert body["code"] == "service_unavailable" and body["status"] == 503


def test_an_api_read_while_the_database_is_down_is_a_503_problem_with_retry_after(
    database_refuses_connections,
):
    response = Client().get("/api/products/")

    assert_api_outage(response)


def test_an_api_write_while_the_database_is_down_is_a_503_problem_not_a_server_error(
    database_refuses_connections,
):
    response = Client().post(
        "/api/auth/token/", {"username": "ann", "password": "x" * 12}, content_type="application/json"
    )

    assert_api_outage(response)


def test_an_admin_page_while_the_database_is_down_is_a_plain_503_page_with_retry_after(
    database_refuses_connections,
):
    client = Client()
    client.cookies["sessionid"] = SESSION_KEY

    response = client.get("/admin/")

    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert int(response["Retry-After"]) > 0
    assert b"try again" in response.content


def test_the_liveness_probe_still_answers_while_the_database_is_down(database_refuses_connections):
    assert Client().get("/api/health/").status_code == 200


class OutageInMiddleware:
    """Fails after the view, as a session save would when the database went away mid-request."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request) -> HttpResponse:
        self.get_response(request)
        raise OperationalError("server closed the connection unexpectedly")


@pytest.mark.parametrize("path", ["/api/health/", "/admin/login/"])
def test_an_outage_raised_outside_any_view_is_still_a_503(settings, path):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.config.test_database_outage.OutageInMiddleware"]

    response = Client(raise_request_exception=False).get(path)

    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    if path.startswith("/api/"):
        assert_api_outage(response)


def test_a_bug_is_still_a_500_and_a_sqlite_schema_error_is_not_mistaken_for_an_outage():
    assert not database_unavailable(RuntimeError("a bug"))
    assert not database_unavailable(OperationalError("no such table: shop_product"))
    assert database_unavailable(OperationalError("database is locked"))
    assert database_unavailable(OperationalError('connection to server at "127.0.0.1", port 1 failed'))


@pytest.mark.parametrize(
    "database_url",
    [
        pytest.param("postgres://postgres@127.0.0.1:1/shop", id="postgresql-closed-port"),
        pytest.param("sqlite:////nonexistent-directory/shop.sqlite3", id="sqlite-unopenable-file"),
    ],
)
def test_a_real_unreachable_database_answers_503_through_the_wsgi_app(database_url):
    """The real drivers against a real unreachable database: a closed PostgreSQL port, an unopenable file."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env = {
        **keep,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DEBUG": "0",
        "DATABASE_URL": database_url,
    }
    request = {
        "paths": ["/api/products/", "/admin/", "/api/health/"],
        "headers": {"Cookie": f"sessionid={SESSION_KEY}"},
    }
    probe = subprocess.run(
        [sys.executable, "-m", "tests.config.wsgi_probe", json.dumps(request)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    answers = json.loads(probe.stdout.strip().splitlines()[-1])

    api = answers["/api/products/"]
    assert api["status"] == 503, api["body"][:500]
    assert api["headers"]["content-type"] == "application/problem+json"
    assert json.loads(api["body"])["code"] == "service_unavailable"
    assert int(api["headers"]["retry-after"]) > 0
    admin = answers["/admin/"]
    assert admin["status"] == 503 and int(admin["headers"]["retry-after"]) > 0
    assert answers["/api/health/"]["status"] == 200
