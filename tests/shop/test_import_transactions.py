"""import_transactions on a hand-made Online Retail file that holds every quirk of the real one."""

from __future__ import annotations

import gzip
import io
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import CommandError, ManagementUtility, call_command

from shop.importing import services as import_services
from shop.models import Cancellation, Customer, Order, OrderLine, Product

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
QUIRKS = FIXTURES / "online_retail_quirks.csv"

pytestmark = pytest.mark.django_db

EXPECTED_REASONS = {
    "non_product_code": 13,
    "stock_adjustment": 4,
    "non_positive_price": 2,
    "missing_value": 1,
    "unrecognised_invoice": 1,
    "unrecognised_code": 1,
    "non_negative_quantity_on_cancellation": 1,
}


def run_import(path: Path, *args: str) -> str:
    output = io.StringIO()
    call_command("import_transactions", str(path), *args, stdout=output, verbosity=0)
    return output.getvalue()


@pytest.fixture
def quirks_csv(tmp_path) -> Path:
    """A copy of the fixture, so the rejected rows are written beside it in tmp_path."""
    return Path(shutil.copy(QUIRKS, tmp_path / QUIRKS.name))


def table_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count() for model in (Product, Customer, Order, OrderLine, Cancellation)
    }


def database_snapshot() -> dict[str, list[tuple]]:
    return {
        "products": list(Product.objects.order_by("sku").values_list("sku", "name", "price", "category")),
        "customers": list(Customer.objects.order_by("external_id").values_list("external_id", "country")),
        "orders": list(
            Order.objects.order_by("number").values_list(
                "number", "customer__external_id", "placed_at", "status"
            )
        ),
        "lines": list(
            OrderLine.objects.order_by("order__number", "line_number").values_list(
                "order__number", "line_number", "product__sku", "quantity", "unit_price"
            )
        ),
        "cancellations": list(
            Cancellation.objects.order_by("reference", "line_number").values_list(
                "reference",
                "line_number",
                "product__sku",
                "customer__external_id",
                "quantity",
                "unit_price",
                "created_at",
                "order_line__order__number",
                "order_line__line_number",
            )
        ),
    }


def test_every_row_is_imported_or_rejected_with_exact_per_reason_counts_that_add_up(quirks_csv):
    output = run_import(quirks_csv)

    rejected = pd.read_csv(quirks_csv.with_name(quirks_csv.name + ".rejected.csv"))
    assert rejected["reason"].value_counts().to_dict() == EXPECTED_REASONS
    assert OrderLine.objects.count() == 14  # the copied lantern line of 536365 is kept: a true duplicate
    assert Cancellation.objects.count() == 5
    input_rows = len(pd.read_csv(QUIRKS))
    assert input_rows == 42
    assert OrderLine.objects.count() + Cancellation.objects.count() + len(rejected) == input_rows
    assert "order lines:   14 new, 0 already present, 0 conflicting" in output
    assert "cancellations: 5 new (3 linked to their sale), 0 already present, 0 conflicting" in output
    for reason, count in EXPECTED_REASONS.items():
        assert f"    {reason}: {count}\n" in output
    assert "All 42 rows accounted for." in output


def test_rejected_csv_keeps_the_original_columns_with_the_row_number_and_reason(quirks_csv, tmp_path):
    rejects = tmp_path / "elsewhere" / "rejects.csv"
    run_import(quirks_csv, "--rejects", str(rejects))

    assert not quirks_csv.with_name(quirks_csv.name + ".rejected.csv").exists()
    rejected = pd.read_csv(rejects, dtype=str, keep_default_na=False)
    assert list(rejected.columns) == ["row", *pd.read_csv(QUIRKS, nrows=0).columns, "reason", "detail"]
    by_row = rejected.set_index("row")
    expectations = {
        "3": ("POST", "non_product_code"),
        "12": ("gift_0001_20", "non_product_code"),
        "13": ("DCGS0003", "unrecognised_code"),
        "16": ("22139", "stock_adjustment"),
        "17": ("22423", "stock_adjustment"),
        "18": ("85123A", "stock_adjustment"),
        "19": ("22139", "non_positive_price"),
        "20": ("B", "unrecognised_invoice"),
        "21": ("22423", "non_positive_price"),
        "30": ("22423", "non_negative_quantity_on_cancellation"),
        "31": ("", "missing_value"),
        "37": ("23444", "non_product_code"),
        "42": ("POST", "non_product_code"),
    }
    for row, (stock_code, reason) in expectations.items():
        assert (by_row.loc[row, "StockCode"], by_row.loc[row, "reason"]) == (stock_code, reason)
    assert by_row.loc["12", "Description"] == "Dotcomgiftshop Gift Voucher £20.00"


