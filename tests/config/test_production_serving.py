"""Production serves its own static files and API documentation: DEBUG off, no CDN, no web server in front.

The module runs the documented deploy once, in subprocesses under ``config.settings.production``:
``collectstatic`` into a fresh STATIC_ROOT, then requests through ``config.wsgi.application`` (the
object gunicorn serves) as a TLS-terminating proxy forwards them (``X-Forwarded-Proto: https``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.slow  # collectstatic and a production process: about 10 s

ROOT = Path(__file__).resolve().parents[2]
HOST = "shop.example.com"
DOCS = ("/api/docs/", "/api/redoc/")
MISSING = "/static/admin/css/no-such-file.css"


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("production")
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "STATIC_"))}
    env = {
        **keep,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "k3y-" + "a1B2c3D4e5F6g7H8i9J0" * 3,
        "ALLOWED_HOSTS": HOST,
        "DATABASE_URL": f"sqlite:///{tmp / 'unused.sqlite3'}",  # none of these requests reads it
        "CACHE_URL": "redis://127.0.0.1:6379/1",  # production requires a shared cache
        "STATIC_ROOT": str(tmp / "static"),
    }
    run = {"cwd": ROOT, "env": env, "capture_output": True, "text": True, "timeout": 300}
    collected = subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], **run)
    assert collected.returncode == 0, collected.stderr
    manifest = json.loads((tmp / "static" / "staticfiles.json").read_text())
    hashed = "/static/" + manifest["paths"]["admin/css/base.css"]
    paths = ["/static/admin/css/base.css", hashed, MISSING, "/admin/login/", *DOCS]
    request = {
        "paths": paths,
        "headers": {"Host": HOST, "X-Forwarded-Proto": "https", "Accept-Encoding": "gzip"},
        "follow": True,
    }
    probe = subprocess.run([sys.executable, "-m", "tests.config.wsgi_probe", json.dumps(request)], **run)
    assert probe.returncode == 0, probe.stderr
    return {"hashed": hashed, "answers": json.loads(probe.stdout.strip().splitlines()[-1])}


def test_with_debug_off_the_wsgi_app_serves_the_admin_stylesheet_and_its_hashed_copy(served):
    answers, hashed = served["answers"], served["hashed"]

    plain = answers["/static/admin/css/base.css"]
    assert plain["status"] == 200
    assert plain["headers"]["content-type"].startswith("text/css")
    assert plain["headers"].get("content-encoding") == "gzip"  # compressed once, at collect time
    fingerprinted = answers[hashed]
    assert fingerprinted["status"] == 200
    assert "immutable" in fingerprinted["headers"]["cache-control"]  # a hashed name never changes
    # The admin links the hashed names, so browsers may cache them for good and never see a stale one.
    login = answers["/admin/login/"]
    assert login["status"] == 200
    assert hashed in login["body"]


def test_an_unknown_static_file_is_a_404_not_a_server_error(served):
    assert served["answers"][MISSING]["status"] == 404


@pytest.mark.parametrize("page", DOCS)
def test_the_api_documentation_references_no_external_host_and_every_asset_it_loads_is_served(served, page):
    answers = served["answers"]
    html = answers[page]
    assert html["status"] == 200

    assert not re.search(r"(?:https?:)?//[a-z0-9-]+(?:\.[a-z0-9-]+)+", html["body"], re.IGNORECASE), (
        "the page names another host"
    )
    # and the browser is told to stay on this origin (ReDoc's bundle would fetch its vendor's logo)
    assert "default-src 'self'" in html["headers"]["content-security-policy"]
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html["body"])
    assert any(asset.endswith(".js") for asset in assets), assets
    assert all(urlsplit(asset).netloc == "" and asset.startswith("/static/") for asset in assets), assets
    assert {asset: answers[asset]["status"] for asset in assets} == dict.fromkeys(assets, 200)
