"""``simulate_shop``: replay a window of a transactions file through the running shop, day by day.

Set-up imports the file's rows before the start as history, gives every product a supplier and a
unit cost, forecasts as of the start and fills the shelves to each product's order-up-to level.
Then every invoice of a day becomes an order placed through the HTTP API by its customer (paid by
a signed webhook, shipped through the service), every cancellation a cancellation or a return,
and every night retrains, buys and receives through the pipeline and the inventory services.

The replay keeps its own clock: an order placed through the API is stamped with its invoice's
time (``placed_at``), and a return with its cancellation's, so that the nightly forecasts read the
replayed days as history. Everything else goes through the product's code paths.

Resuming: each invoice's request body is stored before it is sent and the invoice is marked done
after it was paid and shipped; the Idempotency-Key and the payment event id are derived from the
invoice, so sending again after an interruption replays the first answer instead of ordering twice.
"""

from __future__ import annotations

import csv
import json
import math
import random
import secrets
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Max, Sum
from django.utils import timezone

import inventory.services as inventory_services
from accounts.services import token_create
from inventory import selectors as inventory_selectors
from inventory.models import ForecastRun, ProductSupply, PurchaseOrder, ReorderSuggestion, Supplier
from shop import integrity
from shop import services as shop_services
from shop.importing.readers import read_table
from shop.importing.services import transactions_import
from shop.importing.transactions import Rules, TransactionPlan, plan_transactions
from shop.models import Cancellation, Customer, IdempotencyKey, Order, OrderLine, Product, StockRecord

from . import services as pipeline_services
from .models import Run, Simulation, SimulationDay, SimulationInvoice
from .simulation_http import ApiClient

SUPPLIER_NAME = "Simulated supplier"
GUEST_EMAIL = "guest@simulation.invalid"
UNIT_COST_SHARE = Decimal("0.6")
LEAD_TIME_JITTER = 0.3
DAY_COLUMNS = [
    "day",
    "units_demanded",
    "units_served",
    "lost_units",
    "units_on_hand",
    "stock_value",
    "stockout_product_days",
    "purchase_orders",
    "retrain_seconds",
    "api_p99_ms",
]
SUMMARY_KEYS = [
    "fill_rate_units",
    "fill_rate_lines",
    "lost_units",
    "avg_units_on_hand",
    "avg_stock_value",
    "stockout_product_days",
    "purchase_orders",
    "rec_hit_rate_all",
    "rec_hit_rate_new",
    "api_p50_ms",
    "api_p99_ms",
    "server_errors",
    "stock_check_differences",
    "orders_placed",
    "orders_lost_or_doubled",
    "wall_seconds",
]


class SimulationError(Exception):
    """The replay cannot start or go on (the command shows it as an error)."""


class Interrupted(KeyboardInterrupt):
    """Raised by a test hook to stop the replay at a chosen point, as Ctrl-C would."""


@dataclass(frozen=True)
class Options:
    file: str
    start: str
    end: str
    service_level: float = 0.95
    lead_time_days: int = 7
    retrain_every: int = 1
    recommender_every: int = 7
    buyer: str = "accept-all"
    seed: int = 0
    output_dir: str = "."

    @property
    def start_day(self) -> date:
        return date.fromisoformat(self.start)

    @property
    def end_day(self) -> date:
        return date.fromisoformat(self.end)


@dataclass
class Event:
    """One invoice of the window: a sale (lines by product) or a cancellation (lines as in the file)."""

    kind: str
    invoice: str
    at: datetime
    external_id: str | None
    country: str
    lines: list[tuple[str, int]]  # (sku, units), in the file's order


# --- the file ----------------------------------------------------------------------------------------


def plan_file(path: str) -> TransactionPlan:
    """The whole file as the importer reads it (same rules, same rejects)."""
    tz = ZoneInfo(settings.TIME_ZONE)
    now = pd.Timestamp.now(tz="UTC")
    rules = Rules(
        earliest=pd.Timestamp(settings.IMPORT_EARLIEST_DATE, tz=tz),
        latest=now + pd.Timedelta(hours=settings.IMPORT_FUTURE_TOLERANCE_HOURS),
        max_unit_price=float(settings.IMPORT_MAX_UNIT_PRICE),
    )
    return plan_transactions(
        read_table(Path(path), max_bytes=settings.IMPORT_MAX_FILE_BYTES),
        tz=tz,
        source=Path(path).name,
        rules=rules,
    )


