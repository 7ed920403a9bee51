"""Load the bundled sample of real shop data, stock it, train every model and create demo logins.

``make demo`` calls this after ``migrate``. Running it again imports nothing twice
(the importers match natural keys), keeps the logins and trains a new version.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.db.models import Count, Max, Min, Sum
from django.utils import timezone
from tqdm import tqdm

from shop import services as shop_services
from shop.models import Customer, Order, OrderLine, Product, Rating

SAMPLE_DIR = Path(settings.BASE_DIR) / "data" / "sample"
DATASETS = {
    "retail": SAMPLE_DIR / "online_retail_sample.csv.gz",
    "movielens": SAMPLE_DIR / "movielens",
}
STAFF_LOGIN = ("admin", "demo-admin-2011")
CUSTOMER_LOGIN = ("customer", "demo-customer-2011")


class Command(BaseCommand):
    help = (
        "Load the bundled demo data, set stock levels, train recommenders and forecasts, create demo logins."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", choices=sorted(DATASETS), default="retail")
        parser.add_argument("--skip-training", action="store_true", help="Only load data and logins.")

    def handle(self, *args, dataset: str, skip_training: bool, **options) -> None:
        source = DATASETS[dataset]
        self.stderr.write(
            f"Loading the bundled {dataset} sample from {source.relative_to(settings.BASE_DIR)}"
        )
        # Rejected rows go under var/, never beside the bundled sample inside the checkout.
        rejects = str(self._rejects_path(dataset))
        if dataset == "retail":
            call_command("import_transactions", str(source), rejects=rejects, stdout=self.stderr)
        else:
            call_command("import_ratings", str(source), rejects=rejects, stdout=self.stderr)
        stocked = self._stock_products()
        self.stderr.write(f"Set demo stock levels for {stocked} products.")
        self._supply_terms()
        if not skip_training:
            self._train(forecast=dataset == "retail")
        self._logins()

    def _rejects_path(self, dataset: str) -> Path:
        path = Path(settings.VAR_DIR) / "demo" / f"{dataset}_sample.rejected.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

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
        from inventory import services as inventory_services

        created = inventory_services.demo_supply_terms_ensure()
        if created:
            self.stderr.write(f"Created supply terms for {created} products with the demo supplier.")

    def _train(self, *, forecast: bool) -> None:
        from inventory import services as inventory_services
        from recommender import services as recommender_services

        with self._progress("Recommender") as progress:
            version = recommender_services.recommender_train(progress=progress)
        self.stderr.write(f"Recommender version {version.pk} is {version.status}.")
        if not forecast:
            return
        last_sale = Order.objects.aggregate(last=Max("placed_at"))["last"]
        as_of = (timezone.localtime(last_sale) + timedelta(days=1)).date() if last_sale else None
        with self._progress("Forecasts") as progress:
            run = inventory_services.forecast_retrain(as_of=as_of, progress=progress)
        self.stderr.write(f"Forecast run {run.pk} as of {run.as_of}: {run.status}.")

    @contextmanager
    def _progress(self, label: str):
        bars: dict[str, tqdm] = {}

        def report(stage: str, done: int, total: int) -> None:
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

    def _logins(self) -> None:
        users = get_user_model()
        username, password = STAFF_LOGIN
        staff = users.objects.filter(username=username).first() or users.objects.create_superuser(
            username=username, email="admin@example.com", password=password
        )
        customer = (
            Customer.objects.filter(user__username=CUSTOMER_LOGIN[0]).first()
            or Customer.objects.filter(user__isnull=True)
            .annotate(n=Count("orders"))
            .order_by("-n", "pk")
            .first()
        )
        if customer is None:
            customer = Customer.objects.annotate(n=Count("ratings")).order_by("-n", "pk").first()
        if customer and customer.user_id is None:
            user = users.objects.filter(username=CUSTOMER_LOGIN[0]).first() or users.objects.create_user(
                username=CUSTOMER_LOGIN[0], password=CUSTOMER_LOGIN[1]
            )
            customer.user = user
            customer.save(update_fields=["user"])
        out = self.stdout.write
        out("")
        out("Demo ready. Serving on http://127.0.0.1:8000")
        out(f"  Admin:  http://127.0.0.1:8000/admin/   login {staff.username} / {STAFF_LOGIN[1]}")
        if customer:
            out(
                f"  API:    http://127.0.0.1:8000/api/me/recommendations/   login {CUSTOMER_LOGIN[0]} / "
                f"{CUSTOMER_LOGIN[1]} (customer {customer.external_id})"
            )
            out("          POST /api/auth/token/ with them, then send 'Authorization: Token <token>'")
        out("  Schema: http://127.0.0.1:8000/api/docs/")
