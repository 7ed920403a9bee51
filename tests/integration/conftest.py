"""A real Celery worker for tests: a subprocess on the test database and a dedicated Redis db.

The worker is started with ``celery -A config worker`` in its own process group, so
a test can SIGKILL it, pool children included, the way a machine dies. Redis gets
a short visibility timeout and a fast restore sweep, so a message left by a killed
worker is delivered again within seconds instead of hours.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
VISIBILITY_TIMEOUT_SECONDS = 4


def database_url_of_test_db() -> str:
    """The URL of the database this test is using (``test_<name>`` under pytest-django)."""
    conf = connection.settings_dict
    credentials = quote(conf["USER"] or "")
    if conf.get("PASSWORD"):
        credentials += ":" + quote(conf["PASSWORD"])
    host = conf["HOST"] or "127.0.0.1"
    port = conf["PORT"] or "5432"
    return f"postgres://{credentials}@{host}:{port}/{conf['NAME']}"


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log_path: Path
    name: str

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once: nothing gets to clean up or acknowledge."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def kill_pool_children(self) -> list[int]:
        """SIGKILL only the processes that run tasks; the worker itself sees them lost and carries on."""
        pid = self.process.pid
        children = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        for child in children:
            os.kill(child, signal.SIGKILL)
        return children

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready." in self.log():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"worker {self.name} exited early:\n{self.log()[-4000:]}")
            time.sleep(0.2)
        raise AssertionError(f"worker {self.name} not ready after {timeout} s:\n{self.log()[-4000:]}")


@dataclass
class WorkerFactory:
    base_env: dict[str, str]
    log_dir: Path
    started: list[WorkerProcess] = field(default_factory=list)

    def start(self, *, concurrency: int = 1, queues: str = "default,training", **env: str) -> WorkerProcess:
        name = f"w{len(self.started) + 1}"
        log_path = self.log_dir / f"worker-{name}.log"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--loglevel=INFO",
            f"--queues={queues}",
            f"--concurrency={concurrency}",
            f"--hostname={name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--include=tests.integration.worker_tasks",
        ]
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**self.base_env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = WorkerProcess(process=process, log_path=log_path, name=name)
        self.started.append(worker)
        worker.wait_ready()
        return worker

    def logs(self) -> str:
        return "\n".join(f"--- {w.name} ---\n{w.log()[-3000:]}" for w in self.started)


@pytest.fixture
def redis_db(redis_broker_url: str) -> Iterator[redis.Redis]:
    """The test's Redis database, empty at the start and at the end."""
    client = redis.Redis.from_url(redis_broker_url)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def real_broker(redis_db: redis.Redis, redis_broker_url: str) -> Iterator[None]:
    """Make this test process publish to Redis instead of running tasks eagerly."""
    saved = {
        key: celery_app.conf.get(key)
        for key in ("task_always_eager", "broker_url", "result_backend", "broker_transport_options")
    }
    celery_app.conf.update(
        task_always_eager=False,
        broker_url=redis_broker_url,
        result_backend=redis_broker_url,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
    )
    yield
    celery_app.conf.update(saved)


@pytest.fixture
def workers(postgres, transactional_db, real_broker, redis_broker_url, tmp_path) -> Iterator[WorkerFactory]:
    """Start real workers against the committed test database; all are killed when the test ends."""
    passed = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "PIPELINE_", "DATABASE_"))}
    base_env = {
        **passed,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DEBUG": "0",
        "DATABASE_URL": database_url_of_test_db(),
        "DATABASE_CONN_MAX_AGE": "0",
        "CELERY_BROKER_URL": redis_broker_url,
        "CELERY_RESULT_BACKEND": redis_broker_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_SECONDS),
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
        "PIPELINE_RETRY_BACKOFF_MAX": "2",
        "ARTIFACTS_DIR": str(django_settings.ARTIFACTS_DIR),
        "PYTHONUNBUFFERED": "1",
    }
    factory = WorkerFactory(base_env=base_env, log_dir=tmp_path)
    yield factory
    for worker in factory.started:
        worker.kill()
    connection.close()  # the flush after the test must not wait on a connection the workers left behind


def wait_for(condition: Callable[[], bool], *, timeout: float, message: str, logs: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"{message} (waited {timeout} s)\n{logs()}")
