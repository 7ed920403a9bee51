"""A forecast run's daily forecasts as CSV on stdout."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from inventory import selectors
from inventory.models import ForecastRun
from inventory.services import forecast_series_for_export


class Command(BaseCommand):
    help = "Write product_sku,date,forecast for every product of a forecast run (default: latest complete)."

    def add_arguments(self, parser):
        parser.add_argument("--run", type=int, help="Forecast run id")
        parser.add_argument("--format", choices=["csv"], default="csv")

    def handle(self, *args, **options):
        if options["run"]:
            run = ForecastRun.objects.filter(pk=options["run"]).first()
        else:
            run = selectors.latest_complete_run()
        if run is None:
            raise CommandError("No such forecast run; train one with retrain_forecasts.")
        frame = forecast_series_for_export(run=run)
        frame.to_csv(self.stdout, index=False, lineterminator="\n")
        self.stderr.write(f"Run {run.pk} as of {run.as_of}: {frame['product_sku'].nunique()} products")
