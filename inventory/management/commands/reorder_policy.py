"""Reorder point and order-up-to level per product, from data before a date, as CSV on stdout."""

from __future__ import annotations

import csv
import sys
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from inventory.services import demand_histories, reorder_levels_forecasts, reorder_levels_from


class Command(BaseCommand):
    help = "Write product_sku,reorder_point,order_up_to for every product sold before --as-of."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", type=date.fromisoformat, required=True)
        parser.add_argument("--lead-time-days", type=int, default=7)
        parser.add_argument("--service-level", type=float, default=0.95)
        parser.add_argument("--cover-days", type=int, default=None, help="Order quantity in days of demand")
        parser.add_argument("--workers", type=int, default=1, help="Processes for the forecasts")
        parser.add_argument("--format", choices=["csv"], default="csv")

    def handle(self, *args, **options):
        if not 0 < options["service_level"] < 1:
            raise CommandError("--service-level must be between 0 and 1.")
        with tqdm(desc="forecast", unit="product", file=sys.stderr) as bar:
            forecasts = reorder_levels_forecasts(
                as_of=options["as_of"],
                lead_time_days=options["lead_time_days"],
                workers=options["workers"],
                progress=bar.update,
            )
        levels = reorder_levels_from(
            forecasts=forecasts,
            histories=demand_histories(as_of=options["as_of"], product_ids=list(forecasts)),
            lead_time_days=options["lead_time_days"],
            service_level=options["service_level"],
            cover_days=options["cover_days"],
        )
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(["product_sku", "reorder_point", "order_up_to"])
        writer.writerows((level.sku, level.reorder_point, level.order_up_to) for level in levels)
        self.stderr.write(f"{len(levels)} products")