def test_cancellations_link_to_the_latest_earlier_line_of_the_same_customer_and_product(quirks_csv):
    run_import(quirks_csv)

    def linked(reference: str, line_number: int) -> tuple | None:
        cancellation = Cancellation.objects.select_related("order_line__order").get(
            reference=reference, line_number=line_number
        )
        line = cancellation.order_line
        return (line.order.number, line.line_number) if line else None

    # The 74,215-unit line cancelled sixteen minutes later: both are kept and net out.
    assert linked("C541433", 1) == ("541431", 1)
    huge = Cancellation.objects.get(reference="C541433")
    assert (huge.quantity, huge.product.sku, huge.customer.external_id) == (74215, "23166", "12346")
    assert huge.created_at == datetime(2011, 1, 18, 10, 17, tzinfo=UTC)
    # Customer 13047 bought 22423 on 2 and 5 December; a cancellation on the 4th belongs to the 2nd.
    assert linked("C536603", 1) == ("536367", 1)
    # Part of invoice 536600 cancelled: only its lantern line (lines are numbered in sku order).
    assert linked("C536601", 2) == ("536600", 2)
    assert linked("C536601", 1) is None  # the customer never bought 21730 in this file
    guest = Cancellation.objects.get(reference="C536602")
    assert guest.customer is None and guest.order_line is None
    assert all(
        c.kind == Cancellation.Kind.CANCELLATION and c.quantity > 0 for c in Cancellation.objects.all()
    )


def test_guest_lines_become_fulfilled_orders_without_a_customer(quirks_csv):
    run_import(quirks_csv)

    guest_order = Order.objects.get(number="536366")
    assert guest_order.customer is None
    assert list(guest_order.lines.values_list("line_number", "product__sku", "quantity")) == [
        (1, "22423", 1),
        (2, "85123A", 2),
    ]
    assert set(Order.objects.values_list("status", flat=True)) == {Order.Status.FULFILLED}
    assert set(Customer.objects.values_list("external_id", flat=True)) == {"12346", "13047", "14911", "17850"}
    assert Customer.objects.get(external_id="14911").country == "EIRE"


def test_skus_are_upper_cased_and_products_take_the_most_frequent_real_description_and_latest_price(
    quirks_csv,
):
    run_import(quirks_csv)

    products = {p.sku: p for p in Product.objects.all()}
    assert set(products) == {"85123A", "71053", "22423", "23166", "21730", "22727", "84879", "21731"}
    # 85123a and 85123A are one product; "CREAM ..." is a minority name and "damaged" a note.
    assert products["85123A"].name == "WHITE HANGING HEART T-LIGHT HOLDER"
    assert products["85123A"].price == Decimal("2.65")
    assert products["22423"].name == "REGENCY CAKESTAND 3 TIER"
    assert products["22423"].price == Decimal("12.75")
    assert products["22727"].name == "ALARM CLOCK BAKELIKE RED"
    # Its only sale has no description: the name comes from a rejected stock adjustment of the same code.
    assert products["84879"].name == "ASSORTED COLOUR BIRD ORNAMENT"
    assert products["21731"].name == "21731"  # only "nan": the code is the best name there is
    assert products["21730"].price == Decimal("4.25")  # known from a cancellation only
    assert all(product.category_id is None for product in products.values())
    # Codes seen only on rejected rows make no product.
    assert not Product.objects.filter(
        sku__in=["22139", "POST", "DOT", "M", "B", "DCGS0003", "23444"]
    ).exists()


def test_line_numbers_follow_the_content_of_the_invoice_not_the_row_positions(quirks_csv):
    run_import(quirks_csv)

    assert list(
        OrderLine.objects.filter(order__number="536606").values_list("line_number", "product__sku")
    ) == [(1, "22727")]
    # Sorted by (sku, quantity, price, occurrence); the lantern line is in the file twice.
    assert list(
        OrderLine.objects.filter(order__number="536365").values_list(
            "line_number", "product__sku", "quantity", "occurrence"
        )
    ) == [(1, "71053", 6, 1), (2, "71053", 6, 2), (3, "85123A", 6, 1)]


