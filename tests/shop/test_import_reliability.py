"""Issue 13, imports: overlapping files, impossible dates, import order and bad values.

Every overlap test compares the database with one clean import of the union of the files,
line by line on (invoice, product, quantity, price), including line numbers and links.
"""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from shop.importing import services as import_services
from shop.importing.transactions import RETAIL_COLUMNS
from shop.models import Cancellation, Customer, Order, OrderLine, Product

pytestmark = pytest.mark.django_db

COLUMNS = RETAIL_COLUMNS
# Invoice 100001 holds product 10001 twice at the same quantity and price (a true duplicate) and
# once more at another quantity and price; its last line is a minute later than the others.
ROWS = [
    ("100001", "10001", "RED MUG", "6", "2011-03-01 09:00:00", "2.55", "12001", "United Kingdom"),
    ("100001", "10002", "BLUE BOWL", "4", "2011-03-01 09:00:00", "1.00", "12001", "United Kingdom"),
    ("100001", "10001", "RED MUG", "6", "2011-03-01 09:00:00", "2.55", "12001", "United Kingdom"),
    ("100001", "10001", "RED MUG", "12", "2011-03-01 09:00:00", "2.10", "12001", "United Kingdom"),
    ("100001", "POST", "POSTAGE", "1", "2011-03-01 09:00:00", "18.00", "12001", "United Kingdom"),
    ("100001", "10003", "GREEN JUG", "1", "2011-03-01 09:01:00", "5.00", "12001", "United Kingdom"),
    ("100002", "10001", "RED MUG", "2", "2011-03-02 10:00:00", "2.95", "", "United Kingdom"),
    ("100002", "10004", "TEA TOWEL", "3", "2011-03-02 10:00:00", "1.25", "", "United Kingdom"),
    ("100002", "10004", "TEA TOWEL", "3", "2011-03-02 10:00:00", "1.25", "", "United Kingdom"),
    ("100003", "10001", "RED MUG", "1", "2011-03-03 11:00:00", "2.55", "12001", "United Kingdom"),
    ("100003", "10002", "BLUE BOWL", "2", "2011-03-03 11:00:00", "1.00", "12001", "United Kingdom"),
    ("C100004", "10001", "RED MUG", "-6", "2011-03-04 12:00:00", "2.55", "12001", "United Kingdom"),
    ("C100004", "10002", "BLUE BOWL", "-1", "2011-03-04 12:00:00", "1.00", "12001", "United Kingdom"),
    ("100005", "10003", "GREEN JUG", "5", "2011-03-05 13:00:00", "5.00", "12002", "France"),
    ("100005", "10004", "TEA TOWEL", "1", "2011-03-05 13:00:00", "1.25", "12002", "France"),
    ("C100006", "10003", "GREEN JUG", "-2", "2011-03-06 14:00:00", "5.00", "12002", "France"),
    ("C100006", "10003", "GREEN JUG", "-2", "2011-03-06 14:00:00", "5.00", "12002", "France"),
    ("100007", "10002", "BLUE BOWL", "8", "2011-03-07 15:00:00", "0.95", "12001", "United Kingdom"),
]


def frame(rows=ROWS) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=COLUMNS)


def write(tmp_path: Path, name: str, data: pd.DataFrame) -> Path:
    path = tmp_path / name
    data.to_csv(path, index=False)
    return path


def run_import(path: Path, *args: str) -> str:
    output = io.StringIO()
    call_command("import_transactions", str(path), *args, stdout=output, verbosity=0)
    return output.getvalue()


def clear() -> None:
    Cancellation.objects.all().delete()
    OrderLine.objects.all().delete()
    Order.objects.all().delete()
    Customer.objects.all().delete()
    Product.objects.all().delete()


