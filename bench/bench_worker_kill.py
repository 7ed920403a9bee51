"""SIGKILL a whole worker (main process and pool) in the middle of a forecast run, with the shipped defaults.

Imports the shared Online Retail file into a PostgreSQL database of its own (first run only),
starts ``celery beat`` (the database scheduler and the schedules the migrations create: the
recovery task every minute) and a worker with ``--concurrency=2``, requests a forecast run
through ``pipeline.services.run_request``, kills the worker's whole process group once some
chunks are done, starts a fresh worker, and times how long the dead worker's chunks took to be
claimed again and the run to finish. Nothing is shortened: the lease (120 s), its renewal (30 s),
the recovery interval (60 s) and Redis' visibility timeout (7,800 s) are the shipped ones::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop_rel CELERY_BROKER_URL=redis://127.0.0.1:6379/7 \\
        .venv/bin/python bench/bench_worker_kill.py \\
        --data ../shared/datasets/online-retail/online_retail_2010-12_2011-09.parquet --as-of 2011-10-01
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from datetime import time as day_time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_pipeline import ensure_imported, setup_django, start_worker, stop_worker  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--as-of", required=True)
    parser.add_argument("--kill-after-products", type=int, default=400)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    setup_django()
    import redis
    from django.conf import settings
    from django.utils import timezone

    from inventory.models import ProductForecast
    from pipeline import services
    from pipeline.models import ForecastChunk, Run

    as_of = timezone.make_aware(datetime.combine(datetime.fromisoformat(args.as_of).date(), day_time.max))
    ensure_imported(args.data)
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    for stale in Run.objects.active():
        services.run_fail(run_id=stale.pk, error="interrupted benchmark")
    logs = Path(tempfile.gettempdir())
    beat_log = logs / "bench_kill_beat.log"
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO"],
        cwd=ROOT,
        stdout=open(beat_log, "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    first_log, second_log = logs / "bench_kill_w1.log", logs / "bench_kill_w2.log"
    for log in (first_log, second_log):
        log.write_text("")
    first = start_worker(2, first_log)
    second = None
    try:
        started = time.monotonic()
        run = services.run_request(kind=Run.Kind.FORECAST, trigger=Run.Trigger.COMMAND, as_of=as_of)
        while True:
            run.refresh_from_db()
            if run.progress_done >= args.kill_after_products or not run.is_active:
                break
            time.sleep(0.5)
        held = set(
            ForecastChunk.objects.filter(run=run, status=ForecastChunk.Status.RUNNING).values_list(
                "pk", flat=True
            )
        )
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        killed = time.monotonic()
        done_at_kill = run.progress_done
        second = start_worker(2, second_log)
        reclaimed = None
        while time.monotonic() - killed < args.timeout:
            run.refresh_from_db()
            if (
                reclaimed is None
                and held
                and all(
                    c.recoveries >= 1 and (c.status == "done" or c.lease_owner)
                    for c in ForecastChunk.objects.filter(pk__in=held)
                )
            ):
                reclaimed = time.monotonic() - killed
            if not run.is_active:
                break
            time.sleep(1)
        ended = time.monotonic() - killed
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                stop_worker(process)
        os.killpg(beat.pid, signal.SIGTERM)
        beat.wait(timeout=30)
    forecasts = ProductForecast.objects.filter(run_id=run.forecast_run_id)
    chunks = ForecastChunk.objects.filter(run=run)
    print(
        json.dumps(
            {
                "run": run.pk,
                "status": run.status,
                "error": run.error,
                "products": run.progress_total,
                "forecasts": forecasts.count(),
                "distinct_products_forecast": forecasts.values("product").distinct().count(),
                "products_done_at_kill": done_at_kill,
                "chunks_held_by_the_killed_worker": len(held),
                "chunks_sent_again": chunks.filter(recoveries__gte=1).count(),
                "seconds_from_kill_to_reclaimed": None if reclaimed is None else round(reclaimed, 1),
                "seconds_from_kill_to_run_end": round(ended, 1),
                "seconds_request_to_kill": round(killed - started, 1),
                "lease_seconds": settings.PIPELINE["LEASE_SECONDS"],
                "visibility_timeout": settings.CELERY_VISIBILITY_TIMEOUT,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
