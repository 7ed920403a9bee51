"""Load the bundled sample of real shop data, stock it, train every model and create demo logins.

``make demo`` calls this after ``migrate`` with ``--serve HOST:PORT``: it then starts the development
server there and prints "Demo ready" with the address and the logins only once the server answers.
Running it again imports nothing twice (the importers match natural keys), keeps the logins and
trains a new version.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Count, Max, Min, Sum
from django.utils import timezone
from tqdm import tqdm

from pipeline import demo
from shop import services as shop_services
from shop.models import Customer, Order, OrderLine, Product, Rating

SAMPLE_DIR = Path(settings.BASE_DIR) / "data" / "sample"
DATASETS = {
    "retail": SAMPLE_DIR / "online_retail_sample.csv.gz",
    "movielens": SAMPLE_DIR / "movielens",
}
# What a shop brings besides its transactions, made by bench/make_shop_files.py from the sample and
# loaded through the same import commands a shop uses, in the order their references need.
SHOP_FILES = SAMPLE_DIR / "retail_shop"
SHOP_IMPORTS = [
    ("import_suppliers", "suppliers.csv"),
    ("import_supply_terms", "supply_terms.csv"),
    ("import_categories", "categories.csv"),
    ("import_stock", "stock.csv"),
]


class StageClock:
    """Times the stages of a long command and keeps it talking.

    Each stage prints when it starts and how long it took; while one runs, a line every
    ``heartbeat`` seconds names the step it is in (as last reported through ``step``), so the
    command is never silent for longer than that; ``summary`` says where the time went.
    """

    def __init__(self, write, heartbeat: float = 5.0) -> None:
        self.write = write
        self.heartbeat = heartbeat
        self.timings: list[tuple[str, float]] = []
        self._lock = threading.Lock()
        self._stage: str | None = None
        self._step = ""
        self._stage_started = self._last_said = self._started = time.monotonic()
        self._stop = threading.Event()

    def __enter__(self) -> StageClock:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._keep_talking, name="stage-clock", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @contextmanager
    def stage(self, name: str):
        with self._lock:
            self._stage, self._step = name, ""
            self._stage_started = self._last_said = time.monotonic()
        self.write(f"[{name}] ...")
        try:
            yield
        finally:
            elapsed = time.monotonic() - self._stage_started
            with self._lock:
                self._stage = None
                self.timings.append((name, elapsed))
            self.write(f"[{name}] {elapsed:.1f} s")

    def step(self, name: str) -> None:
        """Records the step in progress; a progress bar is drawing, so the clock need not speak."""
        with self._lock:
            self._step = name
            self._last_said = time.monotonic()

    def _keep_talking(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                now = time.monotonic()
                if self._stage is None or now - self._last_said < self.heartbeat:
                    continue
                self._last_said = now
                where = f"{self._stage}: {self._step}" if self._step else self._stage
                running = now - self._stage_started
            self.write(f"[{where}] still working, {running:.0f} s so far")

    def summary(self) -> str:
        total = time.monotonic() - self._started
        parts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.timings)
        return f"Loaded in {total:.1f} s: {parts}."


class Command(BaseCommand):
    help = (
        "Load the bundled demo data (the shop sample with its suppliers, terms, categories and stock count), "
        "train recommenders and forecasts, create demo logins."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", choices=sorted(DATASETS), default="retail")
        parser.add_argument("--skip-training", action="store_true", help="Only load data and logins.")
        parser.add_argument(
            "--serve",
            metavar="HOST:PORT",
            help="Then run the development server there (as `runserver HOST:PORT` would) and print "
            "'Demo ready' with the address once it answers; Ctrl-C stops it.",
        )
        parser.add_argument(
            "--serve-timeout",
            type=float,
            default=300.0,
            help="Seconds to wait for the server to answer before giving up (default 300).",
        )

    def handle(self, *args, dataset: str, skip_training: bool, serve: str | None, **options) -> None:
        if settings.IS_PRODUCTION:
            raise CommandError(
                "load_demo refuses to run under the production settings: it creates logins and sample data. "
                "Use config.settings.local (the default) on a database of its own."
            )
        source = DATASETS[dataset]
        self.clock = StageClock(self._say)
        self.stderr.write(
            f"Loading the bundled {dataset} sample from {source.relative_to(settings.BASE_DIR)}"
        )
        with self.clock:
            # Rejected rows go under var/, never beside the bundled sample inside the checkout.
            rejects = str(self._rejects_path(dataset))
            with self.clock.stage("import"):
                if dataset == "retail":
                    call_command("import_transactions", str(source), rejects=rejects, stdout=self.stderr)
                else:
                    call_command("import_ratings", str(source), rejects=rejects, stdout=self.stderr)
            if dataset == "retail":
                with self.clock.stage("shop files"):
                    self._shop_files()
            else:
                with self.clock.stage("stock levels"):
                    stocked = self._stock_products()
                self.stderr.write(f"Set demo stock levels for {stocked} products.")
            with self.clock.stage("supply terms"):
                self._supply_terms()
            if not skip_training:
                self._train(forecast=dataset == "retail")
        self.stdout.write(self.clock.summary())
        logins = self._logins()
        if serve is None:
            self._announce(logins, base_url=None)
            return
        self._serve(serve, logins, timeout=options["serve_timeout"])

    def _say(self, message: str) -> None:
        # Lift the progress bars (drawn on sys.stderr) out of the way, write, and let them redraw.
        with tqdm.external_write_mode(file=sys.stderr):
            self.stderr.write(message)

    def _rejects_path(self, dataset: str) -> Path:
        path = Path(settings.VAR_DIR) / "demo" / f"{dataset}_sample.rejected.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _shop_files(self) -> None:
        """Suppliers, supply terms, categories and a stock count, through the shop's own import commands."""
        for command, name in SHOP_IMPORTS:
            rejects = Path(settings.VAR_DIR) / "demo" / f"{name}.rejected.csv"
            call_command(command, str(SHOP_FILES / name), rejects=str(rejects), stdout=self.stderr)

    @transaction.atomic
    def _stock_products(self) -> int:
        """Give each product about a month of its average sales, and leave every tenth one empty.

        The empty ones show what staff see for out-of-stock products: recommendations skip
        them and the reorder list puts them first.
        """
        sold = dict(
            OrderLine.objects.values("product")
            .annotate(units=Sum("quantity"))
            .values_list("product", "units")
        )
        rated = set(Rating.objects.values_list("product", flat=True).distinct())
        product_ids = sorted(set(sold) | rated)
        if not product_ids:
            return 0
        window = Order.objects.aggregate(first=Min("placed_at"), last=Max("placed_at"))
        days = max((window["last"] - window["first"]).days, 1) if window["first"] else 1
        levels = {}
        for index, product_id in enumerate(product_ids):
            if index % 10 == 9:
                levels[product_id] = 0
            else:
                levels[product_id] = max(5, round(sold.get(product_id, 0) / days * 30)) if sold else 50
        reserved_floor = {
            pid: reserved
            for pid, reserved in Product.objects.filter(pk__in=product_ids)
            .exclude(stock__isnull=True)
            .values_list("pk", "stock__reserved")
        }
        for product_id, reserved in reserved_floor.items():
            levels[product_id] = max(levels[product_id], reserved)
        return shop_services.stock_set_levels(levels=levels, note="demo stock levels")

    def _supply_terms(self) -> None:
        """The demo supplier for products no terms file covered (every movie of the ratings demo)."""
        from inventory import services as inventory_services

        if not Product.objects.filter(supply__isnull=True).exists():
            return  # the terms file covered every product: no demo supplier to show
        created = inventory_services.demo_supply_terms_ensure()
        if created:
            self.stderr.write(f"Created supply terms for {created} products with the demo supplier.")

    def _train(self, *, forecast: bool) -> None:
        from inventory import services as inventory_services
        from recommender import services as recommender_services

        with self.clock.stage("recommender"), self._progress("Recommender") as progress:
            version = recommender_services.recommender_train(progress=progress)
        self.stderr.write(f"Recommender version {version.pk} is {version.status}.")
        if not forecast:
            return
        last_sale = Order.objects.aggregate(last=Max("placed_at"))["last"]
        as_of = (timezone.localtime(last_sale) + timedelta(days=1)).date() if last_sale else None
        with self.clock.stage("forecasts"), self._progress("Forecasts") as progress:
            run = inventory_services.forecast_retrain(as_of=as_of, progress=progress)
        self.stderr.write(f"Forecast run {run.pk} as of {run.as_of}: {run.status}.")

    @contextmanager
    def _progress(self, label: str):
        bars: dict[str, tqdm] = {}

        def report(stage: str, done: int, total: int) -> None:
            self.clock.step(stage)
            bar = bars.get(stage)
            if bar is None:
                for previous in bars.values():
                    previous.close()
                bar = bars[stage] = tqdm(desc=f"{label}: {stage}", total=total or None, file=sys.stderr)
            bar.total = total or bar.total
            bar.n = done
            bar.refresh()

        try:
            yield report
        finally:
            for bar in bars.values():
                bar.close()

    def _logins(self) -> list[str]:
        """Create the demo logins once per database, with generated passwords shown only now.

        Returns the lines that describe them (printed with the addresses once the server answers).
        """
        users = get_user_model()
        passwords: dict[str, str] = {}
        staff = users.objects.filter(username=demo.STAFF_USERNAME).first()
        if staff is None:
            staff, passwords[demo.STAFF_USERNAME] = demo.demo_user_create(
                username=demo.STAFF_USERNAME, staff=True
            )
        customer = (
            Customer.objects.filter(user__username=demo.CUSTOMER_USERNAME).first()
            or Customer.objects.filter(user__isnull=True)
            .annotate(n=Count("orders"))
            .order_by("-n", "pk")
            .first()
        )
        if customer is None:
            customer = Customer.objects.annotate(n=Count("ratings")).order_by("-n", "pk").first()
        if customer and customer.user_id is None:
            user = users.objects.filter(username=demo.CUSTOMER_USERNAME).first()
            if user is None:
                user, passwords[demo.CUSTOMER_USERNAME] = demo.demo_user_create(
                    username=demo.CUSTOMER_USERNAME, staff=False
                )
            customer.user = user
            customer.save(update_fields=["user"])

        def login(username: str) -> str:
            if username in passwords:
                return f"login {username} / {passwords[username]}"
            return f"login {username} (password shown once; reset: manage.py changepassword {username})"

        lines = [f"  Admin:  {{base}}/admin/   {login(staff.get_username())}"]
        if customer:
            lines.append(
                f"  API:    {{base}}/api/me/recommendations/   {login(demo.CUSTOMER_USERNAME)} "
                f"(customer {customer.external_id})"
            )
            lines.append(
                "          POST /api/auth/token/ with them, then send 'Authorization: Token <token>'"
            )
        if passwords:
            lines.append("  These passwords were generated for this database and are shown only now.")
        lines.append("  Schema: {base}/api/docs/ (Swagger UI), {base}/api/redoc/ (ReDoc)")
        return lines

    def _announce(self, logins: list[str], *, base_url: str | None) -> None:
        out = self.stdout.write
        out("")
        if base_url is None:
            out("Demo data loaded. Serve it with `python manage.py runserver HOST:PORT`, then open:")
        else:
            out(f"Demo ready. Serving on {base_url}")
        for line in logins:
            out(line.replace("{base}", base_url or ""))
        self.stdout.flush()  # a pipe (CI, a log file) must see the line now, not when the server stops

    def _serve(self, addrport: str, logins: list[str], *, timeout: float) -> None:
        """Run ``runserver addrport`` and announce the demo once it answers; return when it stops."""
        host, _, port = addrport.rpartition(":")
        if not host or not port.isdigit():
            raise CommandError(f"--serve takes HOST:PORT, e.g. 127.0.0.1:8000 (got {addrport!r}).")
        # A server on every interface answers on the loopback address too; print what was asked for.
        probe_host = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "": "127.0.0.1"}.get(host, host)
        server = subprocess.Popen(
            [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "runserver", addrport]
        )
        announced = False
        try:
            answering = self._wait_until_answering(server, f"http://{probe_host}:{port}/api/health/", timeout)
            announced = True
            if not answering:
                self._announce(logins, base_url=None)
                raise CommandError(
                    f"The server on {addrport} did not answer within {timeout:.0f} s"
                    + (f" (it exited with status {server.returncode})" if server.poll() is not None else "")
                    + "; the logins above are the demo's."
                )
            self._announce(logins, base_url=f"http://{host}:{port}")
            server.wait()
        except KeyboardInterrupt:  # Ctrl-C reaches the server too (same process group): let it stop
            if not announced:  # stopped before it answered: the generated passwords are shown only once
                self._announce(logins, base_url=None)
        finally:
            if server.poll() is None:
                try:
                    server.wait(timeout=10)
                except (subprocess.TimeoutExpired, KeyboardInterrupt):
                    server.terminate()
                    server.wait()

    @staticmethod
    def _wait_until_answering(server: subprocess.Popen, url: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        return False