def snapshot() -> dict[str, list[tuple]]:
    return {
        "products": sorted(Product.objects.values_list("sku", flat=True)),
        "customers": sorted(Customer.objects.values_list("external_id", "country")),
        "orders": sorted(
            Order.objects.values_list("number", "customer__external_id", "placed_at", "country", "status")
        ),
        "lines": sorted(
            OrderLine.objects.values_list(
                "order__number", "product__sku", "quantity", "unit_price", "line_number"
            )
        ),
        "cancellations": sorted(
            Cancellation.objects.values_list(
                "reference",
                "product__sku",
                "quantity",
                "unit_price",
                "line_number",
                "customer__external_id",
                "created_at",
                "order_line__order__number",
                "order_line__quantity",
                "order_line__unit_price",
                "order_line__line_number",
            ),
            key=repr,
        ),
    }


@pytest.fixture
def clean_union(tmp_path) -> dict[str, list[tuple]]:
    run_import(write(tmp_path, "whole.csv", frame()))
    expected = snapshot()
    clear()
    return expected


def test_the_clean_import_keeps_true_duplicate_rows_with_their_count(tmp_path):
    output = run_import(write(tmp_path, "whole.csv", frame()))

    lines = OrderLine.objects.filter(order__number="100001", product__sku="10001")
    assert sorted(lines.values_list("quantity", "unit_price")) == [
        (6, Decimal("2.55")),
        (6, Decimal("2.55")),
        (12, Decimal("2.10")),
    ]
    assert OrderLine.objects.filter(order__number="100002", product__sku="10004").count() == 2
    assert Cancellation.objects.filter(reference="C100006").count() == 2
    assert "order lines:   13 new, 0 already present, 0 conflicting" in output
    assert "All 18 rows accounted for." in output


@pytest.mark.parametrize(
    "first, second",
    [
        ("first_half", "second_half"),
        ("second_half", "first_half"),
        ("whole", "whole_reordered"),
    ],
)
def test_overlapping_imports_in_any_order_give_the_database_of_one_clean_import(
    tmp_path, clean_union, first, second
):
    whole = frame()
    files = {  # the halves overlap on whole invoices (100002, 100003)
        "whole": whole,
        "first_half": whole.iloc[:11],
        "second_half": whole.iloc[6:],
        "whole_reordered": whole.iloc[::-1],
    }
    run_import(write(tmp_path, f"{first}.csv", files[first]))
    output = run_import(write(tmp_path, f"{second}.csv", files[second]))

    assert snapshot() == clean_union
    assert f"All {len(files[second])} rows accounted for." in output


def rejects_of(path: Path) -> pd.DataFrame:
    return pd.read_csv(path.with_name(path.name + ".rejected.csv"), dtype=str, keep_default_na=False)


def test_an_invoice_whose_repeated_rows_are_split_between_two_exports_is_a_conflict_not_already_present(
    tmp_path,
):
    """Issue 21: invoice 100002 holds its tea towel line twice; each export holds one copy."""
    whole = frame()
    run_import(write(tmp_path, "first.csv", whole.drop(index=8)))
    second = write(tmp_path, "second.csv", whole.loc[[8, 17]])  # the other copy, and a whole invoice
    output = run_import(second)

    rejected = rejects_of(second)
    assert rejected.set_index("row")["reason"].to_dict() == {"1": "partial_invoice"}
    detail = rejected.loc[0, "detail"]
    assert "invoice 100002: 1 stored line(s) of 10004 x 3 at 1.25 and 1 in this file" in detail
    assert "the file holds 1 row(s) of it and 2 line(s) are stored" in detail
    assert "order lines:   0 new, 1 already present, 1 conflicting" in output
    assert OrderLine.objects.filter(order__number="100002", product__sku="10004").count() == 1
    assert "All 2 rows accounted for." in output


