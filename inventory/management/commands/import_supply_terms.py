"""Import supply terms (sku,supplier,unit_cost[,minimum_order,pack_size,lead_time_days]), upserted by SKU."""

from __future__ import annotations

from inventory.importing import plan_supply_terms
from inventory.services_imports import supply_terms_import
from shop.importing.command import COMMON_HELP, KeyedImportCommand


class Command(KeyedImportCommand):
    help = (
        "Import supply terms: columns sku, supplier (a name from the suppliers import), unit_cost (0 or "
        "more, rounded to the cent) and optionally minimum_order, pack_size, lead_time_days (whole, 1 or "
        "more; a lead time here overrides the supplier's). Upsert by SKU; a product's service level is kept. "
        "Rejected: missing_value, invalid_value, text_too_long, duplicate_row, conflicting_rows, "
        "unknown_sku, unknown_supplier. " + COMMON_HELP
    )
    label = "supply terms"

    def plan(self, raw, *, source):
        return plan_supply_terms(raw, source=source)

    def write(self, plan, *, source, before_commit):
        return supply_terms_import(plan=plan, before_commit=before_commit)
