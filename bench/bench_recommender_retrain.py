"""Time a full recommender retrain through the service (load, validation-tuned fit, evaluation,
precompute of every list, artifacts, activation) on a database that already holds an import.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_recommender .venv/bin/python manage.py migrate
    DATABASE_URL=... .venv/bin/python manage.py import_transactions \\
        ../shared/datasets/online-retail/online_retail_2010-12_2011-09.parquet
    DATABASE_URL=... .venv/bin/python bench/bench_recommender_retrain.py [--runs 2]

Prints the wall and CPU time of each stage and the total, per run, with the load average. The
user's path is ``time .venv/bin/python manage.py retrain_recommender``; this script adds the split.
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
    """A progress callback that records when each stage first reports, in wall and CPU seconds.

    CPU time (this process, every thread) is printed beside wall time because on a shared machine
    the wall time of a stage says as much about the neighbours as about the code.
    """

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.cpu_started = time.process_time()
        self.first_seen: dict[str, tuple[float, float]] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.first_seen.setdefault(
            stage, (time.perf_counter() - self.started, time.process_time() - self.cpu_started)
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    for run in range(1, args.runs + 1):
        clock = StageClock()
        version = services.recommender_train(progress=clock)
        total = (time.perf_counter() - clock.started, time.process_time() - clock.cpu_started)
        stages = [*clock.first_seen.items(), ("end", total)]
        spans = ", ".join(
            f"{name} {stages[i + 1][1][0] - wall:.1f} s (cpu {stages[i + 1][1][1] - cpu:.1f})"
            for i, (name, (wall, cpu)) in enumerate(stages[:-1])
        )
        print(
            f"run {run}: {version} in {total[0]:.1f} s wall, {total[1]:.1f} s cpu, "
            f"load {os.getloadavg()[0]:.1f} ({spans}); counts {version.counts}"
        )


if __name__ == "__main__":
    main()
