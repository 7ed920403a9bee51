"""``simulate_shop`` on the bundled sample: a week through a real server, and a replay killed and resumed.

The replay starts its own gunicorn on the test database (a file under test settings), so these
tests need committed data: ``transaction=True``.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum

from inventory.models import PurchaseOrder
from pipeline import simulation as sim
from pipeline.models import Simulation, SimulationDay, SimulationInvoice
from pipeline.simulation_http import database_url
from shop.models import Order, OrderLine

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SAMPLE = Path(settings.BASE_DIR) / "data" / "sample" / "online_retail_sample.csv.gz"


def simulate(output_dir: Path, **options) -> str:
    """The command as a user types it (``--retrain-every 3``...), in this process."""
    argv = [f"--{key.replace('_', '-')}={value}" for key, value in options.items()]
    out = StringIO()
    call_command(
        "simulate_shop",
        f"--file={SAMPLE}",
        f"--output-dir={output_dir}",
        *argv,
        stdout=out,
        stderr=StringIO(),
        verbosity=0,
    )
    return out.getvalue()


def window_units(start: str, end: str) -> int:
    plan = sim.plan_file(str(SAMPLE))
    events = sim.window_events(plan, sim.date.fromisoformat(start), sim.date.fromisoformat(end))
    return sum(units for e in events if e.kind == "sale" for _, units in e.lines)


def replay_orders(simulation: Simulation) -> dict[str, int]:
    """Units per order the replay placed, read from the shop's tables."""
    return dict(
        OrderLine.objects.filter(order__pk__gt=simulation.first_order_id)
        .values("order__number")
        .annotate(units=Sum("quantity"))
        .values_list("order__number", "units")
    )


def served_invoices(simulation: Simulation) -> dict[str, int]:
    return {
        row.order_number: row.figures["units_served"]
        for row in simulation.invoices.filter(kind=SimulationInvoice.Kind.SALE)
        if row.figures.get("units_served")
    }


def test_a_week_of_the_sample_runs_through_the_live_shop_and_adds_up(tmp_path):
    out = tmp_path / "week"
    simulate(out, start="2011-09-05", end="2011-09-11", retrain_every=3, recommender_every=7)

    summary = json.loads((out / "summary.json").read_text())
    assert list(summary) == sim.SUMMARY_KEYS
    assert summary["server_errors"] == 0
    assert summary["stock_check_differences"] == 0
    assert summary["orders_lost_or_doubled"] == 0

    days = list(csv.DictReader((out / "days.csv").open()))
    assert [d["day"] for d in days] == [f"2011-09-{n:02d}" for n in range(5, 12)]
    assert list(days[0]) == sim.DAY_COLUMNS
    demanded = sum(int(d["units_demanded"]) for d in days)
    served = sum(int(d["units_served"]) for d in days)
    lost = sum(int(d["lost_units"]) for d in days)
    # Every unit the file asked for is served or lost, and what was served is in the shop's orders.
    assert demanded == window_units("2011-09-05", "2011-09-11")
    assert demanded == served + lost
    assert summary["lost_units"] == lost
    assert summary["fill_rate_units"] == round(served / demanded, 4)
    simulation = Simulation.objects.get()
    assert simulation.status == Simulation.Status.FINISHED
    orders = replay_orders(simulation)
    assert sum(orders.values()) == served
    assert orders == served_invoices(simulation)
    assert summary["orders_placed"] == len(orders)
    # Each order was paid by the signed webhook and shipped through the service.
    assert (
        not Order.objects.filter(pk__gt=simulation.first_order_id)
        .exclude(status=Order.Status.FULFILLED)
        .exists()
    )
    # The nights bought through the services, and the chart's figures are stored day by day.
    assert summary["purchase_orders"] == PurchaseOrder.objects.count() > 0
    assert SimulationDay.objects.filter(simulation=simulation).count() == 7
    assert 0 <= summary["rec_hit_rate_all"] <= 1 and 0 <= summary["rec_hit_rate_new"] <= 1
    assert summary["api_p50_ms"] > 0


def _done_invoices() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM pipeline_simulationinvoice WHERE status = 'done'")
        return cursor.fetchone()[0]


def test_a_replay_killed_and_interrupted_resumes_without_losing_or_doubling_an_order(tmp_path, monkeypatch):
    out = tmp_path / "resumed"
    args = [
        "--start",
        "2011-09-05",
        "--end",
        "2011-09-06",
        "--retrain-every",
        "1",
        "--recommender-every",
        "0",
    ]
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),  # the test database, SQLite or PostgreSQL
        "ARTIFACTS_DIR": str(settings.ARTIFACTS_DIR),
    }
    # 1. A process killed without warning (SIGKILL) in the middle of the first day's orders.
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "simulate_shop",
            "--file",
            str(SAMPLE),
            "--output-dir",
            str(out),
            *args,
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "killed.err").open("w"),
        start_new_session=True,  # its gunicorn is killed with it
    )
    try:
        deadline = time.monotonic() + 300
        while _done_invoices() < 8:
            assert process.poll() is None, (
                "the replay ended before it could be killed: " + (tmp_path / "killed.err").read_text()[-2000:]
            )
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        with contextlib.suppress(ProcessLookupError):  # a process that already ended has no group left
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    # 2. Resumed here, and interrupted (as by Ctrl-C) after an order is placed but before it is paid.
    placed = []

    def interrupt(point: str, invoice: str) -> None:
        if point == "placed":
            placed.append(invoice)
            if len(placed) == 5:
                raise sim.Interrupted

    monkeypatch.setattr(sim.Replay, "default_hook", staticmethod(interrupt))
    with pytest.raises(KeyboardInterrupt):
        simulate(out, start="2011-09-05", end="2011-09-06", retrain_every=1, recommender_every=0)
    interrupted_at = placed[-1]
    simulation = Simulation.objects.get()
    assert simulation.status == Simulation.Status.RUNNING
    assert simulation.invoices.get(invoice=interrupted_at).status == SimulationInvoice.Status.PLACING

    # 3. Resumed to the end: the interrupted invoice's order is the one placed before, paid once.
    monkeypatch.setattr(sim.Replay, "default_hook", staticmethod(lambda point, invoice: None))
    simulate(out, start="2011-09-05", end="2011-09-06", retrain_every=1, recommender_every=0)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["orders_lost_or_doubled"] == 0
    assert summary["server_errors"] == 0
    assert summary["stock_check_differences"] == 0
    simulation.refresh_from_db()
    orders = replay_orders(simulation)
    assert orders == served_invoices(simulation)
    sales = simulation.invoices.filter(kind=SimulationInvoice.Kind.SALE)
    assert sales.count() == len({(e.invoice) for e in _sale_events("2011-09-05", "2011-09-06")})
    assert (
        summary["orders_placed"]
        == len(orders)
        == Order.objects.filter(pk__gt=simulation.first_order_id).count()
    )
    number = simulation.invoices.get(invoice=interrupted_at).order_number
    assert Order.objects.get(number=number).payments.count() == 1


def _sale_events(start: str, end: str) -> list[sim.Event]:
    plan = sim.plan_file(str(SAMPLE))
    return [
        e
        for e in sim.window_events(plan, sim.date.fromisoformat(start), sim.date.fromisoformat(end))
        if e.kind == "sale"
    ]
