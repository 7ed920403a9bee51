"""Import product categories (sku,category): a path like "Home > Kitchen" makes the tree."""

from __future__ import annotations

from shop.importing.catalogue import plan_categories
from shop.importing.command import COMMON_HELP, KeyedImportCommand
from shop.importing.services import categories_import


class Command(KeyedImportCommand):
    help = (
        'Import product categories: columns sku,category, where a path such as "Home > Kitchen" creates '
        '"Home" and its sub-category "Home > Kitchen". Upsert by SKU. Categories feed the catalogue filter '
        "(a category includes its sub-categories), service levels (a category's applies to its "
        "sub-categories) and content similarity at the next recommender training. Rejected: missing_value, "
        "text_too_long (a path over 120 characters), duplicate_row, conflicting_rows, unknown_sku. "
        + COMMON_HELP
    )
    label = "categories"

    def plan(self, raw, *, source):
        return plan_categories(raw, source=source)

    def write(self, plan, *, source, before_commit):
        return categories_import(plan=plan, before_commit=before_commit)
