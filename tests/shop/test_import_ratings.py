"""import_ratings on small MovieLens files in the ml-latest and ml-100k layouts."""

from __future__ import annotations

import io
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from shop.models import Category, Customer, Product, Rating

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

pytestmark = pytest.mark.django_db


def run_import(path: Path, *args: str) -> str:
    output = io.StringIO()
    call_command("import_ratings", str(path), *args, stdout=output, verbosity=0)
    return output.getvalue()


@pytest.fixture
def latest(tmp_path) -> Path:
    return Path(shutil.copytree(FIXTURES / "movielens_latest", tmp_path / "ml-latest-small"))


@pytest.fixture
def ml100k(tmp_path) -> Path:
    return Path(shutil.copytree(FIXTURES / "ml100k", tmp_path / "ml-100k"))


def table_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in (Category, Product, Customer, Rating)}


def ratings_snapshot() -> list[tuple]:
    return list(
        Rating.objects.order_by("customer__external_id", "product__sku").values_list(
            "customer__external_id", "product__sku", "stars", "rated_at"
        )
    )


def test_ml_latest_ratings_are_imported_or_rejected_with_exact_per_reason_counts(latest):
    output = run_import(latest)

    rejected = pd.read_csv(latest / "ratings.csv.rejected.csv", dtype=str, keep_default_na=False)
    assert rejected["reason"].value_counts().to_dict() == {
        "invalid_stars": 3,
        "duplicate_rating": 1,
        "unknown_movie": 1,
        "missing_value": 1,
    }
    assert list(rejected.columns) == ["row", "userId", "movieId", "rating", "timestamp", "reason"]
    assert rejected.set_index("row")["reason"].to_dict() == {
        "6": "duplicate_rating",
        "8": "invalid_stars",
        "9": "invalid_stars",
        "10": "invalid_stars",
        "11": "unknown_movie",
        "12": "missing_value",
    }
    assert Rating.objects.count() == 7
    assert Rating.objects.count() + len(rejected) == len(pd.read_csv(latest / "ratings.csv"))
    assert "ratings:  7 imported, 0 updated, 0 already present" in output
    assert "All 13 rows accounted for." in output


def test_ml_latest_movies_become_products_with_genres_tags_and_first_genre_category(latest):
    run_import(latest / "ratings.csv")

    toy_story = Product.objects.get(sku="ML-1")
    assert toy_story.name == "Toy Story (1995)"
    # Tags differing only in case are one tag.
    assert (
        toy_story.description == "Genres: Adventure, Animation, Children, Comedy, Fantasy\nTags: pixar, fun"
    )
    assert toy_story.category.name == "Adventure"
    assert Product.objects.get(sku="ML-4").name == "American President, The (1995)"
    unrated = Product.objects.get(sku="ML-5")
    assert (unrated.category, unrated.description) == (None, "")
    assert set(Category.objects.values_list("name", flat=True)) == {"Adventure", "Comedy"}
    assert set(Customer.objects.values_list("external_id", flat=True)) == {"ml-1", "ml-2", "ml-3"}


def test_ml_latest_ratings_keep_stars_and_time_and_the_latest_of_repeated_ratings(latest):
    run_import(latest)

    assert ratings_snapshot() == [
        ("ml-1", "ML-1", Decimal("4.0"), datetime.fromtimestamp(964982703, UTC)),
        ("ml-1", "ML-2", Decimal("3.5"), datetime.fromtimestamp(964981247, UTC)),
        ("ml-1", "ML-3", Decimal("5.0"), datetime.fromtimestamp(964982224, UTC)),
        ("ml-2", "ML-1", Decimal("4.5"), datetime.fromtimestamp(1445714994, UTC)),
        ("ml-2", "ML-2", Decimal("2.5"), datetime.fromtimestamp(1445715000, UTC)),
        ("ml-2", "ML-4", Decimal("0.5"), datetime.fromtimestamp(1445714995, UTC)),
        ("ml-3", "ML-4", Decimal("2.0"), datetime.fromtimestamp(1445716010, UTC)),
    ]


