"""``load_demo``: what ``make demo`` runs after ``migrate``, on the bundled samples."""

import re
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from inventory.models import ProductSupply, Supplier
from recommender.models import CustomerRecommendation, ModelVersion
from shop.models import Category, Customer, Order, Product, Rating, StockMovement, StockRecord

pytestmark = pytest.mark.django_db

SAMPLE_DIR = Path(settings.BASE_DIR) / "data" / "sample"


def load_demo(**options) -> str:
    out = StringIO()
    call_command("load_demo", stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


@pytest.fixture(autouse=True)
def _var_in_tmp(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"


def test_the_ratings_demo_trains_a_version_and_prints_logins_that_work(tmp_path):
    printed = load_demo(dataset="movielens")

    assert Rating.objects.count() == 29_920
    version = ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE)
    assert CustomerRecommendation.objects.filter(version=version).exists()
    passwords = dict(re.findall(r"login (\w+) / (\S+)", printed))
    assert set(passwords) == {"admin", "customer"}
    assert authenticate(username="admin", password=passwords["admin"]).is_staff
    customer = Customer.objects.get(user=authenticate(username="customer", password=passwords["customer"]))
    assert customer.external_id in printed
    # Generated for this database, never the ones earlier versions published.
    assert "demo-admin-2011" not in printed and len(passwords["admin"]) >= 16
    # Rejected rows are written under var/, not beside the bundled sample in the checkout.
    assert (tmp_path / "var" / "demo" / "movielens_sample.rejected.csv").exists()
    assert not list((SAMPLE_DIR / "movielens").glob("*.rejected.csv"))


def test_the_shop_demo_stocks_products_and_gives_them_a_supplier_and_a_rerun_adds_nothing():
    load_demo(dataset="retail", skip_training=True)
    counts = (Order.objects.count(), Product.objects.count(), ProductSupply.objects.count())

    load_demo(dataset="retail", skip_training=True)

    assert counts == (9_498, 300, 300)
    assert (Order.objects.count(), Product.objects.count(), ProductSupply.objects.count()) == counts
    # The shipped shop files, through the import commands: no product is left to the demo supplier.
    stock = pd.read_csv(SAMPLE_DIR / "retail_shop" / "stock.csv", dtype={"sku": str})
    assert dict(StockRecord.objects.values_list("product__sku", "on_hand")) == dict(
        zip(stock["sku"], stock["on_hand"], strict=True)
    )
    assert not ProductSupply.objects.filter(supplier__name="Demo supplier").exists()
    assert Supplier.objects.count() == 7
    assert not Product.objects.filter(category__isnull=True).exists()
    assert Category.objects.filter(parent__isnull=True).exists()
    assert StockMovement.objects.filter(reason="stocktake").count() == int((stock["on_hand"] > 0).sum())
    assert Customer.objects.filter(user__username="customer").count() == 1


def create_logins() -> dict[str, str]:
    """Only load_demo's login step (the data import is covered above), returning what it printed."""
    from pipeline.management.commands.load_demo import Command

    out = StringIO()
    Command(stdout=out, stderr=StringIO())._logins()
    return out.getvalue()


def test_a_rerun_keeps_the_logins_and_never_prints_a_password_again():
    Customer.objects.create(external_id="C1")
    first = create_logins()
    password = dict(re.findall(r"login (\w+) / (\S+)", first))["admin"]

    again = create_logins()

    assert password not in again and "changepassword admin" in again
    assert authenticate(username="admin", password=password).is_staff


def test_two_databases_get_different_demo_passwords(django_user_model):
    first = dict(re.findall(r"login (\w+) / (\S+)", create_logins()))
    django_user_model.objects.all().delete()  # a second, fresh database's logins

    second = dict(re.findall(r"login (\w+) / (\S+)", create_logins()))

    assert first["admin"] != second["admin"]


def test_load_demo_refuses_to_run_under_the_production_settings(settings):
    settings.IS_PRODUCTION = True

    with pytest.raises(CommandError, match="refuses to run under the production settings"):
        load_demo(dataset="movielens", skip_training=True)

    assert not Rating.objects.exists()
