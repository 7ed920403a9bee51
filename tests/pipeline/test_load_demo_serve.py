"""`make demo`'s last step: `load_demo --serve HOST:PORT` says "Demo ready" once the server answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status


def test_demo_ready_is_printed_with_the_real_address_once_the_server_answers_and_ctrl_c_stops_it(tmp_path):
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_", "DJANGO_"))}
    env = {
        **clean,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "SHOP_VAR_DIR": str(tmp_path / "var"),
        "PYTHONUNBUFFERED": "1",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=600,
    )
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "load_demo", "--dataset", "movielens", "--skip-training"]
        + ["--serve", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own process group, so the test can send Ctrl-C as a terminal does
    )
    try:
        printed: list[str] = []
        for line in demo.stdout:
            printed.append(line.rstrip("\n"))
            if line.startswith("Demo ready"):
                # At the moment it says so, the server answers at the address it printed.
                assert status(f"http://127.0.0.1:{port}/api/health/") == 200
                assert status(f"http://127.0.0.1:{port}/admin/login/") == 200
                break
        else:
            pytest.fail(f"no 'Demo ready' line; the command printed:\n{chr(10).join(printed)}")

        assert printed[-1] == f"Demo ready. Serving on http://127.0.0.1:{port}"
        # runserver's own banner came first: the line waited for the server, not the other way round.
        banner = next(i for i, line in enumerate(printed) if "Starting development server" in line)
        assert banner < len(printed) - 1
        rest = demo.stdout.readline() + demo.stdout.readline()
        assert f"http://127.0.0.1:{port}/admin/" in rest and "login admin / " in rest

        os.killpg(demo.pid, signal.SIGINT)
        assert demo.wait(timeout=60) is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as client:
                if client.connect_ex(("127.0.0.1", port)) != 0:
                    break
            time.sleep(0.2)
        else:
            pytest.fail("the server still answers after Ctrl-C")
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