def _cut(start: date) -> pd.Timestamp:
    return pd.Timestamp(start).tz_localize("UTC")


def history_plan(plan: TransactionPlan, start: date) -> TransactionPlan:
    """The rows before ``start``, with every product and customer of the file (the catalogue exists)."""
    cut = _cut(start)
    lines = plan.lines[plan.lines["placed_at"] < cut].reset_index(drop=True)
    orders = plan.orders[plan.orders["number"].isin(set(lines["number"]))].reset_index(drop=True)
    cancellations = plan.cancellations[plan.cancellations["created_at"] < cut].reset_index(drop=True)
    rejected = plan.rejected.iloc[0:0]
    return TransactionPlan(
        rows_read=len(lines) + len(cancellations),
        products=plan.products,
        customers=plan.customers,
        orders=orders,
        lines=lines,
        cancellations=cancellations,
        rejected=rejected,
        source=plan.source,
        reason_counts={},
    )


def window_events(plan: TransactionPlan, start: date, end: date) -> list[Event]:
    """Invoices from ``start`` to ``end`` (UTC days) in time order, sales and cancellations interleaved."""
    lo, hi = _cut(start), _cut(end + timedelta(days=1))
    events: list[Event] = []
    lines = plan.lines[(plan.lines["placed_at"] >= lo) & (plan.lines["placed_at"] < hi)]
    countries = dict(zip(plan.orders["number"], plan.orders["country"], strict=True))
    for number, group in lines.sort_values("row", kind="stable").groupby("number", sort=False):
        external = group["external_id"].iloc[0]
        events.append(
            Event(
                kind=SimulationInvoice.Kind.SALE,
                invoice=str(number),
                at=group["placed_at"].min().to_pydatetime(),
                external_id=None if pd.isna(external) else str(external),
                country=str(countries.get(number) or ""),
                lines=list(zip(group["sku"].astype(str), group["quantity"].astype(int), strict=True)),
            )
        )
    cancels = plan.cancellations[
        (plan.cancellations["created_at"] >= lo) & (plan.cancellations["created_at"] < hi)
    ]
    for reference, group in cancels.sort_values("row", kind="stable").groupby("reference", sort=False):
        external = group["external_id"].iloc[0]
        events.append(
            Event(
                kind=SimulationInvoice.Kind.CANCELLATION,
                invoice=str(reference),
                at=group["created_at"].min().to_pydatetime(),
                external_id=None if pd.isna(external) else str(external),
                country="",
                lines=list(zip(group["sku"].astype(str), group["quantity"].astype(int), strict=True)),
            )
        )
    events.sort(key=lambda e: (e.at, e.invoice))
    return events


def _utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _midnight(day: date) -> datetime:
    """The start of ``day`` in the shop's time zone (what a run's as-of date is read back as)."""
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


# --- the pipeline ------------------------------------------------------------------------------------


def run_and_wait(*, kind: str, as_of: date, poll_seconds: float = 0.5) -> Run:
    """Request a run through the pipeline (eager: it runs here; with a broker: the workers) and wait."""
    try:
        run = pipeline_services.run_request(kind=kind, trigger=Run.Trigger.COMMAND, as_of=_midnight(as_of))
    except pipeline_services.RunAlreadyActive as exc:  # left over by an interrupted replay: let it end
        run = exc.run
    while True:
        run.refresh_from_db()
        if run.status == Run.Status.SUCCEEDED:
            return run
        if run.status == Run.Status.FAILED:
            raise SimulationError(f"{run.get_kind_display()} #{run.pk} failed: {run.error}")
        time.sleep(poll_seconds)


# --- the replay --------------------------------------------------------------------------------------


@dataclass
class DayFigures:
    units_demanded: int = 0
    units_served: int = 0
    lines_demanded: int = 0
    lines_filled: int = 0
    orders_placed: int = 0
    returns: int = 0
    cancellations: int = 0
    server_errors: int = 0


