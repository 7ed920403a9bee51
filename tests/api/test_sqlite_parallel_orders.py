"""12 parallel order placements through HTTP on a real SQLite file: no errors, exact stock.

pytest-django's SQLite test database lives in memory, which hides locking, so this test migrates a
temporary database file and serves it with ``runserver`` (one thread and one connection per request)
in a subprocess, then fires the 12 requests at once from 12 threads.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings

ORDERS = 12
MANAGE = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]

SETUP = f"""
import json
from django.contrib.auth import get_user_model
from shop import services
from shop.models import Customer, Product
from accounts.services import token_create
a = Product.objects.create(sku="A", name="Plenty", price="1.00")
b = Product.objects.create(sku="B", name="Exactly enough", price="2.00")
services.stock_receive(product=a, quantity=100)
services.stock_receive(product=b, quantity={ORDERS})
tokens = []
for i in range({ORDERS}):
    user = get_user_model().objects.create_user(f"buyer{{i}}")
    Customer.objects.create(external_id=f"B{{i}}", user=user)
    tokens.append(token_create(user=user)[1])
print(json.dumps({{"a": a.pk, "b": b.pk, "tokens": tokens}}))
"""

REPORT = """
import json
from shop.models import Order, StockRecord
stock = {r.product.sku: [r.on_hand, r.reserved] for r in StockRecord.objects.select_related("product")}
print(json.dumps({"orders": Order.objects.count(), "stock": stock}))
"""


def _free_port() -> int:
    # The helper's own port range on the shared machine.
    for port in range(8110, 8120):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return port
    pytest.skip("no free port in 8110-8119")


def _manage(env: dict, *args: str) -> str:
    result = subprocess.run([*MANAGE, *args], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow
def test_twelve_parallel_orders_on_a_sqlite_file_all_succeed_with_exact_stock(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "CELERY_BROKER_URL": "",
        "PYTHONUNBUFFERED": "1",
    }
    _manage(env, "migrate", "--noinput")
    fixture = json.loads(_manage(env, "shell", "-c", SETUP).strip().splitlines()[-1])
    port = _free_port()
    server = subprocess.Popen(
        [*MANAGE, "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/products/", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline and server.poll() is None, "server did not start"
                time.sleep(0.2)

        barrier = threading.Barrier(ORDERS)
        body = json.dumps(
            {"lines": [{"product": fixture["a"], "quantity": 3}, {"product": fixture["b"], "quantity": 1}]}
        ).encode()

        def place(token: str) -> tuple[int, str]:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/orders/",
                data=body,
                headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
                method="POST",
            )
            barrier.wait()
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    return response.status, response.headers["Content-Type"]
            except urllib.error.HTTPError as error:
                return error.code, error.read().decode(errors="replace")

        with ThreadPoolExecutor(ORDERS) as pool:
            answers = list(pool.map(place, fixture["tokens"]))
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert [status for status, _ in answers] == [201] * ORDERS, answers
    report = json.loads(_manage(env, "shell", "-c", REPORT).strip().splitlines()[-1])
    assert report == {"orders": ORDERS, "stock": {"A": [100, 3 * ORDERS], "B": [ORDERS, ORDERS]}}
