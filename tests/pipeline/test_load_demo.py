"""``load_demo``: what ``make demo`` runs after ``migrate``, on the bundled samples."""

import re
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db.models import Max, Min

from inventory.models import ProductSupply, Supplier
from recommender.models import CustomerRecommendation, ModelVersion
from shop.models import Cancellation, Category, Customer, Order, Product, Rating, StockMovement, StockRecord

pytestmark = pytest.mark.django_db

SAMPLE_DIR = Path(settings.BASE_DIR) / "data" / "sample"


def load_demo(*, stderr: StringIO | None = None, **options) -> str:
    out = StringIO()
    call_command("load_demo", stdout=out, stderr=stderr or StringIO(), **options)
    return out.getvalue()


@pytest.fixture(autouse=True)
def _var_in_tmp(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"


@pytest.mark.slow
def test_the_ratings_demo_trains_a_version_and_prints_logins_that_work(tmp_path, settings):
    # A two-candidate SVD search instead of six by three folds: what is asserted here is the demo's
    # path (import, training, activation, logins), not the search, which tests/recommender covers.
    search = {"n_iter": 2, "cv": 2, "param_distributions": {"n_factors": [20], "n_epochs": [10, 20]}}
    settings.RECOMMENDER = {**settings.RECOMMENDER, "SVD_SEARCH": search}
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


@pytest.mark.slow
def test_the_shop_demo_imports_the_whole_sample_stocks_it_gives_it_a_supplier_and_a_rerun_adds_nothing(
    tmp_path,
):
    """One import of the bundled retail sample (99,620 rows) serves both what the demo does with it and
    what data/sample/README.md promises about it; each import costs seconds, so the suite makes one."""
    told = StringIO()
    load_demo(dataset="retail", skip_training=True, stderr=told)
    counts = (Order.objects.count(), Product.objects.count(), ProductSupply.objects.count())

    # The sample holds what data/sample/README.md promises: seven months of 300 products, with
    # cancellations, guests and the data set's quirks, every row imported or rejected with a reason.
    assert "All 99,620 rows accounted for." in told.getvalue()
    span = Order.objects.aggregate(first=Min("placed_at"), last=Max("placed_at"))
    assert span["first"] >= datetime(2011, 3, 1, tzinfo=UTC)
    assert span["last"] < datetime(2011, 10, 1, tzinfo=UTC)
    assert (span["last"] - span["first"]).days > 200
    assert Order.objects.filter(customer__isnull=True).exists()
    assert Cancellation.objects.filter(order_line__isnull=False).count() > 1000
    assert Customer.objects.count() > 1000
    reasons = set(pd.read_csv(tmp_path / "var" / "demo" / "retail_sample.rejected.csv")["reason"])
    assert {"non_product_code", "stock_adjustment", "non_positive_price"} <= reasons

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

    return "\n".join(Command(stdout=StringIO(), stderr=StringIO())._logins())


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
