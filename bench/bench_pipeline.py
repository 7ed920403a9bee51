"""Wall time of a forecast run over real Celery workers, with 1, 2, ... worker processes.

Runs against a PostgreSQL benchmark database of its own and a Redis database of its own,
both taken from the environment like every other entry point::

    createdb -h 127.0.0.1 -U postgres bench_pipeline
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_pipeline \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/12 \\
    .venv/bin/python bench/bench_pipeline.py \\
        --data ../shared/datasets/online-retail/online_retail_2010-12_2011-09.parquet \\
        --as-of 2011-09-30 --workers 1 2

The first run migrates and imports the file (``import_transactions``); later runs reuse it.
For each worker count it starts ``celery -A config worker --concurrency=N``, requests one
forecast run through ``pipeline.services.run_request`` (exactly what the admin button and the
nightly schedule do), waits for it to end, and stops the worker.
"""

from __future__ import annotations

import argparse
import json
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


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the Online Retail file to import")
    parser.add_argument("--as-of", required=True, help="data cut (YYYY-MM-DD): forecast from the day after")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker process counts")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for one run")
    return parser.parse_args()


def setup_django() -> None:
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()


def ensure_imported(data: Path) -> None:
    from django.core.management import call_command

    from shop.models import Order

    call_command("migrate", verbosity=0)
    if Order.objects.exists():
        print(f"reusing the imported data ({Order.objects.count()} orders)", file=sys.stderr)
        return
    rejects = Path(tempfile.gettempdir()) / "bench_pipeline.rejected.csv"
    started = time.perf_counter()
    call_command("import_transactions", str(data), rejects=rejects)
    print(f"imported in {time.perf_counter() - started:.1f} s", file=sys.stderr)


def start_worker(concurrency: int, log_path: Path) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--loglevel=INFO",
        "--queues=default,training",
        f"--concurrency={concurrency}",
        f"--hostname=bench{concurrency}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    log = open(log_path, "wb")  # noqa: SIM115 - the worker writes to it for its whole life
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    # Give the pool time to fork and import the app before the clock starts.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "ready" not in log_path.read_text(errors="replace"):
        if process.poll() is not None:
            raise SystemExit(f"worker exited:\n{log_path.read_text(errors='replace')}")
        time.sleep(0.5)
    time.sleep(2)
    return process


def stop_worker(process: subprocess.Popen) -> None:
    import os

    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def bench_one(concurrency: int, as_of: datetime, timeout: float) -> dict:
    import redis
    from django.conf import settings

    from inventory.models import ProductForecast
    from pipeline import services
    from pipeline.models import Run

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    for stale in Run.objects.active().of_kind(Run.Kind.FORECAST):  # left by an interrupted benchmark
        services.run_fail(run_id=stale.pk, error="interrupted benchmark")
    log_path = Path(tempfile.gettempdir()) / f"bench_pipeline_worker_{concurrency}.log"
    log_path.write_text("")
    worker = start_worker(concurrency, log_path)
    try:
        started = time.perf_counter()
        run = services.run_request(kind=Run.Kind.FORECAST, trigger=Run.Trigger.COMMAND, as_of=as_of)
        while True:
            run.refresh_from_db()
            if not run.is_active or time.perf_counter() - started > timeout:
                break
            time.sleep(0.25)
        wall = time.perf_counter() - started
    finally:
        stop_worker(worker)
    if run.is_active:
        services.run_fail(run_id=run.pk, error="benchmark timed out")
        raise SystemExit(f"run {run.pk} did not finish in {timeout} s; worker log: {log_path}")
    forecasts = ProductForecast.objects.filter(run_id=run.forecast_run_id).count()
    return {
        "workers": concurrency,
        "run": run.pk,
        "status": run.status,
        "error": run.error,
        "products": run.progress_total,
        "forecasts": forecasts,
        "chunk_size": settings.PIPELINE["FORECAST_CHUNK_SIZE"],
        "wall_seconds": round(wall, 1),
    }


def main() -> None:
    args = parse_args()
    setup_django()
    from django.utils import timezone

    as_of = timezone.make_aware(datetime.combine(datetime.fromisoformat(args.as_of).date(), day_time.max))
    ensure_imported(args.data)
    results = [bench_one(n, as_of, args.timeout) for n in args.workers]
    base = results[0]["wall_seconds"]
    for result in results:
        result["speed_up"] = round(base / result["wall_seconds"], 2)
        print(json.dumps(result))
    print("\n| worker processes | products | wall time (s) | speed-up |\n|---|---|---|---|")
    for result in results:
        cells = [result["workers"], result["products"], result["wall_seconds"], f"{result['speed_up']}x"]
        print("| " + " | ".join(str(cell) for cell in cells) + " |")


if __name__ == "__main__":
    main()
