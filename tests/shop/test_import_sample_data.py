"""The bundled demo data imports cleanly and holds what data/sample/README.md promises."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import call_command
from django.db.models import Max, Min

from shop.models import Cancellation, Customer, Order, Product, Rating

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"

pytestmark = pytest.mark.django_db


@pytest.mark.slow
def test_online_retail_sample_covers_seven_months_of_300_products_with_cancellations_guests_and_quirks(
    tmp_path,
):
    rejects = tmp_path / "rejected.csv"
    output = io.StringIO()
    call_command(
        "import_transactions",
        str(SAMPLE / "online_retail_sample.csv.gz"),
        rejects=str(rejects),
        stdout=output,
        verbosity=0,
    )

    assert "All 99,620 rows accounted for." in output.getvalue()
    assert Product.objects.count() == 300
    span = Order.objects.aggregate(first=Min("placed_at"), last=Max("placed_at"))
    assert span["first"] >= datetime(2011, 3, 1, tzinfo=UTC)
    assert span["last"] < datetime(2011, 10, 1, tzinfo=UTC)
    assert (span["last"] - span["first"]).days > 200
    assert Order.objects.filter(customer__isnull=True).exists()
    assert Cancellation.objects.filter(order_line__isnull=False).count() > 1000
    assert Customer.objects.count() > 1000
    reasons = set(pd.read_csv(rejects)["reason"])
    assert {"non_product_code", "stock_adjustment", "non_positive_price"} <= reasons


def test_movielens_sample_has_150_users_rating_600_movies_with_nothing_rejected(tmp_path):
    output = io.StringIO()
    call_command(
        "import_ratings",
        str(SAMPLE / "movielens"),
        rejects=str(tmp_path / "r.csv"),
        stdout=output,
        verbosity=0,
    )

    assert "rejected: 0" in output.getvalue()
    assert Customer.objects.count() == 150
    assert Product.objects.filter(sku__startswith="ML-").count() == 600
    assert Rating.objects.count() == len(pd.read_csv(SAMPLE / "movielens" / "ratings.csv"))
    assert Product.objects.filter(description__contains="Tags: ").exists()
