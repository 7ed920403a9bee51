"""Export and erasure: everything stored about a customer comes out as JSON; after erasure none of
their email, names, username or external id is anywhere in the database, their orders remain
(anonymised), and forecasts and recommenders still train."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import ApiToken, UserSession
from inventory.services import forecast_retrain
from recommender.models import CustomerRecommendation
from recommender.services import recommender_train
from shop import services, services_catalogue
from shop.models import Customer, Order, ProductEvent, Rating
from tests.pipeline.shop_data import build_shop_history

pytestmark = pytest.mark.django_db(transaction=False)

EMAIL = "zelda.quuxington@example.org"
USERNAME = "zquux"
FIRST, LAST = "Zeldarina", "Quuxington"
PASSWORD = "a-Long-unusual-pass-42"
SESSION = "zelda-browser-session-01"


def text_columns() -> list[tuple[str, str]]:
    """Every text-like column of every table in the database."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            for column in connection.introspection.get_table_description(cursor, table):
                kind = connection.introspection.get_field_type(column.type_code, column)
                if kind in {
                    "CharField",
                    "TextField",
                    "JSONField",
                    "EmailField",
                    "SlugField",
                    "GenericIPAddressField",
                }:
                    found.append((table, column.name))
    return found


def rows_mentioning(needle: str) -> list[tuple[str, str]]:
    hits = []
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, column in text_columns():
            cast = f"CAST({qn(column)} AS TEXT)"
            cursor.execute(
                f"SELECT COUNT(*) FROM {qn(table)} WHERE LOWER({cast}) LIKE %s", [f"%{needle.lower()}%"]
            )
            if cursor.fetchone()[0]:
                hits.append((table, column))
    return hits


@pytest.fixture
def shop_with_zelda(mailoutbox, django_capture_on_commit_callbacks, staff_user):
    products, _ = build_shop_history(products=16, customers=20, days=100)
    for product in products:
        services.stock_receive(product=product, quantity=50, reference="test")
    anonymous_events = {"session_id": SESSION, "events": [{"type": "view", "product": products[0].pk}]}
    assert APIClient().post("/api/events/", anonymous_events, format="json").status_code == 202

    signup = {"username": USERNAME, "password": PASSWORD, "email": EMAIL, "country": "Iceland"}
    with django_capture_on_commit_callbacks(execute=True):
        response = APIClient().post("/api/auth/signup/", signup, format="json")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    import re

    link = dict(re.findall(r"(uid|token)=([^&\s]+)", mailoutbox[0].body))
    assert APIClient().post("/api/auth/email/verify/", link, format="json").status_code == 204
    assert (
        client.patch("/api/me/", {"first_name": FIRST, "last_name": LAST}, format="json").status_code == 200
    )
    customer = Customer.objects.get(user__username=USERNAME)

    for index in range(3):
        order = {
            "lines": [
                {"product": products[index].pk, "quantity": 2},
                {"product": products[5].pk, "quantity": 1},
            ]
        }
        placed = client.post("/api/orders/", order, format="json", HTTP_IDEMPOTENCY_KEY=f"zelda-key-{index}")
        assert placed.status_code == 201, placed.content
        paid = Order.objects.get(pk=placed.json()["id"])
        services.order_mark_paid(
            order=paid, amount=services.order_total(paid), currency="GBP", reference=f"pay-{index}"
        )
        services.shipment_create(order=paid)
    services.order_cancel(
        order=services.order_place(
            customer=customer, lines=[services.LineRequest(product_id=products[7].pk, quantity=1)]
        )
    )
    services_catalogue.rating_set(customer=customer, product_id=products[1].pk, stars=4)
    events = {
        "session_id": SESSION,
        "events": [{"type": "cart_add", "product": products[2].pk, "quantity": 1}],
    }
    assert client.post("/api/events/", events, format="json").status_code == 202
    # A session sign-in, a failed one (kept by django-axes) and an admin edit (kept in the admin's history).
    browser = APIClient()
    assert (
        browser.post(
            "/api/auth/session/", {"username": USERNAME, "password": PASSWORD}, format="json"
        ).status_code
        == 200
    )
    # (after the successful sign-in, which clears earlier failures)
    APIClient().post("/api/auth/token/", {"username": USERNAME, "password": "wrong"}, format="json")
    for obj in (customer, customer.user):
        LogEntry.objects.create(
            user=staff_user,
            content_type=ContentType.objects.get_for_model(obj),
            object_id=str(obj.pk),
            object_repr=str(obj),
            action_flag=CHANGE,
            change_message=f"Changed email of {EMAIL}",
        )
    recommender_train()
    assert CustomerRecommendation.objects.filter(customer=customer).exists()
    return {"client": client, "customer": customer, "products": products, "browser": browser}


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_user(
        "admin-erasure", password="Staff-pass-long-42", is_staff=True, is_superuser=True
    )


