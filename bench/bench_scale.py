"""Ten times the shop: each stage's cost at 1x, 3x and 10x the shared file, through the commands users run.

    nice -n 10 .venv/bin/python bench/bench_scale.py run --factors 1 3 10 --stages sqlite pg admin
    .venv/bin/python bench/bench_scale.py api --factor 1        # API CPU per request, one process
    .venv/bin/python bench/bench_scale.py check                 # manage.py check wall time
    .venv/bin/python bench/bench_scale.py report                # docs/scale_chart.svg + the tables

``run`` makes the scaled files with ``bench/make_scaled_shop.py`` (seed 1) when missing, then per factor:

- ``sqlite``: a fresh SQLite database; ``import_transactions``, the four side imports
  (categories, suppliers, supply terms, stock), ``retrain_recommender`` and ``retrain_forecasts``,
  each a ``manage.py`` process under ``/usr/bin/time -v`` (wall and peak RSS);
- ``pg``: the same on a fresh PostgreSQL database ``shop_scale_x{K}`` (import, side imports,
  ``retrain_forecasts``), then ``ANALYZE``;
- ``admin``: the admin pages of ``bench/admin_pages.py`` (dashboard, worklist, orders, customers,
  products and forecasts lists, the biggest order...) on that PostgreSQL database, in one process
  through Django's test client (server time: the view, middleware and template, no socket), one
  warm-up then the median of 5.

Every figure goes to ``--work``/results.jsonl with its command and the ``uptime`` load at the time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv" / "bin" / "python")
MANAGE = [PYTHON, str(ROOT / "manage.py")]
WORK = Path("/work/scaled")
PG = "postgres://postgres@127.0.0.1:5432/shop_scale_x{factor}"
SIDE_IMPORTS = [
    ("import_categories", "categories.csv"),
    ("import_suppliers", "suppliers.csv"),
    ("import_supply_terms", "supply_terms.csv"),
    ("import_stock", "stock.csv"),
]


def load() -> str:
    return (
        subprocess.run(["uptime"], capture_output=True, text=True).stdout.split("load average:")[-1].strip()
    )


def record(work: Path, **fields) -> dict:
    fields.setdefault("load", load())
    fields["at"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    with (work / "results.jsonl").open("a") as out:
        out.write(json.dumps(fields) + "\n")
    print(json.dumps(fields), flush=True)
    return fields


def timed(args: list[str], env: dict[str, str], log: Path) -> dict:
    """One process under /usr/bin/time -v at nice 10: wall seconds, peak RSS (MiB), exit status."""
    before = load()
    started = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(
            ["nice", "-n", "10", "/usr/bin/time", "-v", *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    wall = time.perf_counter() - started
    text = log.read_text(errors="replace")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    cpu = cpu_seconds(text)
    if done.returncode:
        print(text[-3000:], file=sys.stderr)
    return {
        "wall_s": round(wall, 2),
        "rss_mib": round(int(rss.group(1)) / 1024) if rss else None,
        "cpu_s": cpu,
        "status": done.returncode,
        "load_before": before,
    }


def cpu_seconds(text: str) -> float | None:
    """User + system CPU seconds from /usr/bin/time -v: unlike wall time, barely moved by the box's load."""
    user = re.search(r"User time \(seconds\): ([\d.]+)", text)
    system = re.search(r"System time \(seconds\): ([\d.]+)", text)
    return round(float(user.group(1)) + float(system.group(1)), 2) if user and system else None


def stage_seconds(text: str) -> dict[str, int]:
    """Each training stage's duration from its finished progress bar (``stage: 100%|...| n/n [mm:ss<``)."""
    out = {}
    for match in re.finditer(
        r"([a-z][a-z ]+): 100%\|[^|]*\| \d+/\d+ \[(\d+):(\d+)<", text.replace("\r", "\n")
    ):
        out[match.group(1).strip()] = int(match.group(2)) * 60 + int(match.group(3))
    return out