def test_invoice_times_are_read_in_the_settings_time_zone_by_default_and_in_the_one_given(
    quirks_csv, settings
):
    assert settings.TIME_ZONE == "UTC"
    run_import(quirks_csv)
    assert Order.objects.get(number="536365").placed_at == datetime(2010, 12, 1, 8, 26, tzinfo=UTC)

    Cancellation.objects.all().delete()
    OrderLine.objects.all().delete()
    Order.objects.all().delete()
    run_import(quirks_csv, "--timezone", "America/New_York")
    assert Order.objects.get(number="536365").placed_at == datetime(2010, 12, 1, 13, 26, tzinfo=UTC)


def test_a_second_run_writes_nothing_and_reports_every_row_as_already_present(quirks_csv):
    run_import(quirks_csv)
    before, snapshot = table_counts(), database_snapshot()

    output = run_import(quirks_csv)

    assert table_counts() == before
    assert database_snapshot() == snapshot
    assert "order lines:   0 new, 14 already present, 0 conflicting" in output
    assert "cancellations: 0 new (0 linked to their sale), 5 already present, 0 conflicting" in output
    assert "Created 0 products, 0 customers, 0 orders." in output
    assert "All 42 rows accounted for." in output


def test_a_later_file_of_cancellations_links_to_orders_imported_earlier(tmp_path):
    rows = pd.read_csv(QUIRKS, dtype=str, keep_default_na=False)
    is_cancellation = rows["InvoiceNo"].str.startswith("C")
    rows[~is_cancellation].to_csv(tmp_path / "sales.csv", index=False)
    rows[is_cancellation].to_csv(tmp_path / "cancellations.csv", index=False)

    run_import(tmp_path / "sales.csv")
    run_import(tmp_path / "cancellations.csv")

    linked = Cancellation.objects.filter(order_line__isnull=False)
    assert sorted(
        linked.values_list("reference", "order_line__order__number", "order_line__line_number")
    ) == [
        ("C536601", "536600", 2),
        ("C536603", "536367", 1),
        ("C541433", "541431", 1),
    ]