def test_the_export_holds_everything_stored_about_the_customer(shop_with_zelda):
    response = shop_with_zelda["client"].get("/api/me/export/")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    data = response.json()
    assert data["account"]["email"] == EMAIL and data["account"]["email_verified"] is True
    assert (data["account"]["first_name"], data["account"]["last_name"]) == (FIRST, LAST)
    assert data["customer"]["country"] == "Iceland"
    assert len(data["orders"]) == 4 and sum(len(order["lines"]) for order in data["orders"]) == 7
    assert [r["stars"] for r in data["ratings"]] == [4.0]
    assert [e["session_id"] for e in data["events"]] == [SESSION]
    assert data["recommendations"] and {r["mode"] for r in data["recommendations"]} == {"all", "new"}
    assert len(data["idempotency_keys"]) == 3 and len(data["tokens"]) == 1 and len(data["sessions"]) == 1
    assert data["sign_in_failures"][0]["failures"] == 1
    assert "password" not in response.content.decode().lower().replace("password_", "")


def test_erasure_leaves_nothing_personal_keeps_the_orders_and_training_still_works(shop_with_zelda):
    customer = shop_with_zelda["customer"]
    external_id = customer.external_id
    orders = set(Order.objects.filter(customer=customer).values_list("pk", flat=True))
    needles = [EMAIL, USERNAME, FIRST, LAST, external_id, SESSION]
    assert all(rows_mentioning(needle) for needle in needles)  # the search finds them before

    response = shop_with_zelda["client"].delete("/api/me/")
    assert response.status_code == 204

    for needle in needles:
        assert rows_mentioning(needle) == [], needle
    assert (
        set(Order.objects.filter(pk__in=orders, customer__isnull=True).values_list("pk", flat=True)) == orders
    )
    assert not get_user_model().objects.filter(username=USERNAME).exists()
    assert not Customer.objects.filter(external_id=external_id).exists()
    assert not Rating.objects.filter(customer_id=customer.pk).exists()
    assert not ProductEvent.objects.filter(session_id=SESSION).exists()
    assert not ApiToken.objects.exists() and not UserSession.objects.exists()
    assert shop_with_zelda["client"].get("/api/auth/me/").status_code == 401
    assert shop_with_zelda["browser"].get("/api/auth/me/").status_code == 401

    version = recommender_train()
    assert version.status == "active" and CustomerRecommendation.objects.filter(version=version).exists()
    run = forecast_retrain()
    assert run.status == "complete" and run.forecasts.exists()


def test_the_admin_erases_a_customer_through_the_same_service(shop_with_zelda, staff_user, client):
    customer = shop_with_zelda["customer"]
    client.force_login(staff_user)
    url = "/admin/shop/customer/"
    form = {"action": "erase_personal_data", "_selected_action": [customer.pk]}
    confirm = client.post(url, form)
    assert confirm.status_code == 200 and b"Yes, erase them" in confirm.content
    assert Customer.objects.filter(pk=customer.pk).exists()  # nothing happens before the confirmation
    done = client.post(url, {**form, "confirm": "yes"}, follow=True)
    assert done.status_code == 200 and b"Erased 1 customer" in done.content
    for needle in (EMAIL, USERNAME, FIRST, LAST, customer.external_id):
        assert rows_mentioning(needle) == [], needle


def test_staff_logins_are_not_erased_from_the_api(staff_user):
    client = APIClient()
    client.force_authenticate(staff_user)
    response = client.delete("/api/me/")
    assert response.status_code == 403
    assert get_user_model().objects.filter(pk=staff_user.pk).exists()


def test_the_admin_erases_a_guest_customer_and_their_email_with_them(staff_user, client):
    products, _ = build_shop_history(products=4, customers=3, days=30)
    services.stock_receive(product=products[0], quantity=5, reference="test")
    guest_email = "guest.erasure@example.com"
    order = {"email": guest_email, "lines": [{"product": products[0].pk, "quantity": 1}]}
    placed = APIClient().post("/api/orders/guest/", order, format="json")
    assert placed.status_code == 201, placed.content
    guest = Customer.objects.get(email=guest_email)
    assert rows_mentioning(guest_email)

    client.force_login(staff_user)
    form = {"action": "erase_personal_data", "_selected_action": [guest.pk], "confirm": "yes"}
    assert client.post("/admin/shop/customer/", form, follow=True).status_code == 200

    assert rows_mentioning(guest_email) == [] and rows_mentioning(guest.external_id) == []
    assert Order.objects.get(number=placed.json()["number"]).customer is None
