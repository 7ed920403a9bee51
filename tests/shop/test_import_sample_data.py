"""The bundled demo data imports cleanly and holds what data/sample/README.md promises."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import call_command

from shop.models import Customer, Product, Rating

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"

pytestmark = pytest.mark.django_db


# The retail sample's promises (seven months of 300 products, cancellations, guests, quirks) are checked
# on the import that load_demo makes of it: tests/pipeline/test_load_demo.py. One import, not two.


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
