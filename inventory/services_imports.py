"""Writes behind the supplier and supply-terms imports (commands and admin alike).

Each runs in one transaction through ``shop.importing.tables.run_import``, reports every row's
outcome, and can run dry (the admin's preview): the same work, rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django.conf import settings

from shop.importing.services import update_rows
from shop.importing.tables import (
    CHANGED,
    NEW,
    REJECTED,
    UNCHANGED,
    RowOutcome,
    TableImportResult,
    TablePlan,
    chunked,
    plan_rejections,
    run_import,
)
from shop.models import Product

from .models import ProductSupply, Supplier

SUPPLIER_FIELDS = ("email", "lead_time_days")
TERMS_FIELDS = ("supplier", "unit_cost", "minimum_order", "pack_size", "lead_time_days")
TERMS_COLUMNS = ("supplier_id", "unit_cost", "minimum_order", "pack_size", "lead_time_days")
# Found by the import itself: full_clean would query each of them again, row by row.
LOOKED_UP = ["product", "supplier"]


def _given(plan: TablePlan, values: dict, fields: tuple[str, ...]) -> dict:
    """The fields the row sets: columns the file has, cells that are not blank."""
    return {
        name: value
        for name, value in values.items()
        if name in fields and name in plan.columns and value is not None and value != ""
    }


def suppliers_import(
    *,
    plan: TablePlan,
    dry_run: bool = False,
    before_commit: Callable[[TableImportResult], None] | None = None,
) -> TableImportResult:
    """Create or update suppliers by name (case-insensitive); a blank cell keeps the stored value."""

    def write() -> TableImportResult:
        result = TableImportResult(
            rows_read=plan.rows_read, outcomes=plan_rejections(plan, key_column="name")
        )
        stored = {supplier.name.casefold(): supplier for supplier in Supplier.objects.all()}
        default_lead = int(settings.INVENTORY["DEFAULT_LEAD_TIME_DAYS"])
        created = updated = 0
        for values in plan.rows.to_dict("records"):
            given = _given(plan, values, SUPPLIER_FIELDS)
            supplier = stored.get(values["key"])
            if supplier is None:
                supplier = Supplier(name=values["name"], **{"lead_time_days": default_lead, **given})
                supplier.full_clean()
                supplier.save()
                stored[values["key"]] = supplier
                created += 1
                result.outcomes.append(
                    RowOutcome(
                        row=values["row"], key=supplier.name, outcome=NEW, after=_supplier_values(supplier)
                    )
                )
                continue
            before = {name: getattr(supplier, name) for name in given}
            changes = {name: value for name, value in given.items() if before[name] != value}
            if not changes:
                result.outcomes.append(
                    RowOutcome(
                        row=values["row"],
                        key=supplier.name,
                        outcome=UNCHANGED,
                        after=_supplier_values(supplier),
                    )
                )
                continue
            for name, value in changes.items():
                setattr(supplier, name, value)
            supplier.full_clean()
            supplier.save(update_fields=list(changes))
            updated += 1
            result.outcomes.append(
                RowOutcome(
                    row=values["row"],
                    key=supplier.name,
                    outcome=CHANGED,
                    before={name: before[name] for name in changes},
                    after=_supplier_values(supplier),
                )
            )
        result.notes.append(f"  suppliers: {Supplier.objects.count():,} stored")
        return result

    return run_import(write, dry_run=dry_run, before_commit=before_commit)


def _supplier_values(supplier: Supplier) -> dict:
    return {"email": supplier.email, "lead_time_days": supplier.lead_time_days}


def supply_terms_import(
    *,
    plan: TablePlan,
    dry_run: bool = False,
    before_commit: Callable[[TableImportResult], None] | None = None,
) -> TableImportResult:
    """Create or update each product's supply terms by SKU. An unknown SKU is ``unknown_sku``, a supplier
    not stored is ``unknown_supplier`` (import suppliers first); a product's service level is kept."""

    def write() -> TableImportResult:
        result = TableImportResult(rows_read=plan.rows_read, outcomes=plan_rejections(plan, key_column="sku"))
        suppliers = {supplier.name.casefold(): supplier for supplier in Supplier.objects.all()}
        products: dict[str, int] = {}
        for chunk in chunked(plan.rows["sku"].unique().tolist()):
            products.update(Product.objects.filter(sku__in=chunk).values_list("sku", "pk"))
        terms: dict[int, ProductSupply] = {}
        for chunk in chunked(list(products.values())):
            terms.update(
                {
                    t.product_id: t
                    for t in ProductSupply.objects.filter(product_id__in=chunk).select_related("supplier")
                }
            )
        new, changed = [], []
        for values in plan.rows.to_dict("records"):
            row, sku = values["row"], values["sku"]
            if sku not in products:
                result.outcomes.append(
                    RowOutcome(
                        row=row,
                        key=sku,
                        outcome=REJECTED,
                        reason="unknown_sku",
                        detail=f"no product has SKU {sku}: import its transactions (or add it) first",
                    )
                )
                continue
            supplier = suppliers.get(values["supplier_key"])
            if supplier is None:
                result.outcomes.append(
                    RowOutcome(
                        row=row,
                        key=sku,
                        outcome=REJECTED,
                        reason="unknown_supplier",
                        detail=f"no supplier named {values['supplier']!r}: import suppliers first",
                    )
                )
                continue
            given = _given(plan, {**values, "supplier": supplier}, TERMS_FIELDS)
            stored = terms.get(products[sku])
            if stored is None:
                supply = ProductSupply(product_id=products[sku], **given)
                supply.full_clean(exclude=LOOKED_UP, validate_unique=False, validate_constraints=False)
                new.append(supply)
                result.outcomes.append(RowOutcome(row=row, key=sku, outcome=NEW, after=_terms_values(supply)))
                continue
            before = {name: getattr(stored, name) for name in given}
            changes = {name: value for name, value in given.items() if before[name] != value}
            if not changes:
                result.outcomes.append(
                    RowOutcome(row=row, key=sku, outcome=UNCHANGED, after=_terms_values(stored))
                )
                continue
            for name, value in changes.items():
                setattr(stored, name, value)
            stored.full_clean(exclude=LOOKED_UP, validate_unique=False, validate_constraints=False)
            changed.append(stored)
            result.outcomes.append(
                RowOutcome(
                    row=row,
                    key=sku,
                    outcome=CHANGED,
                    before={name: _shown(before[name]) for name in changes},
                    after=_terms_values(stored),
                )
            )
        ProductSupply.objects.bulk_create(new, batch_size=1000)
        update_rows(
            ProductSupply,
            TERMS_COLUMNS,
            [(*(getattr(supply, name) for name in TERMS_COLUMNS), supply.pk) for supply in changed],
        )
        return result

    return run_import(write, dry_run=dry_run, before_commit=before_commit)


def _shown(value):
    return value.name if isinstance(value, Supplier) else value


def _terms_values(supply: ProductSupply) -> dict:
    return {
        "supplier": supply.supplier.name if supply.supplier_id else "",
        "unit_cost": Decimal(supply.unit_cost),
        "minimum_order": supply.minimum_order,
        "pack_size": supply.pack_size,
        "lead_time_days": supply.lead_time_days,
    }