def test_ml_100k_layout_reads_tab_separated_ratings_and_genre_flags(ml100k):
    output = run_import(ml100k)

    assert "(ml-100k layout)" in output
    assert "ratings:  6 imported, 0 updated, 0 already present" in output
    rejected = pd.read_csv(ml100k / "u.data.rejected.csv", dtype=str)
    assert rejected.set_index("row")["reason"].to_dict() == {
        "2": "duplicate_rating",
        "7": "unknown_movie",
        "8": "invalid_stars",
    }
    goldeneye = Product.objects.get(sku="ML-2")
    assert (goldeneye.name, goldeneye.category.name) == ("GoldenEye (1995)", "Action")
    assert goldeneye.description == "Genres: Action, Adventure, Thriller"
    latin1 = Product.objects.get(sku="ML-4")
    assert (latin1.name, latin1.category) == (
        "Café au lait (1993)",
        None,
    )  # u.item is Latin-1; "unknown" genre
    assert Rating.objects.get(customer__external_id="ml-186", product__sku="ML-2").stars == Decimal("5.0")
    assert Rating.objects.get(
        customer__external_id="ml-196", product__sku="ML-1"
    ).rated_at == datetime.fromtimestamp(881250949, UTC)
    assert Rating.objects.count() == 6


def test_ml_100k_without_u_genre_uses_the_standard_genre_names(ml100k):
    (ml100k / "u.genre").unlink()
    run_import(ml100k / "u.data")

    assert Product.objects.get(sku="ML-1").category.name == "Animation"


def test_a_second_run_changes_nothing_and_a_changed_file_updates_only_what_differs(latest):
    run_import(latest)
    before, snapshot = table_counts(), ratings_snapshot()

    output = run_import(latest)

    assert table_counts() == before
    assert ratings_snapshot() == snapshot
    assert "ratings:  0 imported, 0 updated, 7 already present" in output
    assert "0 products created, 0 updated" in output

    ratings = pd.read_csv(latest / "ratings.csv", dtype=str, keep_default_na=False)
    ratings.loc[0, "rating"] = "2.0"
    ratings.to_csv(latest / "ratings.csv", index=False)
    movies = pd.read_csv(latest / "movies.csv", dtype=str)
    movies.loc[1, "title"] = "Jumanji (1995, restored)"
    movies.to_csv(latest / "movies.csv", index=False)

    output = run_import(latest)

    assert "ratings:  0 imported, 1 updated, 6 already present" in output
    assert "0 products created, 1 updated" in output
    assert Rating.objects.get(customer__external_id="ml-1", product__sku="ML-1").stars == Decimal("2.0")
    assert Product.objects.get(sku="ML-2").name == "Jumanji (1995, restored)"
    assert table_counts() == before


def _missing_movies(folder: Path) -> Path:
    (folder / "movies.csv").unlink()
    return folder / "ratings.csv"


def _missing_column(folder: Path) -> Path:
    pd.read_csv(folder / "ratings.csv").drop(columns=["timestamp"]).to_csv(
        folder / "ratings.csv", index=False
    )
    return folder


def _wrong_types(folder: Path) -> Path:
    ratings = pd.read_csv(folder / "ratings.csv", dtype=str, keep_default_na=False)
    ratings.loc[2, "rating"] = "good"
    ratings.to_csv(folder / "ratings.csv", index=False)
    return folder


def _no_rows(folder: Path) -> Path:
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    return folder


def _random_bytes(folder: Path) -> Path:
    (folder / "ratings.csv").write_bytes(bytes(range(256)) * 40)
    return folder


def _unknown_layout(folder: Path) -> Path:
    shutil.copy(folder / "ratings.csv", folder / "scores.txt")
    return folder / "scores.txt"


def _empty_directory(folder: Path) -> Path:
    for path in folder.iterdir():
        path.unlink()
    return folder


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_missing_movies, "movies.csv must be beside it"),
        (_missing_column, r"missing column\(s\) timestamp"),
        (_wrong_types, r"ratings.csv rating: 1 value\(s\) are not numbers, e.g. 'good' in row 3"),
        (_no_rows, "has a header but no rows"),
        (_random_bytes, "ratings.csv: cannot be read"),
        (_unknown_layout, "unknown ratings layout"),
        (_empty_directory, r"no ratings.csv \(ml-latest\) or u.data \(ml-100k\)"),
    ],
)
def test_a_malformed_ml_latest_source_stops_with_a_command_error_and_writes_nothing(latest, make, message):
    with pytest.raises(CommandError, match=message):
        run_import(make(latest))

    assert set(table_counts().values()) == {0}


def test_a_malformed_ml_100k_source_stops_with_a_command_error_and_writes_nothing(ml100k):
    (ml100k / "u.data").write_text("196 1 3\n")  # spaces, not tabs

    with pytest.raises(CommandError, match="expected 4 tab-separated columns"):
        run_import(ml100k)

    assert set(table_counts().values()) == {0}
