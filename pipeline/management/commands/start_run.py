"""Start a retraining run from the CLI: ``manage.py start_run recommender|forecast [--wait]``."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from pipeline import services
from pipeline.models import Run


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date or ISO date-time: {text!r}") from exc
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


class Command(BaseCommand):
    help = "Start a recommender or forecast retrain as a tracked run (on workers, or in-process when eager)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=Run.Kind.values)
        parser.add_argument("--wait", action="store_true", help="Follow the run's progress until it ends.")
        parser.add_argument(
            "--join",
            action="store_true",
            help="If a run of this kind is active, follow it instead of failing.",
        )
        parser.add_argument(
            "--as-of",
            type=_moment,
            help="Data cut: use only what happened before this YYYY-MM-DD (midnight) or ISO date-time "
            "(default: up to the latest data).",
        )
        parser.add_argument("--poll", type=float, default=1.0, help="Seconds between progress checks.")

    def handle(
        self, *args, kind: str, wait: bool, join: bool, poll: float, as_of: datetime | None, **options
    ) -> None:
        try:
            run = services.run_request(kind=kind, trigger=Run.Trigger.COMMAND, join=join, as_of=as_of)
        except services.RunAlreadyActive as exc:
            raise CommandError(str(exc)) from exc
        except Exception as exc:  # eager mode runs the task in this process; the run records the failure
            raise CommandError(f"The run failed: {type(exc).__name__}: {exc}") from exc
        self.stderr.write(f"Run #{run.pk}: {run.get_kind_display()}")
        if wait:
            run = self._follow(run, poll)
        else:
            run.refresh_from_db()
        self.stdout.write(f"run {run.pk} {run.status}")
        if run.status == Run.Status.FAILED:
            raise CommandError(f"Run #{run.pk} failed: {run.error}")

    def _follow(self, run: Run, poll: float) -> Run:
        with tqdm(desc=f"run {run.pk}", unit="step", file=sys.stderr) as bar:
            while True:
                run.refresh_from_db()
                bar.total = run.progress_total or None
                bar.n = run.progress_done
                bar.set_postfix_str(f"{run.status} {run.stage}")
                if not run.is_active:
                    return run
                time.sleep(poll)
