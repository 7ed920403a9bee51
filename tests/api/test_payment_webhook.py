"""POST /api/payments/webhook/: Stripe-style signatures, a replay window, once-only events, exact amounts."""

from __future__ import annotations

import json
import logging
import threading
import time
from decimal import Decimal

import pytest
from django.core import checks
from django.db import connections, transaction
from rest_framework.test import APIClient

from shop import services, webhooks
from shop.models import Order, Payment, PaymentEvent, Refund
from shop.services import LineRequest
from tests.shop.factories import make_customer, make_product

pytestmark = pytest.mark.django_db

SECRET = "whsec_test_5f1b0c"
URL = "/api/payments/webhook/"


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.SHOP = {**settings.SHOP, "PAYMENT_WEBHOOK_SECRET": SECRET}


def placed_order(units: int = 4, price: str = "2.50") -> Order:
    product = make_product(stock=20, price=price)
    return services.order_place(customer=make_customer(), lines=[LineRequest(product.pk, units)])


def event(order: Order, *, id="evt_1", type="payment.succeeded", amount="10.00", currency="GBP") -> bytes:
    return json.dumps(
        {"id": id, "type": type, "order": order.number, "amount": amount, "currency": currency}
    ).encode()


def deliver(body: bytes, *, header: str | None = "sign", at: float | None = None, secret: str = SECRET):
    if header == "sign":
        header = webhooks.signature_header(secret=secret, timestamp=int(at or time.time()), body=body)
    extra = {"HTTP_SHOP_SIGNATURE": header} if header is not None else {}
    return APIClient().post(URL, data=body, content_type="application/json", **extra)


def assert_problem(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_a_signed_payment_event_marks_the_order_paid_and_it_never_lapses():
    order = placed_order()
    response = deliver(event(order))
    assert response.status_code == 200, response.content
    assert response.json() == {
        "event": "evt_1",
        "duplicate": False,
        "effect": "paid",
        "order": order.number,
        "status": "paid",
    }
    order.refresh_from_db()
    assert order.status == Order.Status.PAID and order.expires_at is None and order.paid_at is not None
    payment = Payment.objects.get()
    assert (payment.amount, payment.currency, payment.reference) == (Decimal("10.00"), "GBP", "evt_1")


def test_the_readmes_worked_example_signs_as_printed():
    body = b'{"id":"evt_1","type":"payment.succeeded","order":"536365","amount":"139.12","currency":"GBP"}'
    header = webhooks.signature_header(secret="whsec_test_5f1b0c", timestamp=1700000000, body=body)
    assert header == "t=1700000000,v1=6b6094705f58570b1fa8e189ee27e84355facd1c76bef1c7be3fa756b200d38b"
    assert (
        webhooks.verify_signature(header=header, body=body, secret="whsec_test_5f1b0c", now=1700000299)
        == 1700000000
    )
    with pytest.raises(webhooks.SignatureExpired):
        webhooks.verify_signature(header=header, body=body, secret="whsec_test_5f1b0c", now=1700000301)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "v1=abc",
        "t=notanumber,v1=abc",
        "t=1700000000",
        "t={now},v1=" + "0" * 64,
        "t={now},v0={good}",  # an unknown scheme does not count
    ],
    ids=["missing", "empty", "no-timestamp", "bad-timestamp", "no-v1", "wrong-hex", "v0-only"],
)
def test_a_missing_malformed_or_wrong_signature_is_400_and_changes_nothing(header):
    order = placed_order()
    body = event(order)
    now = int(time.time())
    if header:
        good = webhooks.compute_signature(secret=SECRET, timestamp=now, body=body)
        header = header.format(now=now, good=good)
    assert_problem(deliver(body, header=header), 400, "invalid_signature")
    assert Order.objects.get(pk=order.pk).status == Order.Status.PLACED
    assert not PaymentEvent.objects.exists()