@pytest.mark.parametrize("first, second", [("sample", "whole"), ("whole", "sample")])
def test_a_file_holding_part_of_a_stored_invoice_reports_the_overlap_with_both_sides_never_as_present(
    tmp_path, first, second
):
    whole = frame()
    files = {"whole": whole, "sample": whole.iloc[::2]}  # every other row: splits every invoice
    run_import(write(tmp_path, f"{first}.csv", files[first]))
    before = snapshot()
    path = write(tmp_path, f"{second}.csv", files[second])
    output = run_import(path)

    rejected = rejects_of(path)
    partial = rejected[rejected["reason"] == "partial_invoice"]
    # Every row whose content both sides hold, on an invoice the two files hold differently.
    assert len(partial) == (10 if second == "whole" else 8)
    assert all("stored line(s)" in detail and "in this file" in detail for detail in partial["detail"])
    assert "0 already present" in output
    assert f"All {len(files[second])} rows accounted for." in output
    after = snapshot()
    if second == "sample":
        assert after == before
    else:  # only content no stored line of the invoice had was added; no stored copy was doubled
        content = Counter(line[:4] for line in after["lines"])
        assert content - Counter(line[:4] for line in before["lines"]) == Counter(
            {
                ("100001", "10001", 12, Decimal("2.10")): 1,
                ("100001", "10002", 4, Decimal("1.00")): 1,
                ("100001", "10003", 1, Decimal("5.00")): 1,
                ("100003", "10001", 1, Decimal("2.55")): 1,
                ("100005", "10003", 5, Decimal("5.00")): 1,
                ("100007", "10002", 8, Decimal("0.95")): 1,
            }
        )
        assert max(content.values()) == 2  # the true duplicate of 100001, as the sample held it


def test_a_re_import_reports_every_row_as_already_present(tmp_path):
    path = write(tmp_path, "whole.csv", frame())
    run_import(path)
    output = run_import(path)
    assert "order lines:   0 new, 13 already present, 0 conflicting" in output
    assert "cancellations: 0 new (0 linked to their sale), 4 already present, 0 conflicting" in output


def test_a_row_that_conflicts_with_a_stored_invoice_is_rejected_with_its_reason_not_merged(tmp_path):
    run_import(write(tmp_path, "whole.csv", frame()))
    before = snapshot()
    other = frame(
        [
            ("100003", "10004", "TEA TOWEL", "1", "2011-03-03 11:00:00", "1.25", "12999", "United Kingdom"),
            ("C100004", "10001", "RED MUG", "-6", "2011-03-09 12:00:00", "2.55", "12001", "United Kingdom"),
            ("100008", "10004", "TEA TOWEL", "1", "2011-03-08 11:00:00", "1.25", "12002", "France"),
        ]
    )
    path = write(tmp_path, "other.csv", other)
    output = run_import(path)

    rejected = pd.read_csv(path.with_name("other.csv.rejected.csv"), dtype=str, keep_default_na=False)
    assert rejected.set_index("row")["reason"].to_dict() == {
        "1": "conflicting_order",
        "2": "conflicting_cancellation",
    }
    assert "12001" in rejected.loc[0, "detail"] and "12999" in rejected.loc[0, "detail"]
    assert "order lines:   1 new, 0 already present, 1 conflicting" in output
    assert "cancellations: 0 new (0 linked to their sale), 0 already present, 1 conflicting" in output
    after = snapshot()
    assert Order.objects.get(number="100003").customer.external_id == "12001"
    assert [line for line in after["lines"] if line[0] == "100003"] == [
        line for line in before["lines"] if line[0] == "100003"
    ]
    assert after["cancellations"] == before["cancellations"]
    assert "All 3 rows accounted for." in output


# --- dates -------------------------------------------------------------------------------------