class Replay:
    """One simulation, driven day by day; ``hook(point, invoice)`` lets tests interrupt it."""

    @staticmethod
    def default_hook(point: str, invoice: str) -> None:
        """Called at each step of an invoice ("placed", "paid"); tests replace it to interrupt."""

    def __init__(
        self,
        *,
        simulation: Simulation,
        client: ApiClient,
        secret: str,
        plan: TransactionPlan,
        progress: Callable[[int], None] | None = None,
        hook: Callable[[str, str], None] | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.sim = simulation
        self.options = Options(**simulation.options)
        self.client = client
        self.secret = secret
        self.plan = plan
        self.progress = progress or (lambda n: None)
        self.hook = hook or Replay.default_hook
        self.log = log or (lambda message: None)
        self.tokens: dict[str, str] = {}
        self.products = dict(Product.objects.values_list("sku", "pk"))
        self.max_lines = int(settings.SHOP["ORDER_MAX_LINES"])
        self._clock = time.monotonic()

    # -- set-up ------------------------------------------------------------------------------------

    @classmethod
    def set_up(cls, *, options: Options, plan: TransactionPlan, log: Callable[[str], None]) -> Simulation:
        """Import history, supply terms, logins, the start's forecast and stock; return the simulation."""
        if Order.objects.exists() or StockRecord.objects.exclude(on_hand=0).exists():
            raise SimulationError(
                "The database already holds orders or stock: a replay starts from an empty shop "
                "(migrate a fresh database), or resumes its own unfinished simulation."
            )
        started = time.monotonic()
        start = options.start_day
        history = history_plan(plan, start)
        result = transactions_import(plan=history)
        log(f"history: {result.lines_created:,} order lines, {result.cancellations_created:,} cancellations")
        # Products first sold in the window are in the catalogue from the start (the import writes
        # only the products its lines name), with no stock: nothing forecasts them yet.
        known = set(Product.objects.values_list("sku", flat=True))
        Product.objects.bulk_create(
            [
                Product(sku=sku, name=name, price=Decimal(str(price)).quantize(Decimal("0.01")))
                for sku, name, price in plan.products[["sku", "name", "price"]].itertuples(index=False)
                if sku not in known
            ]
        )
        supplier = inventory_services.supplier_upsert(
            name=SUPPLIER_NAME, email="orders@supplier.invalid", lead_time_days=options.lead_time_days
        )
        inventory_services.supply_terms_bulk_set(
            terms=[
                ProductSupply(
                    product_id=pk,
                    supplier=supplier,
                    unit_cost=(price * UNIT_COST_SHARE).quantize(Decimal("0.01")),
                    service_level=options.service_level,
                )
                for pk, price in Product.objects.values_list("pk", "price")
            ]
        )
        _logins_for(plan=plan, start=start, end=options.end_day)
        run = run_and_wait(kind=Run.Kind.FORECAST, as_of=start)
        forecast_run = ForecastRun.objects.get(pk=run.forecast_run_id)
        forecasts = list(forecast_run.forecasts.all())
        plans = inventory_services.reorder_plans_for(run=forecast_run, forecasts=forecasts)
        levels = {
            pid: math.ceil(plan_.order_up_to) for pid, (plan_, _) in plans.items() if plan_.order_up_to > 0
        }
        shop_services.stock_set_levels(levels=levels, note="simulate_shop: order-up-to level at the start")
        # The start run suggested orders for empty shelves; with the shelves filled, suggest again.
        inventory_services.forecast_run_finish(run_id=forecast_run.pk)
        run_and_wait(kind=Run.Kind.RECOMMENDER, as_of=start)
        log(f"start: {len(levels):,} products stocked, {sum(levels.values()):,} units")
        simulation = Simulation.objects.create(
            output_dir=options.output_dir,
            options=asdict(options),
            first_order_id=Order.objects.aggregate(last=Max("pk"))["last"] or 0,
            start_forecast_run_id=forecast_run.pk,
            wall_seconds=time.monotonic() - started,
        )
        return simulation

    # -- the days ----------------------------------------------------------------------------------

    def run(self, events: list[Event]) -> None:
        by_day: dict[date, list[Event]] = defaultdict(list)
        for event in events:
            by_day[_utc_day(event.at)].append(event)
        done_days = set(self.sim.days.values_list("day", flat=True))
        day, index = self.options.start_day, 0
        while day <= self.options.end_day:
            if day in done_days:
                self.progress(len(by_day.get(day, [])))
            else:
                self._day(day, index, by_day.get(day, []))
            day += timedelta(days=1)
            index += 1

    def _day(self, day: date, index: int, events: list[Event]) -> None:
        deliveries = self._receive(day)
        done = set(
            self.sim.invoices.filter(day=day, status=SimulationInvoice.Status.DONE).values_list(
                "invoice", "part"
            )
        )
        for event in events:
            if event.kind == SimulationInvoice.Kind.SALE:
                self._sale(day, event, done)
            else:
                self._cancellation(day, event, done)
            self.progress(1)
        retrain_seconds, orders_sent = self._night(day, index)
        self._close_day(
            day, deliveries=deliveries, purchase_orders=orders_sent, retrain_seconds=retrain_seconds
        )

    # -- orders ------------------------------------------------------------------------------------

    def _token(self, external_id: str) -> str:
        token = self.tokens.get(external_id)
        if token is None:
            user = Customer.objects.select_related("user").get(external_id=external_id).user
            _, token = token_create(user=user, name="simulate_shop")
            self.tokens[external_id] = token
        return token

    def _key(self, event: Event, part: int) -> str:
        return f"sim{self.sim.pk}-{event.invoice}-{part}"

    def _sale(self, day: date, event: Event, done: set) -> None:
        wanted: dict[int, int] = defaultdict(int)
        line_counts: dict[int, int] = defaultdict(int)
        for sku, units in event.lines:
            pid = self.products[sku]
            wanted[pid] += units
            line_counts[pid] += 1
        pids = list(wanted)
        parts = [pids[i : i + self.max_lines] for i in range(0, len(pids), self.max_lines)]
        for part, part_pids in enumerate(parts):
            if (event.invoice, part) in done:
                continue
            self._sale_part(day, event, part, {p: wanted[p] for p in part_pids}, line_counts)

    def _sale_part(
        self, day: date, event: Event, part: int, wanted: dict[int, int], line_counts: dict[int, int]
    ) -> None:
        row, _ = SimulationInvoice.objects.get_or_create(
            simulation=self.sim, invoice=event.invoice, part=part, defaults={"day": day}
        )
        calls_before, errors_before = len(self.client.latencies_ms), self.client.server_errors
        token = self._token(event.external_id) if event.external_id else None
        hits = {"all": 0, "new": 0}
        if token:
            for mode in ("all", "new"):
                answer = self.client.get(f"/api/me/recommendations/?mode={mode}&limit=10", token=token)
                if answer.status == 200:
                    shown = {_product_id(item) for item in answer.body}
                    hits[mode] = sum(1 for pid in wanted if pid in shown)
        body = row.body or self._first_body(event, wanted)
        order_number = ""
        while body["lines"]:
            row.body = body
            row.save(update_fields=["body"])  # written before it is sent: a resume sends the same
            answer = self._place(event, part, body, token)
            if answer.status in (200, 201):
                order_number = answer.body["number"]
                break
            if answer.status == 422:  # the key was used with another body: the order exists already
                order_number = self._order_for_key(event, part)
                break
            if answer.status == 409 and isinstance(answer.body, dict):
                body = _without_shortage(body, answer.body)
                continue
            raise SimulationError(f"Order for invoice {event.invoice}: HTTP {answer.status}: {answer.body}")
        self.hook("placed", event.invoice)
        served: dict[int, int] = {}
        if order_number:
            served = self._pay_and_ship(event, part, order_number)
        figures = {
            "units_demanded": sum(wanted.values()),
            "units_served": sum(served.values()),
            "lines_demanded": sum(line_counts[p] for p in wanted),
            "lines_filled": sum(line_counts[p] for p in wanted if served.get(p, 0) >= wanted[p]),
            "products": len(wanted),
            "hits_all": hits["all"],
            "hits_new": hits["new"],
            "with_recommendations": bool(token),
            "latencies_ms": [round(v, 2) for v in self.client.latencies_ms[calls_before:]],
            "server_errors": self.client.server_errors - errors_before,
        }
        row.status, row.order_number, row.figures = SimulationInvoice.Status.DONE, order_number, figures
        row.save(update_fields=["status", "order_number", "figures"])

    def _first_body(self, event: Event, wanted: dict[int, int]) -> dict:
        """The lines the shelves can fill: a customer takes what there is (the rest is lost demand)."""
        available = {
            pid: on_hand - reserved
            for pid, on_hand, reserved in StockRecord.objects.filter(product_id__in=list(wanted)).values_list(
                "product_id", "on_hand", "reserved"
            )
        }
        lines = [
            {"product": pid, "quantity": min(units, available.get(pid, 0))}
            for pid, units in wanted.items()
            if available.get(pid, 0) > 0
        ]
        body: dict = {"lines": lines}
        if event.external_id is None:
            body = {"email": GUEST_EMAIL, "country": event.country[:64], **body}
        return body

    def _place(self, event: Event, part: int, body: dict, token: str | None):
        headers = {"Idempotency-Key": self._key(event, part)}
        if token:
            return self.client.post_json("/api/orders/", body, token=token, headers=headers)
        return self.client.post_json("/api/orders/guest/", body, headers=headers)

    def _order_for_key(self, event: Event, part: int) -> str:
        record = IdempotencyKey.objects.filter(key=self._key(event, part), order__isnull=False).first()
        if record is None:
            raise SimulationError(f"Invoice {event.invoice}: its key was refused but holds no order.")
        return record.order.number

    def _pay_and_ship(self, event: Event, part: int, number: str) -> dict[int, int]:
        order = Order.objects.get(number=number)
        Order.objects.filter(pk=order.pk).update(placed_at=event.at)  # the replay's clock (see the module)
        if order.status == Order.Status.PLACED:
            answer = self.client.post_signed(
                "/api/payments/webhook/",
                {
                    "id": f"evt-{self._key(event, part)}",
                    "type": "payment.succeeded",
                    "order": number,
                    "amount": f"{shop_services.order_total(order):.2f}",
                    "currency": settings.SHOP["CURRENCY"],
                },
                secret=self.secret,
            )
            if answer.status != 200:
                raise SimulationError(f"Payment of {number}: HTTP {answer.status}: {answer.body}")
            order.refresh_from_db()
        self.hook("paid", event.invoice)
        if order.status == Order.Status.PAID:
            shop_services.shipment_create(order=order)
        return dict(
            OrderLine.objects.filter(order=order)
            .values("product_id")
            .annotate(units=Sum("quantity"))
            .values_list("product_id", "units")
        )

    # -- cancellations -----------------------------------------------------------------------------

    def _cancellation(self, day: date, event: Event, done: set) -> None:
        if (event.invoice, 0) in done:
            return
        returns = cancellations = unmatched = 0
        with transaction.atomic():  # the returns and the mark that they were made: both or neither
            for sku, units in event.lines:
                outcome = (
                    self._take_back(event, self.products[sku], units) if event.external_id else "unmatched"
                )
                returns += outcome == "return"
                cancellations += outcome == "cancellation"
                unmatched += outcome == "unmatched"
            SimulationInvoice.objects.update_or_create(
                simulation=self.sim,
                invoice=event.invoice,
                part=0,
                defaults={
                    "day": day,
                    "kind": SimulationInvoice.Kind.CANCELLATION,
                    "status": SimulationInvoice.Status.DONE,
                    "figures": {"returns": returns, "cancellations": cancellations, "unmatched": unmatched},
                },
            )

    def _take_back(self, event: Event, product_id: int, units: int) -> str:
        """The customer's latest earlier line of the product: cancelled if unshipped, else returned."""
        line = (
            OrderLine.objects.filter(
                order__customer__external_id=event.external_id,
                product_id=product_id,
                order__placed_at__lte=event.at,
                order__status__in=[Order.Status.PAID, Order.Status.PARTLY_SHIPPED, Order.Status.FULFILLED],
            )
            .select_related("order")
            .order_by("-order__placed_at", "-pk")
            .first()
        )
        if line is None:
            return "unmatched"
        if line.order.status == Order.Status.PAID:
            shop_services.order_cancel(order=line.order)
            Cancellation.objects.filter(order_line__order=line.order).update(created_at=event.at)
            return "cancellation"
        returned = line.returns.aggregate(units=Sum("quantity"))["units"] or 0
        quantity = min(units, line.quantity - returned)
        if quantity <= 0:
            return "unmatched"
        order_return = shop_services.order_line_return(
            order_line=line, quantity=quantity, restock=True, reason=f"simulate_shop: {event.invoice}"
        )
        Cancellation.objects.filter(reference=f"return-{order_return.pk}").update(created_at=event.at)
        return "return"

    # -- nights ------------------------------------------------------------------------------------

    def _receive(self, day: date) -> int:
        """Deliveries due today arrive before the first order (received through the service)."""
        due = [int(pk) for pk, when in self.sim.deliveries.items() if date.fromisoformat(when) <= day]
        received = 0
        for order in PurchaseOrder.objects.filter(pk__in=due, status__in=PurchaseOrder.OPEN_STATUSES):
            inventory_services.purchase_order_receive(order=order)
            received += 1
        return received

    def _night(self, day: date, index: int) -> tuple[float, int]:
        opts = self.options
        tomorrow = day + timedelta(days=1)
        retrain_seconds = 0.0
        if opts.retrain_every > 0 and (index + 1) % opts.retrain_every == 0:
            started = time.monotonic()
            run = run_and_wait(kind=Run.Kind.FORECAST, as_of=tomorrow)
            retrain_seconds = time.monotonic() - started
            open_suggestions = list(ReorderSuggestion.objects.open().filter(run_id=run.forecast_run_id))
            chosen = [s.pk for s in open_suggestions if opts.buyer == "accept-all" or not s.flags]
            orders = inventory_services.purchase_orders_from_suggestions(suggestion_ids=chosen)
        else:
            orders = self._hold_policy(tomorrow)
        for order in orders:
            inventory_services.purchase_order_send(order=order)
            lead = self._lead_time(order.pk)
            self.sim.deliveries[str(order.pk)] = (day + timedelta(days=lead)).isoformat()
        self.sim.save(update_fields=["deliveries"])
        if opts.recommender_every > 0 and (index + 1) % opts.recommender_every == 0:
            run_and_wait(kind=Run.Kind.RECOMMENDER, as_of=tomorrow)
        return retrain_seconds, len(orders)

    def _hold_policy(self, tomorrow: date) -> list[PurchaseOrder]:
        """No retrain tonight: the latest run's levels, against tonight's stock, become the suggestions."""
        run = (
            ForecastRun.objects.filter(status=ForecastRun.Status.COMPLETE, as_of__lte=tomorrow)
            .order_by(*inventory_selectors.LATEST_RUN_ORDER)
            .first()
        )
        if run is None:
            return []
        suggestions = inventory_services.reorder_suggestions_for(run=run, forecasts=list(run.forecasts.all()))
        chosen = [s for s in suggestions if self.options.buyer == "accept-all" or not s.flags]
        if not chosen:
            return []
        supplier = Supplier.objects.get(name=SUPPLIER_NAME)
        products = Product.objects.in_bulk([s.product_id for s in chosen])
        return [
            inventory_services.purchase_order_create(
                supplier=supplier,
                lines=[(products[s.product_id], s.quantity) for s in chosen],
                note=f"simulate_shop: held policy of forecast run {run.pk}",
            )
        ]

    def _lead_time(self, purchase_order_id: int) -> int:
        """This delivery's lead time: the supplier's, with seeded jitter of +-30% (the same on a resume)."""
        rng = random.Random(f"{self.options.seed}:{purchase_order_id}")
        jitter = rng.uniform(-LEAD_TIME_JITTER, LEAD_TIME_JITTER)
        return max(1, round(self.options.lead_time_days * (1 + jitter)))

    def _close_day(self, day: date, *, deliveries: int, purchase_orders: int, retrain_seconds: float) -> None:
        figures = DayFigures()
        latencies: list[float] = []
        for kind, data in self.sim.invoices.filter(day=day).values_list("kind", "figures"):
            if kind == SimulationInvoice.Kind.CANCELLATION:
                figures.returns += data.get("returns", 0)
                figures.cancellations += data.get("cancellations", 0)
                continue
            figures.units_demanded += data["units_demanded"]
            figures.units_served += data["units_served"]
            figures.lines_demanded += data["lines_demanded"]
            figures.lines_filled += data["lines_filled"]
            figures.orders_placed += data["units_served"] > 0
            figures.server_errors += data["server_errors"]
            latencies.extend(data["latencies_ms"])
        on_hand, value, out = stock_position(as_of=day + timedelta(days=1))
        now = time.monotonic()
        self.sim.wall_seconds += now - self._clock
        self._clock = now
        with transaction.atomic():
            SimulationDay.objects.update_or_create(
                simulation=self.sim,
                day=day,
                defaults={
                    "units_demanded": figures.units_demanded,
                    "units_served": figures.units_served,
                    "lost_units": figures.units_demanded - figures.units_served,
                    "lines_demanded": figures.lines_demanded,
                    "lines_filled": figures.lines_filled,
                    "units_on_hand": on_hand,
                    "stock_value": value,
                    "stockout_product_days": out,
                    "purchase_orders": purchase_orders,
                    "deliveries": deliveries,
                    "orders_placed": figures.orders_placed,
                    "returns": figures.returns,
                    "cancellations": figures.cancellations,
                    "retrain_seconds": round(retrain_seconds, 2),
                    "api_p99_ms": round(float(np.percentile(latencies, 99)), 2) if latencies else 0.0,
                    "server_errors": figures.server_errors,
                },
            )
            self.sim.save(update_fields=["wall_seconds"])

    def account_wall_time(self) -> None:
        """Add the time since the last closed day (an interruption keeps what this process spent)."""
        now = time.monotonic()
        self.sim.wall_seconds += now - self._clock
        self._clock = now
        Simulation.objects.filter(pk=self.sim.pk).update(wall_seconds=self.sim.wall_seconds)


def _product_id(item: dict) -> int | None:
    product = item.get("product")
    return product.get("id") if isinstance(product, dict) else product


def _without_shortage(body: dict, problem: dict) -> dict:
    """The body again, with the line the shop could not fill cut to what it has (or dropped)."""
    product = problem.get("product")
    if product is None:  # unavailable products are not named: drop every line the answer points at
        bad = {int(key.split(".")[1]) for key in problem.get("errors", {}) if key.startswith("lines.")}
        if not bad:
            raise SimulationError(f"The shop refused an order without naming a line: {problem}")
        return {**body, "lines": [line for i, line in enumerate(body["lines"]) if i not in bad]}
    keep = max(0, int(problem.get("available", 0))) if problem.get("code") == "insufficient_stock" else 0
    if problem.get("code") == "reservation_limit":
        keep = max(0, int(problem.get("limit", 0)) - int(problem.get("held", 0)))
    lines = []
    for line in body["lines"]:
        if line["product"] == product:
            if keep > 0:
                lines.append({**line, "quantity": min(line["quantity"], keep)})
        else:
            lines.append(line)
    return {**body, "lines": lines}


def stock_position(*, as_of: date) -> tuple[int, Decimal, int]:
    """Units on hand, their value at cost, and how many products sold before ``as_of`` have none left."""
    costs = dict(ProductSupply.objects.values_list("product_id", "unit_cost"))
    on_hand, value = 0, Decimal("0")
    available: dict[int, int] = {}
    for pid, units, reserved in StockRecord.objects.values_list("product_id", "on_hand", "reserved"):
        on_hand += units
        value += units * costs.get(pid, Decimal("0"))
        available[pid] = units - reserved
    sold = inventory_selectors.products_with_sales(before=as_of)
    out = sum(1 for pid in sold if available.get(pid, 0) <= 0)
    return on_hand, value.quantize(Decimal("0.01")), out


def _logins_for(*, plan: TransactionPlan, start: date, end: date) -> int:
    """A login for every customer who orders in the window (no password: they sign in with a token)."""
    lo, hi = _cut(start), _cut(end + timedelta(days=1))
    window = plan.lines[(plan.lines["placed_at"] >= lo) & (plan.lines["placed_at"] < hi)]
    external_ids = sorted({str(x) for x in window["external_id"].dropna().unique()})
    users = get_user_model()
    unusable = make_password(None)
    # A customer whose first order is in the window is new to the shop: created here, as a sign-up would.
    countries = dict(zip(plan.customers["external_id"].astype(str), plan.customers["country"], strict=True))
    known = set(Customer.objects.filter(external_id__in=external_ids).values_list("external_id", flat=True))
    Customer.objects.bulk_create(
        [
            Customer(external_id=ext, country=str(countries.get(ext) or "")[:64])
            for ext in external_ids
            if ext not in known
        ]
    )
    customers = {
        c.external_id: c for c in Customer.objects.filter(external_id__in=external_ids, user__isnull=True)
    }
    created = users.objects.bulk_create(
        [
            users(username=f"sim-{ext}", password=unusable, email="")
            for ext in external_ids
            if ext in customers
        ]
    )
    by_name = dict(
        users.objects.filter(username__in=[u.username for u in created]).values_list("username", "pk")
    )
    for ext, customer in customers.items():
        customer.user_id = by_name[f"sim-{ext}"]
    Customer.objects.bulk_update(list(customers.values()), ["user"])
    return len(created)


# --- figures -----------------------------------------------------------------------------------------


def orders_lost_or_doubled(simulation: Simulation) -> tuple[int, int]:
    """(orders the replay placed, orders missing or extra against the invoices it served)."""
    placed = list(Order.objects.filter(pk__gt=simulation.first_order_id).values_list("number", flat=True))
    expected: list[str] = []
    wrong = 0
    for number, data in simulation.invoices.filter(kind=SimulationInvoice.Kind.SALE).values_list(
        "order_number", "figures"
    ):
        if data.get("units_served", 0) > 0:
            if not number:
                wrong += 1  # served units but no order recorded
            else:
                expected.append(number)
        elif number:
            wrong += 1  # an order recorded for an invoice that served nothing
    placed_set, expected_set = set(placed), set(expected)
    wrong += len(expected) - len(expected_set)  # one order recorded for two invoices
    wrong += len(expected_set - placed_set) + len(placed_set - expected_set)
    return len(placed), wrong


def summarise(simulation: Simulation) -> dict:
    days = list(simulation.days.order_by("day"))
    demanded = sum(d.units_demanded for d in days)
    served = sum(d.units_served for d in days)
    lines = sum(d.lines_demanded for d in days)
    filled = sum(d.lines_filled for d in days)
    products = hits_all = hits_new = 0
    latencies: list[float] = []
    errors = 0
    for data in simulation.invoices.filter(kind=SimulationInvoice.Kind.SALE).values_list(
        "figures", flat=True
    ):
        latencies.extend(data.get("latencies_ms", []))
        errors += data.get("server_errors", 0)
        if data.get("with_recommendations"):
            products += data["products"]
            hits_all += data["hits_all"]
            hits_new += data["hits_new"]
    placed, wrong = orders_lost_or_doubled(simulation)
    summary = {
        "fill_rate_units": round(served / demanded, 4) if demanded else None,
        "fill_rate_lines": round(filled / lines, 4) if lines else None,
        "lost_units": demanded - served,
        "avg_units_on_hand": round(sum(d.units_on_hand for d in days) / len(days), 1) if days else None,
        "avg_stock_value": round(float(sum(d.stock_value for d in days)) / len(days), 2) if days else None,
        "stockout_product_days": sum(d.stockout_product_days for d in days),
        "purchase_orders": sum(d.purchase_orders for d in days),
        "rec_hit_rate_all": round(hits_all / products, 4) if products else None,
        "rec_hit_rate_new": round(hits_new / products, 4) if products else None,
        "api_p50_ms": round(float(np.percentile(latencies, 50)), 2) if latencies else None,
        "api_p99_ms": round(float(np.percentile(latencies, 99)), 2) if latencies else None,
        "server_errors": errors,
        "stock_check_differences": len(integrity.stock_discrepancies()),
        "orders_placed": placed,
        "orders_lost_or_doubled": wrong,
        "wall_seconds": round(simulation.wall_seconds, 1),
    }
    assert list(summary) == SUMMARY_KEYS
    return summary


def write_outputs(simulation: Simulation, summary: dict) -> None:
    out = Path(simulation.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "days.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(DAY_COLUMNS)
        for d in simulation.days.order_by("day"):
            writer.writerow(
                [getattr(d, column) if column != "day" else d.day.isoformat() for column in DAY_COLUMNS]
            )
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def new_secret() -> str:
    return secrets.token_hex(32)