def _write_as(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".xlsx":
        frame.to_excel(path, index=False, engine="openpyxl")
    elif path.suffix == ".parquet":
        import fastparquet  # the project's parquet library (pandas' own engine would need pyarrow)

        fastparquet.write(str(path), frame, write_index=False)
    else:
        frame.to_csv(path, index=False, compression="gzip")


@pytest.mark.parametrize("name", ["quirks.xlsx", "quirks.parquet", "quirks.csv.gz"])
def test_xlsx_parquet_and_gzipped_csv_versions_of_the_file_import_exactly_like_the_csv(
    quirks_csv, tmp_path, name
):
    run_import(quirks_csv)
    from_csv = database_snapshot()
    for model in (Cancellation, OrderLine, Order, Customer, Product):
        model.objects.all().delete()

    # Read with pandas' own type inference, as a user's export would be typed: dates, floats, NaN.
    typed = pd.read_csv(QUIRKS, parse_dates=["InvoiceDate"])
    assert pd.api.types.is_datetime64_any_dtype(typed["InvoiceDate"])
    converted = tmp_path / name
    _write_as(typed, converted)
    output = run_import(converted)

    assert database_snapshot() == from_csv
    assert "All 42 rows accounted for." in output
    rejected = pd.read_csv(converted.with_name(name + ".rejected.csv"))
    assert rejected["reason"].value_counts().to_dict() == EXPECTED_REASONS


def _missing_column(path: Path) -> None:
    pd.read_csv(QUIRKS, dtype=str).drop(columns=["UnitPrice"]).to_csv(path, index=False)


def _wrong_types(path: Path) -> None:
    frame = pd.read_csv(QUIRKS, dtype=str, keep_default_na=False)
    frame.loc[5, "Quantity"] = "six"
    frame.to_csv(path, index=False)


def _fractional_quantities(path: Path) -> None:
    frame = pd.read_csv(QUIRKS, dtype=str, keep_default_na=False)
    frame.loc[0, "Quantity"] = "1.5"
    frame.to_csv(path, index=False)


def _bad_dates(path: Path) -> None:
    frame = pd.read_csv(QUIRKS, dtype=str, keep_default_na=False)
    frame.loc[2, "InvoiceDate"] = "yesterday"
    frame.to_csv(path, index=False)


def _no_rows(path: Path) -> None:
    path.write_text(QUIRKS.read_text().splitlines()[0] + "\n")


def _empty_file(path: Path) -> None:
    path.write_bytes(b"")


def _random_bytes(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 40)


def _random_gzip_bytes(path: Path) -> None:
    path.write_bytes(gzip.compress(bytes(range(256)) * 40)[:300])


def _quirks_copy(path: Path) -> None:
    shutil.copy(QUIRKS, path)


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("missing.csv", _missing_column, r"missing column\(s\) UnitPrice"),
        (
            "types.csv",
            _wrong_types,
            r"column Quantity: 1 value\(s\) are not whole numbers, e.g. 'six' in row 6",
        ),
        ("fractions.csv", _fractional_quantities, r"column Quantity: 1 value\(s\) are not whole numbers"),
        ("dates.csv", _bad_dates, r"column InvoiceDate: 1 value\(s\) are not dates, e.g. 'yesterday'"),
        ("header_only.csv", _no_rows, "has a header but no rows"),
        ("empty.csv", _empty_file, "cannot be read as .csv"),
        ("noise.csv", _random_bytes, "cannot be read as .csv"),
        ("noise.xlsx", _random_bytes, "cannot be read as .xlsx"),
        ("noise.parquet", _random_bytes, "cannot be read as .parquet"),
        ("noise.csv.gz", _random_gzip_bytes, r"cannot be read as .csv.gz"),
        ("transactions.txt", _quirks_copy, "unknown file extension"),
    ],
)
def test_a_malformed_file_stops_with_a_command_error_naming_the_problem_and_writes_nothing(
    tmp_path, name, make, message
):
    path = tmp_path / name
    make(path)

    with pytest.raises(CommandError, match=message):
        run_import(path)

    assert set(table_counts().values()) == {0}
    assert not path.with_name(name + ".rejected.csv").exists()


def test_a_missing_file_and_an_unknown_time_zone_are_command_errors(tmp_path, quirks_csv):
    with pytest.raises(CommandError, match="no such file"):
        run_import(tmp_path / "absent.csv")
    with pytest.raises(CommandError, match="Unknown time zone 'Mars/Olympus'"):
        run_import(quirks_csv, "--timezone", "Mars/Olympus")


def test_the_command_line_exits_non_zero_with_the_message_on_stderr(tmp_path, capsys):
    path = tmp_path / "transactions.txt"
    _quirks_copy(path)

    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(["manage.py", "import_transactions", str(path)]).execute()

    assert exit_info.value.code != 0
    assert "unknown file extension" in capsys.readouterr().err


def test_a_failure_while_writing_rolls_back_everything_already_written(quirks_csv, monkeypatch):
    real_insert = import_services.insert_rows

    def failing_insert(model, fields, rows):
        if model is Cancellation:
            raise RuntimeError("disk full")
        real_insert(model, fields, rows)

    monkeypatch.setattr(import_services, "insert_rows", failing_insert)
    with pytest.raises(RuntimeError, match="disk full"):
        run_import(quirks_csv)

    assert set(table_counts().values()) == {0}


def test_progress_is_reported_on_stderr_over_the_write_batches(quirks_csv, capsys):
    call_command("import_transactions", str(quirks_csv), "--batch-size", "4", stdout=io.StringIO())

    progress = capsys.readouterr().err
    # 8 products, 4 customers, 8 orders, 14 lines and 5 cancellations to write.
    assert "Writing" in progress and "39/39" in progress


def test_call_command_accepts_the_rejects_path_as_a_keyword_string(quirks_csv, tmp_path):
    rejects = tmp_path / "keyword" / "rejects.csv"
    call_command(
        "import_transactions", str(quirks_csv), rejects=str(rejects), stdout=io.StringIO(), verbosity=0
    )

    assert len(pd.read_csv(rejects)) == sum(EXPECTED_REASONS.values())
