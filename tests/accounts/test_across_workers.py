"""With a shared cache (Redis), the sign-in throttle and token revocation hold across gunicorn workers.

A real gunicorn with 4 worker processes serves a migrated SQLite file, with ``CACHE_URL`` pointing at
the test Redis under a key prefix of its own. 40 concurrent wrong passwords for one username at a
limit of 5 a minute: exactly 5 reach the password check, 35 are told to wait. A token read by every
worker, then revoked through one of them, is refused by all of them at once.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings

MANAGE = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
SETUP = """
import json
from django.contrib.auth import get_user_model
from accounts.services import token_create
victim = get_user_model().objects.create_user("victim", password="Right-pass-long-42")
reader = get_user_model().objects.create_user("reader", password="Right-pass-long-42")
print(json.dumps({"token": token_create(user=reader)[1], "other": token_create(user=reader)[1]}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(url: str, *, body: dict | None = None, token: str | None = None) -> tuple[int, dict, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"{}")


@pytest.fixture
def gunicorn(tmp_path, redis_broker_url):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DEBUG": "0",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.sqlite3'}",
        "CELERY_BROKER_URL": "",
        "CACHE_URL": redis_broker_url,
        "CACHE_KEY_PREFIX": f"test-workers-{uuid.uuid4()}",
        "API_THROTTLE_SIGNIN_USERNAME": "5/min",
        "API_THROTTLE_SIGNIN_IP": "off",
        "API_THROTTLE_ANON": "off",
        "API_THROTTLE_CUSTOMER": "off",
        "AXES_ENABLED": "0",  # the throttle alone is under test here (test_lockout.py covers axes)
        "PYTHONUNBUFFERED": "1",
    }
    migrate = subprocess.run(
        [*MANAGE, "migrate", "--noinput"], env=env, capture_output=True, text=True, timeout=600
    )
    assert migrate.returncode == 0, migrate.stderr
    setup = subprocess.run(
        [*MANAGE, "shell", "-c", SETUP], env=env, capture_output=True, text=True, timeout=120
    )
    assert setup.returncode == 0, setup.stderr
    fixture = json.loads(setup.stdout.strip().splitlines()[-1])
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "-w",
            "4",
            "-b",
            f"127.0.0.1:{port}",
            "--timeout",
            "120",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/health/", timeout=2)
                break
            except OSError:  # refused, reset or timed out while the workers boot
                assert time.monotonic() < deadline and server.poll() is None, "gunicorn did not start"
                time.sleep(0.3)
        yield base, fixture
    finally:
        server.terminate()
        server.wait(timeout=30)
        import redis

        client = redis.Redis.from_url(redis_broker_url)
        for key in client.scan_iter(f"{env['CACHE_KEY_PREFIX']}*"):
            client.delete(key)


@pytest.mark.slow
def test_the_sign_in_throttle_and_token_revocation_hold_across_gunicorn_workers(gunicorn):
    base, fixture = gunicorn
    wrong = {"username": "victim", "password": "not-it"}
    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(lambda _: _request(f"{base}/api/auth/token/", body=wrong), range(40)))
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [400] * 5 + [429] * 35, statuses
    throttled = [(headers, body) for status, headers, body in answers if status == 429]
    assert all(
        int(headers["Retry-After"]) >= 1 and body["code"] == "throttled" for headers, body in throttled
    )

    token, other = fixture["token"], fixture["other"]
    with ThreadPoolExecutor(8) as pool:  # enough requests to reach every worker, filling the cache
        reads = list(pool.map(lambda _: _request(f"{base}/api/auth/me/", token=token)[0], range(32)))
    assert reads == [200] * 32
    status, _, _ = _request(f"{base}/api/auth/token/revoke/", body={}, token=token)
    assert status == 204
    with ThreadPoolExecutor(8) as pool:
        after = list(pool.map(lambda _: _request(f"{base}/api/auth/me/", token=token)[0], range(32)))
        still = list(pool.map(lambda _: _request(f"{base}/api/auth/me/", token=other)[0], range(8)))
    assert after == [401] * 32 and still == [200] * 8