def test_a_signature_made_with_another_secret_or_over_another_body_is_400():
    order = placed_order()
    body = event(order)
    assert_problem(deliver(body, secret="whsec_someone_else"), 400, "invalid_signature")
    header = webhooks.signature_header(secret=SECRET, timestamp=int(time.time()), body=body)
    tampered = body.replace(b"10.00", b"0.01")
    assert_problem(deliver(tampered, header=header), 400, "invalid_signature")
    assert not Payment.objects.exists()


def test_one_matching_v1_among_several_is_enough_as_when_a_provider_rolls_its_secret():
    order = placed_order()
    body = event(order)
    now = int(time.time())
    old = webhooks.compute_signature(secret="whsec_retired", timestamp=now, body=body)
    new = webhooks.compute_signature(secret=SECRET, timestamp=now, body=body)
    response = deliver(body, header=f"t={now},v1={old},v1={new}")
    assert response.status_code == 200 and response.json()["effect"] == "paid"


@pytest.mark.parametrize("age", [301, 3600, -301])
def test_a_correctly_signed_event_outside_five_minutes_is_400_signature_expired(age):
    order = placed_order()
    assert_problem(deliver(event(order), at=time.time() - age), 400, "signature_expired")
    assert Order.objects.get(pk=order.pk).status == Order.Status.PLACED


def test_an_event_within_five_minutes_is_accepted():
    order = placed_order()
    assert deliver(event(order), at=time.time() - 290).status_code == 200


def test_a_redelivered_event_is_200_and_has_no_second_effect():
    order = placed_order()
    body = event(order)
    first, second = deliver(body), deliver(body)
    assert first.status_code == second.status_code == 200
    assert second.json()["duplicate"] is True and second.json()["effect"] == "none"
    assert second.json()["order"] == order.number
    assert Payment.objects.count() == 1 and PaymentEvent.objects.count() == 1


@pytest.mark.parametrize(("amount", "currency"), [("9.99", "GBP"), ("10.01", "GBP"), ("10.00", "EUR")])
def test_an_amount_or_currency_that_is_not_the_order_total_is_409_logged_and_not_stored(
    amount, currency, caplog
):
    order = placed_order()
    body = event(order, amount=amount, currency=currency)
    with caplog.at_level(logging.WARNING, logger="shop.payments"):
        response = deliver(body)
    assert_problem(response, 409, "payment_mismatch")
    assert "10.00 GBP" in response.json()["detail"]
    assert any(
        "evt_1" in record.getMessage() and "refused" in record.getMessage() for record in caplog.records
    )
    assert Order.objects.get(pk=order.pk).status == Order.Status.PLACED
    assert not PaymentEvent.objects.exists()  # refused, so a redelivery is refused again (not "seen")
    assert_problem(deliver(body), 409, "payment_mismatch")


def test_the_currency_code_is_matched_whatever_its_case():
    order = placed_order()
    assert deliver(event(order, currency="gbp")).status_code == 200


def test_paying_an_order_that_lapsed_or_was_paid_already_is_409_invalid_order_state():
    lapsed = placed_order()
    services.order_cancel(order=lapsed)
    assert_problem(deliver(event(lapsed)), 409, "invalid_order_state")
    paid = placed_order()
    deliver(event(paid, id="evt_a"))
    assert_problem(deliver(event(paid, id="evt_b")), 409, "invalid_order_state")
    assert Payment.objects.count() == 1


def test_an_unknown_order_is_404_and_a_body_of_the_wrong_shape_is_400():
    body = json.dumps(
        {"id": "e", "type": "payment.succeeded", "order": "NOPE", "amount": "1.00", "currency": "GBP"}
    ).encode()
    assert_problem(deliver(body), 404, "order_not_found")
    for bad in (b"not json", b"[]", json.dumps({"id": "e", "type": "payment.succeeded"}).encode()):
        assert_problem(deliver(bad), 400, "invalid")
    order = placed_order()
    for amount in ("-1.00", "1.005", "ten", "1e3"):
        assert_problem(deliver(event(order, amount=amount)), 400, "invalid")
    assert deliver(event(order, amount="10")).status_code == 200  # 10 is the total 10.00


