"""Write each customer's stored recommendations as CSV on stdout (messages on stderr)."""

from __future__ import annotations

import csv
import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from recommender import selectors, services
from recommender.models import Mode, ModelVersion

from ._progress import StageBars
from .retrain_recommender import parse_moment


class Command(BaseCommand):
    help = (
        "Export customer_external_id,product_sku,rank,score,reason for every customer with a stored list. "
        "With --as-of/--cut, first train a non-activated version on data before that date and export it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=10)
        parser.add_argument("--mode", choices=Mode.values, default=Mode.ALL)
        parser.add_argument("--format", choices=["csv"], default="csv")
        parser.add_argument("--as-of", "--cut", dest="as_of", help="train on data before this date first")
        parser.add_argument("--model-version", type=int, help="export this version instead of the active one")

    def handle(
        self, *args, limit: int, mode: str, as_of: str | None, model_version: int | None, **options
    ) -> None:
        if as_of:
            bars = StageBars()
            try:
                chosen = services.recommender_train(
                    run_key=f"export-as-of-{as_of}", as_of=parse_moment(as_of), progress=bars, activate=False
                )
            finally:
                bars.close()
        elif model_version is not None:
            chosen = ModelVersion.objects.filter(pk=model_version).first()
        else:
            chosen = selectors.active_version()
        if chosen is None or chosen.status not in (ModelVersion.Status.READY, ModelVersion.Status.ACTIVE):
            raise CommandError("no servable version: run retrain_recommender first")
        self.stderr.write(f"exporting {chosen}, mode {mode}, top {limit}")
        writer = csv.writer(self.stdout)
        writer.writerow(["customer_external_id", "product_sku", "rank", "score", "reason"])
        rows = selectors.version_lists(version=chosen, mode=mode, limit=limit)
        for row in tqdm(rows, desc="rows", file=sys.stderr, unit="rows"):
            customer, sku, rank, score, reason = row
            writer.writerow([customer, sku, rank, f"{score:.6f}", reason])
