"""The simulation's HTTP side: a keep-alive client that times every call, and its own API server.

The client uses the standard library (one persistent connection, like a browser's), so the
runtime install needs nothing more. The server is gunicorn in a subprocess on a free loopback port,
on the same database as this process.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection

from shop import webhooks


@dataclass
class Answer:
    status: int
    body: object
    headers: dict[str, str]


@dataclass
class ApiClient:
    """Calls to one base URL over one kept-alive connection; each call's milliseconds are kept."""

    base_url: str
    timeout: float = 120.0
    latencies_ms: list[float] = field(default_factory=list)
    server_errors: int = 0

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.base_url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port
        self._https = parts.scheme == "https"
        self._prefix = parts.path.rstrip("/")
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(
        self, method: str, path: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Answer:
        headers = {"Accept": "application/json", **(headers or {})}
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        for attempt in range(3):
            started = time.perf_counter()
            try:
                conn = self._connection()
                conn.request(method, self._prefix + path, body=body, headers=headers)
                response = conn.getresponse()
                raw = response.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                # A dropped keep-alive connection: reconnect and send again (the requests that
                # change anything carry an Idempotency-Key or an event id, so a resend is safe).
                self.close()
                if attempt == 2:
                    raise
                continue
            self.latencies_ms.append((time.perf_counter() - started) * 1000)
            if response.status >= 500:
                self.server_errors += 1
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw.decode(errors="replace")
            return Answer(response.status, parsed, {k.lower(): v for k, v in response.getheaders()})
        raise AssertionError("unreachable")

    def get(self, path: str, *, token: str | None = None) -> Answer:
        return self.request("GET", path, headers=_auth(token))

    def post_json(
        self, path: str, payload: dict, *, token: str | None = None, headers: dict[str, str] | None = None
    ) -> Answer:
        return self.request(
            "POST", path, body=json.dumps(payload).encode(), headers={**_auth(token), **(headers or {})}
        )

    def post_signed(self, path: str, payload: dict, *, secret: str) -> Answer:
        """A payment provider's event: the raw body signed as ``t=<unix>,v1=<hmac hex>``."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        header = webhooks.signature_header(secret=secret, timestamp=int(time.time()), body=body)
        return self.request("POST", path, body=body, headers={webhooks.SIGNATURE_HEADER: header})


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Token {token}"} if token else {}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """This process's database as a DATABASE_URL, so the server subprocess opens the same one."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    if "postgresql" in db["ENGINE"]:
        auth = urllib.parse.quote(db["USER"] or "")
        if db.get("PASSWORD"):
            auth += ":" + urllib.parse.quote(db["PASSWORD"])
        host = db.get("HOST") or "127.0.0.1"
        port = db.get("PORT") or 5432
        return f"postgres://{auth}@{host}:{port}/{db['NAME']}"
    raise ValueError(f"Cannot hand the {db['ENGINE']} database to a server subprocess; pass --api-url.")


class OwnServer:
    """gunicorn serving this project on a free loopback port, on this process's database."""

    def __init__(self, *, secret: str, extra_env: dict[str, str] | None = None, workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.local"),
            "SHOP_PAYMENT_WEBHOOK_SECRET": secret,
            # Eager retrains write the recommender's files here; the server must read the same ones.
            "ARTIFACTS_DIR": str(settings.ARTIFACTS_DIR),
            **(extra_env or {}),
        }
        self.log_path = Path(settings.BASE_DIR) / "var" / f"simulate_shop_server_{self.port}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--timeout",
                "300",
                "--keep-alive",
                "75",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"The API server exited with {self.process.returncode}; see {self.log_path}."
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                client = ApiClient(self.url)
                if client.get("/api/health/").status < 500:
                    client.close()
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"The API server did not answer within {timeout:.0f} s; see {self.log_path}.")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
