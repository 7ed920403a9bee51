"""The supplier and supply-terms imports' resources for the admin (see ``shop.importing.admin``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from import_export.fields import Field

from shop.importing.admin import KeyedImportResource

if TYPE_CHECKING:
    import pandas as pd

    from shop.importing.tables import TableImportResult, TablePlan


# The planners (pandas) load on the first upload, not at start-up (see shop.importing.admin).
def _suppliers_plan(frame: pd.DataFrame, *, source: str) -> TablePlan:
    from .importing import plan_suppliers

    return plan_suppliers(frame, source=source)


def _terms_plan(frame: pd.DataFrame, *, source: str) -> TablePlan:
    from .importing import plan_supply_terms

    return plan_supply_terms(frame, source=source)


def _suppliers_write(plan: TablePlan, *, dry_run: bool) -> TableImportResult:
    from .services_imports import suppliers_import

    return suppliers_import(plan=plan, dry_run=dry_run)


def _terms_write(plan: TablePlan, *, dry_run: bool) -> TableImportResult:
    from .services_imports import supply_terms_import

    return supply_terms_import(plan=plan, dry_run=dry_run)


class SupplierResource(KeyedImportResource):
    name = Field(column_name="name")
    email = Field(column_name="email")
    lead_time_days = Field(column_name="lead_time_days")
    plan = staticmethod(_suppliers_plan)
    write = staticmethod(_suppliers_write)
    shown = ("email", "lead_time_days")
    display_name = "Suppliers"


class SupplyTermsResource(KeyedImportResource):
    sku = Field(column_name="sku")
    supplier = Field(column_name="supplier")
    unit_cost = Field(column_name="unit_cost")
    minimum_order = Field(column_name="minimum_order")
    pack_size = Field(column_name="pack_size")
    lead_time_days = Field(column_name="lead_time_days")
    plan = staticmethod(_terms_plan)
    write = staticmethod(_terms_write)
    shown = ("supplier", "unit_cost", "minimum_order", "pack_size", "lead_time_days")
    display_name = "Supply terms"
