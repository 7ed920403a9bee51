"""Schemathesis fuzzes every operation of the OpenAPI document, as anonymous, customer and staff.

The schema is served by the app itself (``/api/schema/``) and every request goes through the WSGI
app in-process, so this is the contract the frontend gets: 0 server errors, 0 schema violations,
0 undocumented statuses or content types, with every built-in check on (`--checks all`), in the
positive and the negative generation modes (Schemathesis' default: both). Examples are bounded
(``FUZZ_MAX_EXAMPLES``) so the whole module stays within a couple of minutes on the CI box.
"""

from __future__ import annotations

import re
import uuid

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from accounts.services import token_create
from tests.shop.factories import make_product

from .conftest import make_user

FUZZ_MAX_EXAMPLES = 8
IDEMPOTENCY_KEY = re.compile(r"[ -~]{1,255}")

# Operations where a schema-valid request may rightly be refused with 400, because the rule cannot be
# written in OpenAPI. Only the "valid data is accepted" check is skipped for them; every other check
# (no 5xx, documented status, body and content type...) still runs, and tests/api/ covers the rules.
POSITIVE_DATA_EXEMPT = {
    ("POST", "/api/auth/signup/"): "Django's password validators (common, numeric, like the username)",
    ("POST", "/api/auth/token/"): "wrong credentials are well-formed but refused",
    ("POST", "/api/auth/session/"): "wrong credentials are well-formed but refused",
    ("POST", "/api/auth/email/verify/"): "a made-up or expired link is well-formed but refused",
    ("POST", "/api/auth/password/reset/confirm/"): "a made-up link, or Django's password validators",
    ("POST", "/api/me/password/"): "a wrong current password, or Django's password validators",
    ("GET", "/api/reorders/"): "?supplier= must name an existing supplier",
    ("POST", "/api/payments/webhook/"): "only the payment provider can sign a valid event (Shop-Signature)",
}
NEGATIVE_DATA_EXEMPT: dict[tuple[str, str], str] = {}

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())

# `--checks all`: every check Schemathesis registers, named explicitly so none is off by default.
# max_response_time is not among them (it needs a time limit, and tests carry no wall-clock budget).
load_all_checks()
ALL_CHECKS = list(CHECKS.get_all())


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    # The raw WSGI handler closes "old" connections around each request; inside the test's transaction
    # that would close it. Django's test client disconnects the same receivers.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _payment_webhook_secret(settings):
    # Without its secret the webhook answers 503 by design; with one, an unsigned request is a 400.
    settings.SHOP = {**settings.SHOP, "PAYMENT_WEBHOOK_SECRET": "fuzz-secret"}


@pytest.fixture
def identities(db) -> dict[str, dict[str, str]]:
    for _ in range(3):
        make_product(stock=50)
    make_product(stock=5, active=False)
    headers = {"anonymous": {}}
    for name, user in (
        ("customer", make_user("fuzz-customer")),
        ("staff", make_user("fuzz-staff", customer=False, staff=True)),
    ):
        headers[name] = {"Authorization": f"Token {token_create(user=user)[1]}"}
    return headers


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["anonymous", "customer", "staff"])
@schema.parametrize()
@settings(
    max_examples=FUZZ_MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_honours_its_contract(case, who, identities):
    operation = (case.operation.method.upper(), case.operation.path)
    key = (case.headers or {}).get("Idempotency-Key")
    if key is not None and IDEMPOTENCY_KEY.fullmatch(key):
        # A valid key is made unique: Hypothesis repeats small strings across examples, and the same key
        # with another body is a 422 by design (tests/api/test_orders.py covers replays and reuse).
        case.headers["Idempotency-Key"] = f"{key[:200]}-{uuid.uuid4()}"
    excluded = [positive_data_acceptance] if operation in POSITIVE_DATA_EXEMPT else []
    excluded += [negative_data_rejection] if operation in NEGATIVE_DATA_EXEMPT else []
    case.call_and_validate(headers=identities[who], checks=ALL_CHECKS, excluded_checks=excluded)