def files(factor: int) -> Path:
    folder = WORK / f"x{factor}"
    if not (folder / f"online_retail_x{factor}.parquet").exists():
        subprocess.run(
            ["nice", "-n", "10", PYTHON, str(ROOT / "bench" / "make_scaled_shop.py"), "--factor", str(factor)]
            + ["--seed", "1", "--output", str(folder)],
            check=True,
        )
    return folder


def order_lines(env: dict[str, str]) -> int:
    out = subprocess.run(
        [*MANAGE, "shell", "-c", "from shop.models import OrderLine; print(OrderLine.objects.count())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip().splitlines()[-1])


def shop_stages(work: Path, factor: int, db: str, url: str, with_recommender: bool) -> None:
    folder = files(factor)
    env = {**os.environ, "DATABASE_URL": url}
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    subprocess.run([*MANAGE, "migrate", "-v0"], env=env, check=True)
    transactions = folder / f"online_retail_x{factor}.parquet"
    steps = [("import_transactions", [*MANAGE, "import_transactions", str(transactions)])]
    steps += [(name, [*MANAGE, name, str(folder / file)]) for name, file in SIDE_IMPORTS]
    if with_recommender:
        steps.append(("retrain_recommender", [*MANAGE, "retrain_recommender"]))
    steps.append(("retrain_forecasts", [*MANAGE, "retrain_forecasts"]))
    lines = None
    for stage, args in steps:
        result = timed(args, env, logs / f"x{factor}-{db}-{stage}.log")
        if stage == "import_transactions":
            lines = order_lines(env)
            if db == "pg":
                subprocess.run([*MANAGE, "dbshell", "--", "-c", "ANALYZE"], env=env, check=True)
        command = " ".join(["DATABASE_URL=" + ("<sqlite>" if db == "sqlite" else url)] + args[1:])
        record(work, factor=factor, db=db, stage=stage, order_lines=lines, command=command, **result)


def run(args) -> None:
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    for factor in args.factors:
        if "sqlite" in args.stages:
            path = work / f"x{factor}.sqlite3"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            shop_stages(work, factor, "sqlite", f"sqlite:///{path}", with_recommender=True)
        if "retrain" in args.stages:
            # Only retrain_recommender again, on the SQLite database the "sqlite" stage imported.
            url = f"sqlite:///{work / f'x{factor}.sqlite3'}"
            env = {**os.environ, "DATABASE_URL": url}
            args_ = [*MANAGE, "retrain_recommender"]
            result = timed(args_, env, work / "logs" / f"x{factor}-sqlite-retrain_recommender.log")
            command = " ".join(["DATABASE_URL=<sqlite>", *args_[1:]])
            record(
                work, factor=factor, db="sqlite", stage="retrain_recommender", order_lines=order_lines(env),
                command=command, **result,
            )  # fmt: skip
        if "pg" in args.stages:
            name = f"shop_scale_x{factor}"
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", name], check=True)
            subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
            shop_stages(work, factor, "pg", PG.format(factor=factor), with_recommender=args.pg_recommender)
        if "admin" in args.stages:
            env = {**os.environ, "DATABASE_URL": PG.format(factor=factor)}
            out = subprocess.run(
                ["nice", "-n", "10", PYTHON, __file__, "admin-pages", "--repeat", str(args.repeat)],
                env=env,
                capture_output=True,
                text=True,
            )
            if out.returncode:
                print(out.stderr[-3000:], file=sys.stderr)
                continue
            for line in out.stdout.splitlines():
                if line.startswith("{"):
                    page = json.loads(line)
                    record(work, factor=factor, db="pg", stage="admin", **page)


def admin_pages(args) -> None:
    """In this process (DATABASE_URL set by the caller): each page's median time over the test client."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    sys.path.insert(0, str(ROOT / "bench"))
    sys.path.insert(0, str(ROOT))
    from admin_pages import pages  # noqa: PLC0415 (django.setup() happens inside)

    listed = pages()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    settings.ALLOWED_HOSTS = ["*"]
    settings.DEBUG = False
    user, _ = get_user_model().objects.get_or_create(username="bench-scale-admin")
    user.is_staff = user.is_superuser = True
    user.save()
    client = Client()
    client.force_login(user)
    for name, url in listed:
        response = client.get(url)
        status = response.status_code
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        print(
            json.dumps(
                {
                    "page": name,
                    "url": url,
                    "status": status,
                    "median_ms": round(statistics.median(times), 1),
                    "worst_ms": round(max(times), 1),
                    "load": load(),
                    "command": f"DATABASE_URL={os.environ.get('DATABASE_URL')} bench/bench_scale.py "
                    f"admin-pages --repeat {args.repeat} (Django test client, in process)",
                }
            ),
            flush=True,
        )


def api_cpu(args) -> None:
    """CPU per request in one process: the three read endpoints beside a plain Django view and a
    do-nothing DRF view with the same authentication, over Django's test client."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    # One client all the time: lift the per-client throttles out of the way of the count (the
    # throttle still runs: its cost is part of every request).
    for name in ("API_THROTTLE_ANON", "API_THROTTLE_CUSTOMER"):
        os.environ[name] = "10000000/min"
    sys.path.insert(0, str(ROOT))
    import logging
    import types

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.http import HttpResponse
    from django.test import Client
    from django.urls import include, path
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from accounts.services import token_create
    from recommender.models import CustomerRecommendation, ModelVersion, SimilarProduct
    from shop.models import Customer, Product

    def plain(request):
        return HttpResponse(b'{"ok": true}', content_type="application/json")

    class Nothing(APIView):
        def get(self, request):
            return Response({"ok": True})

    urls = types.ModuleType("bench_scale_urls")
    urls.urlpatterns = [
        path("bench/plain/", plain),
        path("bench/drf/", Nothing.as_view()),
        path("", include("config.urls")),
    ]
    sys.modules["bench_scale_urls"] = urls
    settings.ROOT_URLCONF = "bench_scale_urls"
    settings.ALLOWED_HOSTS = ["*"]
    settings.DEBUG = False
    logging.getLogger("django.request").setLevel(logging.ERROR)

    version = ModelVersion.objects.active().first()
    if version is None:
        sys.exit("no active recommender version: run retrain_recommender on this database first")
    customer = Customer.objects.get(
        pk=CustomerRecommendation.objects.filter(version=version).values("customer")[:1]
    )
    user, _ = get_user_model().objects.get_or_create(username="bench-scale-api")
    if customer.user_id is None:
        customer.user = user
        customer.save(update_fields=["user"])
    else:
        user = customer.user
    token = token_create(user=user, name="bench-scale")[1]
    product = SimilarProduct.objects.filter(version=version).values_list("product", flat=True).first()
    client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_ACCEPT="application/json")
    endpoints = {
        "plain Django view": "/bench/plain/",
        "do-nothing DRF view (token auth)": "/bench/drf/",
        "recommendations": "/api/me/recommendations/?limit=10",
        "similar": f"/api/products/{product}/similar/?limit=10",
        "search": "/api/products/?search=heart",
    }
    work = args.work
    for name, url in endpoints.items():
        for _ in range(args.warmup):
            status = client.get(url).status_code
        cpu = time.process_time()
        wall = time.perf_counter()
        for _ in range(args.requests):
            client.get(url)
        cpu_ms = (time.process_time() - cpu) / args.requests * 1000
        wall_ms = (time.perf_counter() - wall) / args.requests * 1000
        record(
            work,
            factor=args.factor,
            db=os.environ.get("DATABASE_URL", "sqlite").split(":")[0],
            stage="api_cpu",
            endpoint=name,
            status=status,
            cpu_ms=round(cpu_ms, 3),
            wall_ms=round(wall_ms, 3),
            products=Product.objects.count(),
            command=f"bench/bench_scale.py api --factor {args.factor} --requests {args.requests} "
            "(one process, Django test client, time.process_time)",
        )


RETRAIN_CHUNKED = (
    "import os, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings.local'); "
    "django.setup(); "
    "from django.conf import settings; from django.core.management import call_command; "
    "settings.RECOMMENDER['LIST_CHUNK_CUSTOMERS'] = {chunk}; call_command('retrain_recommender')"
)


def scaleout(args) -> None:
    """The customer-list stage on PostgreSQL with its chunks shared by the trainer and 0..N Celery workers.

    Each run is ``retrain_recommender`` with ``RECOMMENDER["LIST_CHUNK_CUSTOMERS"]`` set; the workers
    serve the training queue on Redis db 4 and read the engine file from the same ARTIFACTS_DIR.
    """
    url = PG.format(factor=args.factor)
    artifacts = args.work / "artifacts"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": args.broker,
        "CELERY_RESULT_BACKEND": args.broker,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "ARTIFACTS_DIR": str(artifacts),
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
    }
    for workers in args.workers:
        started = []
        for n in range(workers):
            log = (args.work / "logs" / f"worker-{n}.log").open("w")
            started.append(
                subprocess.Popen(
                    [
                        "nice",
                        "-n",
                        "10",
                        PYTHON,
                        "-m",
                        "celery",
                        "-A",
                        "config",
                        "worker",
                        "-Q",
                        "training",
                        "-c",
                        "1",
                        f"--hostname=scale{n}@%h",
                        "--without-gossip",
                        "--without-mingle",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            )
        if started:
            time.sleep(15)  # the workers' start-up is not part of the stage
        code = RETRAIN_CHUNKED.format(chunk=args.chunk)
        log_path = args.work / "logs" / f"x{args.factor}-pg-lists-{workers}w.log"
        result = timed([PYTHON, "-c", code], {**env, "PYTHONPATH": str(ROOT)}, log_path)
        for process in started:
            os.killpg(process.pid, 15)
            process.wait(timeout=60)
        stages = stage_seconds(log_path.read_text(errors="replace"))
        record(
            args.work,
            factor=args.factor,
            db="pg",
            stage="customer lists, chunked",
            extra_workers=workers,
            lists_s=stages.get("customer lists"),
            stages=stages,
            command=f"retrain_recommender with RECOMMENDER['LIST_CHUNK_CUSTOMERS']={args.chunk} and "
            f"{workers} extra Celery worker(s) -Q training -c 1 (bench_scale.py scaleout)",
            **result,
        )


def check(args) -> None:
    walls = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        subprocess.run([*MANAGE, "check"], check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
    record(
        args.work,
        stage="manage.py check",
        wall_s=round(statistics.median(walls), 2),
        all_s=[round(w, 2) for w in walls],
        command=f".venv/bin/python manage.py check (median of {args.repeat})",
    )


# ---------------------------------------------------------------- report


COMMAND_STAGES = (
    "import_transactions",
    "import_categories",
    "import_suppliers",
    "import_supply_terms",
    "import_stock",
    "retrain_recommender",
    "retrain_forecasts",
)


def _key(row: dict) -> tuple:
    return (row.get("factor"), row.get("db"), row.get("stage"), row.get("page"), row.get("endpoint"))


def _latest(rows: list[dict]) -> dict:
    return {_key(row): row for row in rows}


def chart(rows: list[dict], path: Path) -> None:
    """Log-log SVG: wall time against order lines, one line per stage and database (no plotting library)."""
    series: dict[str, list[tuple[float, float]]] = {}
    lines_by_factor = {r["factor"]: r["order_lines"] for r in rows if r.get("order_lines")}
    for row in rows:
        if row.get("stage") in ("admin", "api_cpu", "manage.py check") or not row.get("wall_s"):
            continue
        lines = lines_by_factor.get(row["factor"])
        if lines:
            series.setdefault(f"{row['stage']} ({row['db']})", []).append((lines, row["wall_s"]))
    for row in rows:
        if row.get("stage") == "admin" and row.get("page") in (
            "orders list",
            "customers list",
            "products list",
        ):
            lines = lines_by_factor.get(row["factor"])
            if lines:
                series.setdefault(f"admin {row['page']} (pg)", []).append((lines, row["median_ms"] / 1000))
    if not series:
        return
    xs = [x for points in series.values() for x, _ in points]
    ys = [y for points in series.values() for _, y in points]
    x0, x1 = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)) + 1e-9)
    y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)) + 1e-9)
    if x1 == x0:
        x1 += 1
    width, height, left, top, plot_w, plot_h = 900, 520, 70, 20, 560, 440
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    colours += ["#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39"]

    def px(x: float) -> float:
        return left + (math.log10(x) - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return top + plot_h - (math.log10(y) - y0) / (y1 - y0) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        'font-size="11">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>',
    ]
    for e in range(x0, x1 + 1):
        parts.append(
            f'<line x1="{px(10**e)}" y1="{top}" x2="{px(10**e)}" y2="{top + plot_h}" stroke="#ddd"/>'
        )
        parts.append(f'<text x="{px(10**e)}" y="{top + plot_h + 15}" text-anchor="middle">1e{e}</text>')
    for e in range(y0, y1 + 1):
        parts.append(
            f'<line x1="{left}" y1="{py(10**e)}" x2="{left + plot_w}" y2="{py(10**e)}" stroke="#ddd"/>'
        )
        parts.append(f'<text x="{left - 5}" y="{py(10**e) + 4}" text-anchor="end">{10**e:g} s</text>')
    parts.append(
        f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle">order lines (log)</text>'
    )
    # Slope-1 guide: linear growth from the smallest stage's first point.
    for i, (name, points) in enumerate(sorted(series.items())):
        points = sorted(points)
        colour = colours[i % len(colours)]
        path_d = " ".join(
            f"{'M' if j == 0 else 'L'}{px(x):.1f},{py(y):.1f}" for j, (x, y) in enumerate(points)
        )
        parts.append(f'<path d="{path_d}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in points:
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
        ly = top + 14 * i + 10
        parts.append(f'<line x1="{left + plot_w + 15}" y1="{ly}" x2="{left + plot_w + 35}" y2="{ly}" '
                     f'stroke="{colour}" stroke-width="2"/>')  # fmt: skip
        parts.append(f'<text x="{left + plot_w + 40}" y="{ly + 4}">{name}</text>')
    ly = top + 14 * len(series) + 24
    parts.append(f'<text x="{left + plot_w + 15}" y="{ly}">slope 1 = linear; slope 2 = quadratic</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")


def report(args) -> None:
    rows = [
        json.loads(line) for line in (args.work / "results.jsonl").read_text().splitlines() if line.strip()
    ]
    latest = _latest(rows)
    chosen = list(latest.values())
    for row in chosen:
        log = args.work / "logs" / f"x{row.get('factor')}-{row.get('db')}-{row.get('stage')}.log"
        if row.get("wall_s") and log.exists():
            text = log.read_text(errors="replace")
            row.setdefault("cpu_s", cpu_seconds(text))
            if row["stage"] == "retrain_recommender":
                row["stages"] = stage_seconds(text)
    chart(chosen, ROOT / "docs" / "scale_chart.svg")
    # Every run of a command is shown (the box's load moved a lot between runs), oldest first.
    every = [r for r in rows if r.get("wall_s") and r.get("factor") and r.get("stage") in COMMAND_STAGES]
    for row in every:
        log = args.work / "logs" / f"x{row.get('factor')}-{row.get('db')}-{row.get('stage')}.log"
        if row.get("cpu_s") is None and log.exists() and row is latest.get(_key(row)):
            row["cpu_s"] = cpu_seconds(log.read_text(errors="replace"))
    stages = sorted(every, key=lambda r: r["at"])
    print(
        "| stage | db | factor | order lines | wall (s) | wall vs 1x | CPU (s) | CPU vs 1x | peak RSS (MiB) "
        "| load before (1/5/15) | command |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    base: dict = {}
    for r in stages:  # the first 1x run of each command is the reference
        if r["factor"] == 1:
            base.setdefault((r["stage"], r["db"]), r)
    for r in sorted(stages, key=lambda r: (r["stage"], r["db"], r["factor"], r["at"])):
        one = base.get((r["stage"], r["db"]))
        wall_ratio = f"{r['wall_s'] / one['wall_s']:.2f}x" if one else ""
        cpu_ratio = f"{r['cpu_s'] / one['cpu_s']:.2f}x" if one and one.get("cpu_s") and r.get("cpu_s") else ""
        print(
            f"| {r['stage']} | {r['db']} | {r['factor']}x | {r.get('order_lines') or 0:,} | {r['wall_s']} | "
            f"{wall_ratio} | {r.get('cpu_s')} | {cpu_ratio} | {r.get('rss_mib', '')} "
            f"| {r.get('load_before', r['load'])} | `{r['command']}` |"
        )
    trained = sorted(
        (r for r in stages if r["stage"] == "retrain_recommender" and r.get("stages")),
        key=lambda r: (r["db"], r["factor"]),
    )
    if trained:
        names = list(dict.fromkeys(name for r in trained for name in r["stages"]))
        header = " | ".join(f"{r['factor']}x {r['db']}" for r in trained)
        print(f"\n| retrain_recommender stage (s, from its progress bars) | {header} |")
        print("|---|" + "---|" * len(trained))
        for name in names:
            print(f"| {name} | " + " | ".join(str(r["stages"].get(name, "")) for r in trained) + " |")
    admin = [r for r in chosen if r.get("stage") == "admin"]
    if admin:
        print("\n| page | factor | median (ms) | worst (ms) | status | load |")
        print("|---|---|---|---|---|---|")
        for r in sorted(admin, key=lambda r: (r["page"], r["factor"])):
            print(
                f"| {r['page']} | {r['factor']}x | {r['median_ms']} | {r['worst_ms']} | {r['status']} "
                f"| {r['load']} |"
            )
    api = [r for r in chosen if r.get("stage") == "api_cpu"]
    if api:
        print("\n| endpoint | factor | db | CPU per request (ms) | wall per request (ms) | status | load |")
        print("|---|---|---|---|---|---|---|")
        for r in api:
            print(
                f"| {r['endpoint']} | {r['factor']}x | {r['db']} | {r['cpu_ms']} | {r['wall_ms']} "
                f"| {r['status']} | {r['load']} |"
            )
    for r in chosen:
        if r.get("stage") == "manage.py check":
            print(f"\n`manage.py check`: median {r['wall_s']} s of {r['all_s']} (load {r['load']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=WORK / "bench")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run")
    p.add_argument("--factors", type=int, nargs="+", default=[1, 3, 10])
    p.add_argument(
        "--stages", nargs="+", default=["sqlite", "pg", "admin"], choices=["sqlite", "retrain", "pg", "admin"]
    )
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--pg-recommender", action="store_true", help="also retrain the recommender on PostgreSQL")
    p = sub.add_parser("admin-pages")
    p.add_argument("--repeat", type=int, default=5)
    p = sub.add_parser("api")
    p.add_argument("--factor", type=int, default=1)
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--warmup", type=int, default=30)
    p = sub.add_parser("scaleout")
    p.add_argument("--factor", type=int, default=3)
    p.add_argument("--chunk", type=int, default=2000)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1])
    p.add_argument("--broker", default="redis://127.0.0.1:6379/4")
    p = sub.add_parser("check")
    p.add_argument("--repeat", type=int, default=5)
    sub.add_parser("report")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    {
        "run": run,
        "admin-pages": admin_pages,
        "api": api_cpu,
        "check": check,
        "report": report,
        "scaleout": scaleout,
    }[args.command](args)


if __name__ == "__main__":
    main()