def test_other_event_types_are_acknowledged_and_ignored():
    order = placed_order()
    response = deliver(event(order, type="payment.created"))
    assert response.status_code == 200 and response.json()["effect"] == "ignored"
    assert Order.objects.get(pk=order.pk).status == Order.Status.PLACED and not PaymentEvent.objects.exists()


def test_a_refund_event_records_a_refund_and_confirms_one_the_shop_recorded():
    order = placed_order()
    deliver(event(order, id="evt_pay"))
    response = deliver(event(order, id="evt_ref", type="payment.refunded", amount="2.50"))
    assert response.status_code == 200 and response.json()["effect"] == "refunded"
    assert list(Refund.objects.values_list("amount", "reason", "provider_reference")) == [
        (Decimal("2.50"), "provider", "evt_ref")
    ]
    assert_problem(
        deliver(event(order, id="evt_big", type="payment.refunded", amount="7.51")),
        409,
        "refund_exceeds_payments",
    )
    services.order_cancel(order=order)  # the shop records the remaining 7.50 as refunded
    confirm = deliver(event(order, id="evt_rest", type="payment.refunded", amount="7.50"))
    assert confirm.status_code == 200
    assert Refund.objects.count() == 2
    assert Refund.objects.get(reason="cancellation").provider_reference == "evt_rest"


def test_without_a_secret_the_endpoint_is_503_and_the_deploy_check_warns(settings):
    settings.SHOP = {**settings.SHOP, "PAYMENT_WEBHOOK_SECRET": ""}
    order = placed_order()
    assert_problem(deliver(event(order)), 503, "payments_not_configured")
    warnings = [m for m in checks.run_checks(include_deployment_checks=True) if m.id == "shop.W101"]
    assert len(warnings) == 1 and "SHOP_PAYMENT_WEBHOOK_SECRET" in warnings[0].msg
    settings.SHOP = {**settings.SHOP, "PAYMENT_WEBHOOK_SECRET": SECRET}
    assert not [m for m in checks.run_checks(include_deployment_checks=True) if m.id == "shop.W101"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_deliveries_of_one_event_apply_it_once(postgres):
    """The second delivery waits on the event id's unique index while the first is uncommitted, then
    finds it taken and answers 200 duplicate: it never reaches the order (which would be a 409)."""
    order = placed_order()
    body = event(order)
    first_inside, release = threading.Event(), threading.Event()
    results: dict[str, object] = {}
    original = services.order_mark_paid

    def held_mark_paid(**kwargs):
        payment = original(**kwargs)
        first_inside.set()
        release.wait(timeout=60)  # keep the first transaction open while the second arrives
        return payment

    services.order_mark_paid = held_mark_paid

    def first() -> None:
        try:
            results["first"] = deliver(body)
        finally:
            connections.close_all()

    def second() -> None:
        try:
            results["second"] = deliver(body)
        finally:
            connections.close_all()

    one = threading.Thread(target=first)
    try:
        one.start()
        assert first_inside.wait(timeout=60)
    finally:
        services.order_mark_paid = original  # the second delivery runs the real service
    two = threading.Thread(target=second)
    two.start()
    two.join(timeout=1)
    assert "second" not in results  # still waiting on the first's uncommitted event row
    release.set()
    one.join(timeout=60)
    two.join(timeout=60)
    assert results["first"].status_code == 200 and results["first"].json()["duplicate"] is False
    assert results["second"].status_code == 200 and results["second"].json()["duplicate"] is True
    assert Payment.objects.count() == 1 and PaymentEvent.objects.count() == 1
    with transaction.atomic():
        assert Order.objects.get(pk=order.pk).status == Order.Status.PAID
