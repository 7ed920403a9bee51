"""Train, evaluate, precompute and activate a recommender version now (no Celery needed)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from recommender import services

from ._progress import StageBars, metrics_table


def parse_moment(value: str) -> datetime:
    moment = parse_datetime(value) or parse_datetime(f"{value}T00:00:00")
    if moment is None:
        raise CommandError(f"not a date: {value!r}")
    return timezone.make_aware(moment, UTC) if timezone.is_naive(moment) else moment


class Command(BaseCommand):
    help = "Retrain the recommender from the orders and ratings in the database, then print its metrics."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--as-of", help="train on data before this date (UTC), default now")
        parser.add_argument(
            "--no-activate", action="store_true", help="leave the new version ready, not active"
        )
        parser.add_argument("--run-key", help="idempotency key: a repeated key reuses its version")

    def handle(self, *args, as_of: str | None, no_activate: bool, run_key: str | None, **options) -> None:
        bars = StageBars()
        try:
            version = services.recommender_train(
                run_key=run_key,
                as_of=parse_moment(as_of) if as_of else None,
                progress=bars,
                activate=not no_activate,
            )
        finally:
            bars.close()
        self.stdout.write(f"{version}: {version.counts}")
        self.stdout.write(f"blend weights: {version.params.get('weights')}")
        self.stdout.write("validation metrics (last days before as-of):")
        self.stdout.write(metrics_table(version.metrics))
        if version.rating_metrics:
            self.stdout.write(f"rating model: {version.rating_metrics}")