def test_rows_dated_in_the_future_or_before_the_earliest_date_are_rejected_with_reasons(tmp_path, settings):
    settings.IMPORT_EARLIEST_DATE = "2000-01-01"
    rows = [
        *ROWS[:2],
        ("100009", "10001", "RED MUG", "1", "2099-01-01 00:00:00", "2.55", "12001", "United Kingdom"),
        ("100010", "10001", "RED MUG", "1", "1900-01-01 00:00:00", "2.55", "12001", "United Kingdom"),
    ]
    path = write(tmp_path, "dates.csv", frame(rows))
    output = run_import(path)

    rejected = pd.read_csv(path.with_name("dates.csv.rejected.csv"), dtype=str, keep_default_na=False)
    assert rejected.set_index("row")["reason"].to_dict() == {"3": "future_date", "4": "before_earliest_date"}
    assert not Order.objects.filter(number__in=["100009", "100010"]).exists()
    assert "All 4 rows accounted for." in output


def _with_dates(dates: list[str]) -> pd.DataFrame:
    data = frame(ROWS[: len(dates)]).copy()
    data["InvoiceNo"] = [f"2000{i:02d}" for i in range(len(dates))]
    data["InvoiceDate"] = dates
    return data


def test_slash_dates_in_two_conventions_are_refused(tmp_path):
    path = write(
        tmp_path, "mixed.csv", _with_dates(["01/02/2011 10:00", "13/02/2011 10:00", "02/14/2011 10:00"])
    )
    with pytest.raises(CommandError, match=r"Nothing imported: .*InvoiceDate.*day.*month"):
        run_import(path)
    assert Order.objects.count() == 0


def test_ambiguous_slash_dates_are_refused_unless_the_format_is_given(tmp_path):
    path = write(tmp_path, "ambiguous.csv", _with_dates(["01/02/2011 10:00", "03/04/2011 10:00"]))
    with pytest.raises(CommandError, match=r"Nothing imported: .*InvoiceDate.*--date-format"):
        run_import(path)
    assert Order.objects.count() == 0

    run_import(path, "--date-format", "%d/%m/%Y %H:%M")
    assert sorted(Order.objects.values_list("placed_at", flat=True)) == [
        datetime(2011, 2, 1, 10, tzinfo=UTC),
        datetime(2011, 4, 3, 10, tzinfo=UTC),
    ]


def test_a_given_date_format_reads_every_row_in_it_or_names_the_row_that_does_not_fit(tmp_path):
    path = write(tmp_path, "dayfirst.csv", _with_dates(["01/02/2011 10:00", "13/02/2011 10:00"]))
    run_import(path, "--date-format", "%d/%m/%Y %H:%M")
    assert sorted(Order.objects.values_list("placed_at", flat=True)) == [
        datetime(2011, 2, 1, 10, tzinfo=UTC),
        datetime(2011, 2, 13, 10, tzinfo=UTC),
    ]
    bad = write(tmp_path, "bad.csv", _with_dates(["01/02/2011 10:00", "2011-02-13 10:00"]))
    with pytest.raises(CommandError, match=r"Nothing imported: .*InvoiceDate.*row 2"):
        run_import(bad, "--date-format", "%d/%m/%Y %H:%M")


def test_the_original_uci_month_first_layout_still_imports(tmp_path):
    path = write(tmp_path, "uci.csv", _with_dates(["12/1/2010 8:26", "12/13/2010 9:00"]))
    run_import(path)
    assert sorted(Order.objects.values_list("placed_at", flat=True)) == [
        datetime(2010, 12, 1, 8, 26, tzinfo=UTC),
        datetime(2010, 12, 13, 9, 0, tzinfo=UTC),
    ]


def test_mixed_utc_offsets_are_normalised_to_utc(tmp_path):
    path = write(
        tmp_path, "offsets.csv", _with_dates(["2011-03-01T09:00:00+01:00", "2011-03-01T09:00:00+00:00"])
    )
    run_import(path)
    assert sorted(Order.objects.values_list("placed_at", flat=True)) == [
        datetime(2011, 3, 1, 8, tzinfo=UTC),
        datetime(2011, 3, 1, 9, tzinfo=UTC),
    ]


