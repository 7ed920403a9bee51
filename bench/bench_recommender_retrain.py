"""Time a full recommender retrain through the service (load, validation-tuned fit, evaluation,
precompute of every list, artifacts, activation) on a database that already holds an import.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_recommender .venv/bin/python manage.py migrate
    DATABASE_URL=... .venv/bin/python manage.py import_transactions \\
        ../shared/datasets/online-retail/online_retail_2010-12_2011-09.parquet
    DATABASE_URL=... .venv/bin/python bench/bench_recommender_retrain.py [--runs 2]

Prints the wall time of each stage and the total, per run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django  # noqa: E402

django.setup()

from recommender import services  # noqa: E402


class StageClock:
    """A progress callback that records when each stage first reports."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first_seen: dict[str, float] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.first_seen.setdefault(stage, time.perf_counter() - self.started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    for run in range(1, args.runs + 1):
        clock = StageClock()
        version = services.recommender_train(progress=clock)
        total = time.perf_counter() - clock.started
        stages = [*clock.first_seen.items(), ("end", total)]
        spans = ", ".join(f"{name} {stages[i + 1][1] - at:.1f} s" for i, (name, at) in enumerate(stages[:-1]))
        print(f"run {run}: {version} in {total:.1f} s ({spans}); counts {version.counts}")


if __name__ == "__main__":
    main()
