"""Retrain the demand forecasts in this process and compute reorder suggestions."""

from __future__ import annotations

import sys
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from inventory.services import InventoryError, forecast_retrain


class Command(BaseCommand):
    help = "Forecast demand per product (method chosen by backtest) and suggest reorders."

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of", type=date.fromisoformat, help="First forecast day (default: after the data)"
        )
        parser.add_argument("--products", nargs="+", metavar="SKU", help="Only these products")

    def handle(self, *args, **options):
        bars: dict[str, tqdm] = {}

        def progress(stage: str, done: int, total: int) -> None:
            bar = bars.get(stage) or bars.setdefault(
                stage, tqdm(desc=stage, total=total, unit="product", file=sys.stderr)
            )
            bar.update(done - bar.n)

        try:
            run = forecast_retrain(
                as_of=options["as_of"], product_skus=options["products"], progress=progress
            )
        except InventoryError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            for bar in bars.values():
                bar.close()
        metrics = run.metrics
        self.stderr.write(
            f"Run {run.pk} as of {run.as_of}: {metrics['products']} products, "
            f"{metrics['fallbacks']} fallbacks, {metrics['suggestions']} reorder suggestions; "
            f"methods {metrics['methods']}"
        )
