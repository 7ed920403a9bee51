"""Reorder point and order-up-to level per product, from data before a date, as CSV.

One forecast serves every service level asked for, so a sweep costs one forecast:
``--service-level 0.9 0.95 0.98 --output-dir DIR`` writes ``DIR/sl_0.9.csv`` and so on.
"""

from __future__ import annotations

import csv
import sys
from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from inventory.services import (
    InventoryError,
    demand_histories,
    product_ids_for_skus,
    reorder_levels_forecasts,
    reorder_levels_from,
)


class Command(BaseCommand):
    help = "Write product_sku,reorder_point,order_up_to for every product sold before --as-of."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", type=date.fromisoformat, required=True)
        parser.add_argument("--lead-time-days", type=int, default=7)
        parser.add_argument(
            "--service-level",
            "--service-levels",
            dest="service_levels",
            type=float,
            nargs="+",
            default=[0.95],
            help="One or more service levels; several need --output-dir",
        )
        parser.add_argument("--output-dir", type=Path, help="Write one CSV per level here (sl_<level>.csv)")
        parser.add_argument("--products", nargs="+", metavar="SKU", help="Only these products")
        parser.add_argument("--cover-days", type=int, default=None, help="Order quantity in days of demand")
        parser.add_argument("--workers", type=int, default=1, help="Processes for the forecasts")
        parser.add_argument("--format", choices=["csv"], default="csv")

    def handle(self, *args, **options):
        levels = options["service_levels"]
        if any(not 0 < level < 1 for level in levels):
            raise CommandError("--service-level must be between 0 and 1.")
        if len(levels) > 1 and not options["output_dir"]:
            raise CommandError("Several service levels need --output-dir (one CSV per level).")
        product_ids = None
        if options["products"]:
            try:
                product_ids = product_ids_for_skus(skus=options["products"])
            except InventoryError as exc:
                raise CommandError(str(exc)) from exc
        with tqdm(desc="forecast", unit="product", file=sys.stderr) as bar:
            forecasts = reorder_levels_forecasts(
                as_of=options["as_of"],
                lead_time_days=options["lead_time_days"],
                product_ids=product_ids,
                workers=options["workers"],
                progress=bar.update,
            )
        histories = demand_histories(as_of=options["as_of"], product_ids=list(forecasts))
        if options["output_dir"]:
            options["output_dir"].mkdir(parents=True, exist_ok=True)
        for level in levels:
            rows = reorder_levels_from(
                forecasts=forecasts,
                histories=histories,
                lead_time_days=options["lead_time_days"],
                service_level=level,
                cover_days=options["cover_days"],
            )
            if options["output_dir"]:
                path = options["output_dir"] / f"sl_{level:g}.csv"
                with path.open("w", newline="") as handle:
                    self._write(handle, rows)
                self.stderr.write(f"{path}: {len(rows)} products at service level {level:g}")
            else:
                self._write(self.stdout, rows)
                self.stderr.write(f"{len(rows)} products")

    @staticmethod
    def _write(handle, rows) -> None:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["product_sku", "reorder_point", "order_up_to"])
        writer.writerows((row.sku, row.reorder_point, row.order_up_to) for row in rows)