def test_dates_with_and_without_an_offset_in_one_file_are_refused(tmp_path):
    path = write(tmp_path, "offsets.csv", _with_dates(["2011-03-01T09:00:00+01:00", "2011-03-01 09:00:00"]))
    with pytest.raises(CommandError, match=r"Nothing imported: .*InvoiceDate.*offset.*row 2"):
        run_import(path)
    assert Order.objects.count() == 0


# --- import order ------------------------------------------------------------------------------


def test_an_unwritable_rejects_path_leaves_nothing_committed(tmp_path):
    path = write(tmp_path, "whole.csv", frame())
    unwritable = tmp_path / "a_directory"
    unwritable.mkdir()
    with pytest.raises(CommandError, match="Nothing imported: .*rejected rows"):
        run_import(path, "--rejects", str(unwritable))
    assert Order.objects.count() == OrderLine.objects.count() == Product.objects.count() == 0


def test_a_failed_row_accounting_leaves_nothing_committed(tmp_path, monkeypatch):
    monkeypatch.setattr(import_services.TransactionImportResult, "rows_accounted", property(lambda self: 1))
    path = write(tmp_path, "whole.csv", frame())
    with pytest.raises(CommandError, match="Nothing imported: accounted for 1 rows but read 18"):
        run_import(path)
    assert Order.objects.count() == OrderLine.objects.count() == Product.objects.count() == 0
    assert not path.with_name("whole.csv.rejected.csv").exists()


# --- bad values --------------------------------------------------------------------------------


def test_bad_values_are_rejected_with_reasons(tmp_path, settings):
    settings.IMPORT_MAX_UNIT_PRICE = 10_000
    rows = [
        ROWS[0],
        ("100011", "10001", "RED MUG", "1", "2011-03-01 09:00:00", "0.001", "12001", "United Kingdom"),
        ("100012", "10001", "RED MUG", "1", "2011-03-01 09:00:00", "99999999.99", "12001", "United Kingdom"),
        ("100013", "10001", "RED MUG", "1", "2011-03-01 09:00:00", "2.55", "12003", "X" * 65),
        ("100014", "10001", "R" * 256, "1", "2011-03-01 09:00:00", "2.55", "12001", "United Kingdom"),
    ]
    path = write(tmp_path, "bad.csv", frame(rows))
    output = run_import(path)

    rejected = pd.read_csv(path.with_name("bad.csv.rejected.csv"), dtype=str, keep_default_na=False)
    assert rejected.set_index("row")["reason"].to_dict() == {
        "2": "price_below_smallest_unit",
        "3": "price_too_high",
        "4": "text_too_long",
        "5": "text_too_long",
    }
    assert "Country" in rejected.set_index("row").loc["4", "detail"]
    assert list(Order.objects.values_list("number", flat=True)) == ["100001"]
    assert "All 5 rows accounted for." in output


@pytest.mark.parametrize(
    "column, value",
    [("CustomerID", "1e3"), ("Quantity", "1e3"), ("CustomerID", "12.5"), ("UnitPrice", "abc")],
)
def test_ids_and_numbers_that_do_not_parse_stop_the_import_naming_row_and_column(tmp_path, column, value):
    data = frame()
    data.loc[3, column] = value
    with pytest.raises(CommandError, match=rf"Nothing imported: .*column {column}.*row 4"):
        run_import(write(tmp_path, "bad.csv", data))
    assert Order.objects.count() == 0


def test_a_file_over_the_size_limit_is_refused_before_reading(tmp_path, settings, monkeypatch):
    settings.IMPORT_MAX_FILE_BYTES = 100
    path = write(tmp_path, "whole.csv", frame())

    def never(*args, **kwargs):
        raise AssertionError("the file was read")

    monkeypatch.setattr(pd, "read_csv", never)
    with pytest.raises(CommandError, match=r"Nothing imported: .*IMPORT_MAX_FILE_BYTES"):
        run_import(path)


