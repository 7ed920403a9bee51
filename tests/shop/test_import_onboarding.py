"""Issue 17 §1: a shop loads its own stock counts, suppliers, supply terms and categories.

Each import keeps the transaction import's discipline: every row imported or rejected with one
reason (a rejects file with a ``detail`` column), a summary that adds up, one transaction, "Nothing
imported" for a malformed file, and a re-run that changes nothing.
"""

from __future__ import annotations

import codecs
import io
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from inventory.models import CategoryServiceLevel, ProductSupply, Supplier
from inventory.selectors import missing_shop_data, service_levels_for
from recommender.selectors import catalogue_frame
from shop import services
from shop.models import Category, Order, OrderLine, Product, StockMovement, StockRecord
from tests.shop.factories import make_customer, make_product

pytestmark = pytest.mark.django_db


def run(command: str, path: Path, *args: str) -> str:
    out = io.StringIO()
    call_command(command, str(path), *args, stdout=out)
    return out.getvalue()


def write_csv(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def rejects(path: Path) -> pd.DataFrame:
    return pd.read_csv(path.with_name(path.name + ".rejected.csv"), dtype=str, keep_default_na=False)


@pytest.fixture
def catalogue():
    """Three products as an import of transactions leaves them: no stock, terms or category."""
    return {sku: Product.objects.create(sku=sku, name=name, price=Decimal(price)) for sku, name, price in [
        ("85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "2.55"),
        ("22423", "REGENCY CAKESTAND 3 TIER", "12.75"),
        ("71053", "WHITE METAL LANTERN", "3.39"),
    ]}  # fmt: skip


# --- stock counts -------------------------------------------------------------------------------------

STOCK = """SKU,On_Hand,bin
85123A,40,A1
22423,abc,A2
22423,7,A2
NOPE,3,B1
85123a,40,A1
71053,-1,C3
,5,C4
"""


def test_a_stock_count_sets_on_hand_with_one_stocktake_movement_per_difference_and_rejects_the_rest(
    tmp_path, catalogue
):
    path = write_csv(tmp_path, "stock.csv", STOCK)
    output = run("import_stock", path)

    assert dict(StockRecord.objects.values_list("product__sku", "on_hand")) == {"85123A": 40, "22423": 7}
    movements = StockMovement.objects.filter(reason=StockMovement.Reason.STOCKTAKE)
    assert sorted(movements.values_list("product__sku", "quantity")) == [("22423", 7), ("85123A", 40)]
    table = rejects(path)
    assert table.set_index("row")["reason"].to_dict() == {
        "2": "invalid_value",
        "4": "unknown_sku",
        "5": "duplicate_row",
        "6": "invalid_value",
        "7": "missing_value",
    }
    assert list(table.columns) == ["row", "SKU", "On_Hand", "bin", "reason", "detail"]
    assert table.loc[table["row"] == "5", "detail"].item() == "same as row 1"
    assert "stock counts: 2 imported (2 new, 0 changed, 0 unchanged)" in output
    assert "rejected: 5" in output and "All 7 rows accounted for." in output


def test_a_recount_records_only_the_differences_and_a_rerun_changes_nothing(tmp_path, catalogue):
    run("import_stock", write_csv(tmp_path, "first.csv", "sku,on_hand\n85123A,40\n22423,7\n"))
    recount = write_csv(tmp_path, "recount.csv", "sku,on_hand\n85123A,35\n22423,7\n71053,0\n")
    output = run("import_stock", recount)
    assert "3 imported (1 new, 1 changed, 1 unchanged)" in output
    assert StockMovement.objects.filter(product__sku="85123A").values_list("quantity", flat=True).count() == 2

    movements = StockMovement.objects.count()
    again = run("import_stock", recount)

    assert "3 imported (0 new, 0 changed, 3 unchanged)" in again
    assert StockMovement.objects.count() == movements
    for record in StockRecord.objects.all():  # the ledger still sums to on hand
        assert sum(record.product.stock_movements.values_list("quantity", flat=True)) == record.on_hand


def test_a_count_below_the_units_reserved_by_placed_orders_is_rejected(tmp_path, catalogue):
    product = catalogue["22423"]
    services.stock_receive(product=product, quantity=10)
    services.order_place(customer=make_customer(), lines=[services.LineRequest(product.pk, 4)])
    path = write_csv(tmp_path, "stock.csv", "sku,on_hand\n22423,3\n")

    output = run("import_stock", path)

    assert StockRecord.objects.get(product=product).on_hand == 10
    assert rejects(path)["detail"].item() == "counted 3 but 4 are reserved by placed orders"
    assert "below_reserved: 1" in output


# --- malformed files, encodings, formats --------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "text", "message"),
    [
        ("import_stock", "sku,count\n85123A,4\n", r"missing column\(s\) on_hand"),
        ("import_suppliers", "email\nx@y.example\n", r"missing column\(s\) name"),
        ("import_supply_terms", "sku,supplier\n85123A,Acme\n", r"missing column\(s\) unit_cost"),
        ("import_categories", "sku,category\n", "has a header but no rows"),
        ("import_stock", "", "cannot be read as .csv"),
    ],
)
def test_a_malformed_file_imports_nothing_and_says_why(tmp_path, catalogue, command, text, message):
    with pytest.raises(CommandError, match=rf"Nothing imported: .*{message}"):
        run(command, write_csv(tmp_path, "bad.csv", text))
    assert (
        not StockRecord.objects.exists() and not Supplier.objects.exists() and not Category.objects.exists()
    )


WINDOWS_SUPPLIERS = "name,email,lead_time_days\nCafé Crème Ltd,orders@cafe.example,5\n"


@pytest.mark.parametrize(
    "command", ["import_suppliers", "import_stock", "import_supply_terms", "import_categories"]
)
def test_a_windows_1252_file_is_refused_with_the_option_to_name_its_encoding(tmp_path, catalogue, command):
    path = write_csv(tmp_path, "cp1252.csv", WINDOWS_SUPPLIERS.replace("name", "sku"), encoding="cp1252")
    with pytest.raises(CommandError, match=r"Nothing imported: .*not utf-8 text.*try --encoding cp1252"):
        run(command, path)


def test_a_windows_1252_file_imports_with_encoding_and_a_byte_order_mark_needs_no_option(tmp_path):
    run(
        "import_suppliers", write_csv(tmp_path, "cp.csv", WINDOWS_SUPPLIERS, "cp1252"), "--encoding", "cp1252"
    )
    assert Supplier.objects.get().name == "Café Crème Ltd"

    with_bom = tmp_path / "bom.csv"
    with_bom.write_bytes(codecs.BOM_UTF8 + WINDOWS_SUPPLIERS.replace("Café", "Thé").encode())
    output = run("import_suppliers", with_bom)
    assert "1 imported (1 new" in output  # the header is "name", not "\ufeffname"
    assert Supplier.objects.filter(name="Thé Crème Ltd").exists()


def test_an_unknown_encoding_is_refused_before_reading(tmp_path):
    with pytest.raises(CommandError, match="Nothing imported: unknown encoding 'klingon'"):
        run("import_suppliers", write_csv(tmp_path, "s.csv", WINDOWS_SUPPLIERS), "--encoding", "klingon")


@pytest.mark.parametrize("suffix", [".csv.gz", ".xlsx", ".parquet"])
def test_gzipped_excel_and_parquet_files_import_like_the_csv(tmp_path, catalogue, suffix):
    frame = pd.DataFrame({"sku": ["85123A", "22423"], "category": ["Home > Candles", "Kitchen > Baking"]})
    path = tmp_path / f"categories{suffix}"
    if suffix == ".xlsx":
        frame.to_excel(path, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, compression="gzip")

    assert "2 imported (2 new" in run("import_categories", path)
    assert Product.objects.get(sku="22423").category.name == "Kitchen > Baking"


# --- suppliers and supply terms -----------------------------------------------------------------------


def test_suppliers_are_upserted_by_name_in_any_case_and_a_blank_cell_keeps_the_stored_value(tmp_path):
    first = write_csv(
        tmp_path,
        "suppliers.csv",
        "name,email,lead_time_days\nAcme Ltd,orders@acme.example,5\nacme ltd,orders@acme.example,5\n"
        "Bad Co,not-an-email,3\nSlow Co,,0\nQuick Co,,\n",
    )
    output = run("import_suppliers", first)
    assert sorted(Supplier.objects.values_list("name", "email", "lead_time_days")) == [
        ("Acme Ltd", "orders@acme.example", 5),
        ("Quick Co", "", 7),  # INVENTORY_LEAD_TIME_DAYS
    ]
    assert rejects(first).set_index("row")["reason"].to_dict() == {
        "2": "duplicate_row",
        "3": "invalid_value",
        "4": "invalid_value",
    }
    assert "All 5 rows accounted for." in output

    update = write_csv(tmp_path, "update.csv", "name,lead_time_days\nACME LTD,9\nQuick Co,\n")
    assert "2 imported (0 new, 1 changed, 1 unchanged)" in run("import_suppliers", update)
    assert Supplier.objects.get(name="Acme Ltd").email == "orders@acme.example"  # not in the file: kept
    assert Supplier.objects.get(name="Acme Ltd").lead_time_days == 9
    assert "0 new, 0 changed, 2 unchanged" in run("import_suppliers", update)


def test_one_name_with_two_different_rows_is_ambiguous_so_neither_counts(tmp_path):
    path = write_csv(tmp_path, "s.csv", "name,lead_time_days\nAcme,5\nAcme,6\n")
    run("import_suppliers", path)
    assert not Supplier.objects.exists()
    assert set(rejects(path)["reason"]) == {"conflicting_rows"}
    assert rejects(path)["detail"][0] == "rows 1, 2 give different values for this supplier name"


def test_supply_terms_are_upserted_by_sku_and_unknown_products_or_suppliers_are_rejected(tmp_path, catalogue):
    Supplier.objects.create(name="Acme Ltd", lead_time_days=5)
    path = write_csv(
        tmp_path,
        "terms.csv",
        "sku,supplier,unit_cost,minimum_order,pack_size,lead_time_days,notes\n"
        "85123a,ACME LTD,1.205,24,6,,fast seller\n"
        "22423,Acme Ltd,7.00,,,10,\n"
        "71053,Nobody Ltd,2,,,,\n"
        "NOPE,Acme Ltd,2,,,,\n"
        "71053,Acme Ltd,-1,,,,\n"
        "71053,Acme Ltd,2,0,,,\n",
    )
    output = run("import_supply_terms", path)

    terms = {t.product.sku: t for t in ProductSupply.objects.select_related("product", "supplier")}
    assert set(terms) == {"85123A", "22423"}
    assert (terms["85123A"].unit_cost, terms["85123A"].minimum_order, terms["85123A"].pack_size) == (
        Decimal("1.21"),
        24,
        6,
    )
    assert terms["85123A"].lead_time_days is None  # blank: the supplier's lead time applies
    assert terms["22423"].lead_time_days == 10 and terms["22423"].supplier.name == "Acme Ltd"
    assert rejects(path).set_index("row")["reason"].to_dict() == {
        "3": "unknown_supplier",
        "4": "unknown_sku",
        "5": "invalid_value",
        "6": "invalid_value",
    }
    assert "All 6 rows accounted for." in output
    assert "0 new, 0 changed, 2 unchanged" in run("import_supply_terms", path)


def test_the_admin_adds_supply_terms_by_sku_search_never_by_database_id(admin_client, catalogue):
    page = admin_client.get("/admin/inventory/productsupply/add/").content.decode()
    assert 'name="product" required id="id_product" class="admin-autocomplete"' in page
    assert "vForeignKeyRawIdAdminField" not in page
    found = admin_client.get(
        "/admin/autocomplete/",
        {"term": "22423", "app_label": "inventory", "model_name": "productsupply", "field_name": "product"},
    ).json()
    assert [item["text"] for item in found["results"]] == ["22423 REGENCY CAKESTAND 3 TIER"]


# --- categories -----------------------------------------------------------------------------------


def test_category_paths_make_a_tree_and_a_rerun_changes_nothing(tmp_path, catalogue):
    path = write_csv(
        tmp_path,
        "categories.csv",
        "sku,category\n85123A,Home > Candles\n22423, Kitchen>Baking \n71053,Home > Lighting\nNOPE,Home\n"
        f"22423,Kitchen > Baking\n85123A,\n71053,{'x' * 121}\n",
    )
    output = run("import_categories", path)

    assert dict(Category.objects.values_list("name", "parent__name")) == {
        "Home": None,
        "Home > Candles": "Home",
        "Home > Lighting": "Home",
        "Kitchen": None,
        "Kitchen > Baking": "Kitchen",
    }
    assert Product.objects.get(sku="22423").category.name == "Kitchen > Baking"
    assert rejects(path).set_index("row")["reason"].to_dict() == {
        "4": "unknown_sku",
        "5": "duplicate_row",
        "6": "missing_value",
        "7": "text_too_long",
    }
    assert "categories: 5 created" in output
    assert "0 new, 0 changed, 3 unchanged" in run("import_categories", path)


def test_a_category_covers_its_sub_categories_in_the_catalogue_filter_and_the_category_list(
    tmp_path, catalogue, client
):
    for product in catalogue.values():
        services.stock_receive(product=product, quantity=5)
    run("import_categories", write_csv(tmp_path, "c.csv", "sku,category\n85123A,Home > Candles\n"
                                       "71053,Home > Lighting\n22423,Kitchen > Baking\n"))  # fmt: skip

    home = client.get("/api/products/", {"category": "home"}).json()
    assert sorted(item["sku"] for item in home["results"]) == ["71053", "85123A"]
    leaf = client.get("/api/products/", {"category": "Home > Candles"}).json()
    assert [item["sku"] for item in leaf["results"]] == ["85123A"]
    categories = {row["name"]: row for row in client.get("/api/categories/").json()}
    assert categories["Home"]["products"] == 2 and categories["Home"]["parent"] is None
    assert categories["Home > Candles"] == {
        "id": categories["Home > Candles"]["id"],
        "name": "Home > Candles",
        "parent": categories["Home"]["id"],
        "products": 1,
    }


def test_a_category_service_level_applies_to_its_sub_categories_unless_they_set_their_own(
    tmp_path, catalogue
):
    run("import_categories", write_csv(tmp_path, "c.csv", "sku,category\n85123A,Home > Candles\n"
                                       "71053,Home > Lighting\n22423,Kitchen > Baking\n"))  # fmt: skip
    CategoryServiceLevel.objects.create(category=Category.objects.get(name="Home"), service_level=0.99)
    CategoryServiceLevel.objects.create(
        category=Category.objects.get(name="Home > Lighting"), service_level=0.9
    )

    levels = service_levels_for(product_ids=[p.pk for p in catalogue.values()])

    assert levels[catalogue["85123A"].pk] == 0.99  # from Home
    assert levels[catalogue["71053"].pk] == 0.9  # its own category's
    assert levels[catalogue["22423"].pk] == 0.95  # INVENTORY_SERVICE_LEVEL


def test_content_similarity_reads_both_levels_of_the_category(tmp_path, catalogue):
    run("import_categories", write_csv(tmp_path, "c.csv", "sku,category\n22423,Kitchen > Baking\n"))
    text = catalogue_frame().set_index("product").loc[catalogue["22423"].pk, "text"]
    assert "Kitchen" in text and "Baking" in text


# --- what is missing ------------------------------------------------------------------------------


def test_the_dashboard_and_the_worklist_say_what_is_missing_until_each_import_fixes_it(
    tmp_path, catalogue, admin_client
):
    order = Order.objects.create(number="536365", status=Order.Status.FULFILLED)  # as an import leaves it
    for number, product in enumerate(catalogue.values(), start=1):
        OrderLine.objects.create(order=order, line_number=number, product=product, quantity=2, unit_price=1)
    make_product(name="Never sold")  # not part of what the worklist needs

    keys = [gap.key for gap in missing_shop_data()]
    assert keys == ["stock", "suppliers", "terms", "categories"]
    gaps = {gap.key: gap for gap in missing_shop_data()}
    assert gaps["terms"].message == "3 products have no supplier"
    for url in ("/admin/", "/admin/inventory/reordersuggestion/"):
        page = admin_client.get(url).content.decode()
        assert "3 products have no supplier: " in page
        assert 'href="/admin/inventory/productsupply/import/">import supply terms</a>' in page
        assert "No stock count yet" in page

    run("import_stock", write_csv(tmp_path, "s.csv", "sku,on_hand\n85123A,5\n22423,5\n"))
    run("import_suppliers", write_csv(tmp_path, "p.csv", "name\nAcme\n"))
    run("import_supply_terms", write_csv(tmp_path, "t.csv", "sku,supplier,unit_cost\n85123A,Acme,1\n"
                                         "22423,Acme,0\n"))  # fmt: skip
    gaps = {gap.key: gap for gap in missing_shop_data()}
    assert list(gaps) == ["stock", "terms", "costs", "categories"]
    assert gaps["stock"].message == "1 product has no stock count"
    assert gaps["terms"].message == "1 product has no supplier"
    assert gaps["costs"].message == "1 product with a supplier has no unit cost"

    run("import_supply_terms", write_csv(tmp_path, "t2.csv", "sku,supplier,unit_cost\n22423,Acme,3\n"
                                         "71053,Acme,2\n"))  # fmt: skip
    run(
        "import_categories",
        write_csv(tmp_path, "c.csv", "sku,category\n85123A,Home\n22423,Home\n71053,Home\n"),
    )
    run("import_stock", write_csv(tmp_path, "s2.csv", "sku,on_hand\n71053,0\n"))  # counted, if none there
    assert missing_shop_data() == []
    assert 'id="missing-shop-data"' not in admin_client.get("/admin/").content.decode()
