"""The supplier and supply-terms imports' resources for the admin (see ``shop.importing.admin``)."""

from __future__ import annotations

from import_export.fields import Field

from shop.importing.admin import KeyedImportResource
from shop.importing.tables import TableImportResult, TablePlan

from .importing import plan_suppliers, plan_supply_terms


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
    plan = staticmethod(plan_suppliers)
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
    plan = staticmethod(plan_supply_terms)
    write = staticmethod(_terms_write)
    shown = ("supplier", "unit_cost", "minimum_order", "pack_size", "lead_time_days")
    display_name = "Supply terms"