@pytest.mark.parametrize("timestamp", ["100000000000000", "1000000000000000000", "-1"])
def test_rating_timestamps_out_of_range_are_rejected_with_a_reason(tmp_path, timestamp):
    directory = tmp_path / "ml"
    directory.mkdir()
    (directory / "movies.csv").write_text("movieId,title,genres\n1,Toy Story (1995),Animation\n")
    (directory / "ratings.csv").write_text(
        f"userId,movieId,rating,timestamp\n1,1,4.0,964982703\n2,1,3.0,{timestamp}\n"
    )
    output = io.StringIO()
    call_command("import_ratings", str(directory), stdout=output, verbosity=0)
    rejected = pd.read_csv(directory / "ratings.csv.rejected.csv", dtype=str, keep_default_na=False)
    assert rejected.set_index("row")["reason"].to_dict() == {"2": "invalid_timestamp"}


def _ratings_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "ml"
    directory.mkdir()
    (directory / "movies.csv").write_text("movieId,title,genres\n1,Toy Story (1995),Animation\n")
    (directory / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n2,1,9.0,1\n")
    return directory


def test_ratings_with_an_unwritable_rejects_path_leave_nothing_committed(tmp_path):
    from shop.models import Rating

    directory = _ratings_dir(tmp_path)
    with pytest.raises(CommandError, match="Nothing imported: .*rejected rows"):
        call_command(
            "import_ratings", str(directory), rejects=str(tmp_path), stdout=io.StringIO(), verbosity=0
        )
    assert Rating.objects.count() == Product.objects.count() == Customer.objects.count() == 0


def test_a_ratings_file_over_the_size_limit_is_refused_before_reading(tmp_path, settings):
    settings.IMPORT_MAX_FILE_BYTES = 40
    with pytest.raises(CommandError, match=r"Nothing imported: ratings.csv: .*IMPORT_MAX_FILE_BYTES"):
        call_command("import_ratings", str(_ratings_dir(tmp_path)), stdout=io.StringIO(), verbosity=0)


def test_a_file_of_cancellations_whose_customer_bought_nothing_imports_them_unlinked(tmp_path):
    output = run_import(write(tmp_path, "returns.csv", frame([ROWS[11], ROWS[12]])))
    assert "cancellations: 2 new (0 linked to their sale), 0 already present, 0 conflicting" in output
    assert not Cancellation.objects.filter(order_line__isnull=False).exists()


# --- encodings (issue 21) ----------------------------------------------------------------------


def test_a_windows_1252_export_is_refused_without_encoding_and_imports_with_it(tmp_path):
    rows = [
        ("100001", "10001", "CAFÉ AU LAIT BOWL", "6", "2011-03-01 09:00:00", "2.55", "12001", "Côte d'Ivoire")
    ]
    path = tmp_path / "windows.csv"
    path.write_bytes(frame(rows).to_csv(index=False).encode("cp1252"))

    with pytest.raises(
        CommandError, match=r"Nothing imported: windows.csv: .*not utf-8 text.*--encoding cp1252"
    ):
        run_import(path)
    assert not Order.objects.exists()

    output = run_import(path, "--encoding", "cp1252")
    assert "All 1 rows accounted for." in output
    assert Product.objects.get().name == "CAFÉ AU LAIT BOWL"
    assert Customer.objects.get().country == "Côte d'Ivoire"


def test_a_byte_order_mark_says_the_encoding_and_never_reaches_the_first_column_name(tmp_path):
    text = frame(ROWS[:2]).to_csv(index=False)
    for name, data in [("utf8.csv", b"\xef\xbb\xbf" + text.encode()), ("utf16.csv", text.encode("utf-16"))]:
        path = tmp_path / name
        path.write_bytes(data)
        assert "All 2 rows accounted for." in run_import(path)
    assert Order.objects.get().number == "100001"


def test_an_unknown_encoding_name_stops_before_reading(tmp_path):
    with pytest.raises(CommandError, match="Nothing imported: unknown encoding 'latin-9000'"):
        run_import(write(tmp_path, "whole.csv", frame()), "--encoding", "latin-9000")
