"""Start-up imports no training library: every web process, worker and management command pays for it.

Each check runs in a fresh interpreter and lists the heavy libraries in ``sys.modules`` after a
process's start-up. numpy is allowed (the services use it for small arrays); the training and data
libraries load where they are used: a training, a forecast, an import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

HEAVY = ("pandas", "scipy", "sklearn", "surprise", "implicit", "statsmodels", "fastparquet")
# Not listed: openpyxl. django-import-export decides at import time which of its formats are available,
# and tablib's XLSX format imports openpyxl to tell; the admin's import screens are built on it.

LIST_HEAVY = f"import json, sys; print(json.dumps([n for n in {HEAVY!r} if n in sys.modules]))"

WEB = """
import django
django.setup()
from django.contrib import admin
from django.urls import get_resolver
get_resolver().url_patterns  # the URL conf: every API view and the admin site
admin.autodiscover()  # every admin module (again: a no-op after setup, kept to say what start-up is)
import config.wsgi
"""

WORKER = """
import django
django.setup()
from celery.signals import worker_init, worker_process_init
from config.celery import app
app.loader.import_default_modules()  # what `celery worker` imports before it consumes: every tasks module
worker_init.send(sender=None)  # and the start-up hooks of the worker and of each pool process
worker_process_init.send(sender=None)
"""

CHECK = """
from django.core.management import execute_from_command_line
execute_from_command_line(["manage.py", "check"])
"""


def heavy_after(code: str) -> list[str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    result = subprocess.run(
        [sys.executable, "-c", code + "\n" + LIST_HEAVY],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "start_up",
    [pytest.param(WEB, id="web"), pytest.param(WORKER, id="worker"), pytest.param(CHECK, id="check")],
)
def test_start_up_imports_no_training_or_data_library(start_up):
    assert heavy_after(start_up) == []


def test_the_probe_sees_a_training_library_when_one_is_imported():
    """The check above would catch a module that imports the engine at its top."""
    assert "pandas" in heavy_after(WEB + "import shop.importing.readers\n")  # pandas at its top
