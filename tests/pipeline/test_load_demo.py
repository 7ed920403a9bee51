"""``load_demo``: what ``make demo`` runs after ``migrate``, on the bundled samples."""

from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.management import call_command

from inventory.models import ProductSupply
from recommender.models import CustomerRecommendation, ModelVersion
from shop.models import Customer, Order, Product, Rating, StockRecord

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
    assert authenticate(username="admin", password="demo-admin-2011").is_staff
    customer = Customer.objects.get(user=authenticate(username="customer", password="demo-customer-2011"))
    assert customer.external_id in printed and "demo-admin-2011" in printed
    # Rejected rows are written under var/, not beside the bundled sample in the checkout.
    assert (tmp_path / "var" / "demo" / "movielens_sample.rejected.csv").exists()
    assert not list((SAMPLE_DIR / "movielens").glob("*.rejected.csv"))


def test_the_shop_demo_stocks_products_and_gives_them_a_supplier_and_a_rerun_adds_nothing():
    load_demo(dataset="retail", skip_training=True)
    counts = (Order.objects.count(), Product.objects.count(), ProductSupply.objects.count())

    load_demo(dataset="retail", skip_training=True)

    assert counts == (9_498, 300, 300)
    assert (Order.objects.count(), Product.objects.count(), ProductSupply.objects.count()) == counts
    levels = list(StockRecord.objects.values_list("on_hand", flat=True))
    assert sum(1 for level in levels if level > 0) == 270  # every tenth product is left out of stock
    assert Customer.objects.filter(user__username="customer").count() == 1
