"""Import suppliers (name,email,lead_time_days), upserted by name."""

from __future__ import annotations

from inventory.importing import plan_suppliers
from inventory.services_imports import suppliers_import
from shop.importing.command import COMMON_HELP, KeyedImportCommand


class Command(KeyedImportCommand):
    help = (
        "Import suppliers: columns name (required), email, lead_time_days (days from order to delivery, "
        "1 or more; the default of every product they supply). Upsert by name, compared case-insensitively. "
        "Rejected: missing_value, invalid_value (an email or a lead time that is not one), text_too_long, "
        "duplicate_row, conflicting_rows. " + COMMON_HELP
    )
    label = "suppliers"

    def plan(self, raw, *, source):
        return plan_suppliers(raw, source=source)

    def write(self, plan, *, source, before_commit):
        return suppliers_import(plan=plan, before_commit=before_commit)
