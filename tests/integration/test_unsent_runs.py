"""A request SIGKILLed between saving its run and sending the task: found within the grace, not hours."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from pipeline import services
from pipeline.models import Run
from tests.integration.conftest import ROOT, database_url_of_test_db

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

GRACE_SECONDS = 2

# start_run's own path, with the send replaced by the process killing itself: the run is committed,
# the task never leaves, and nothing gets to clean up.
KILLED_BEFORE_SEND = """
import os, signal
import django
django.setup()
from django.core.management import call_command
from pipeline import services
services.run_dispatch = lambda **kwargs: os.kill(os.getpid(), signal.SIGKILL)
call_command("start_run", "recommender")
"""


@pytest.mark.django_db(transaction=True)
def test_a_request_killed_between_save_and_send_blocks_its_kind_only_for_the_grace(postgres, settings):
    settings.PIPELINE = {**settings.PIPELINE, "UNSENT_GRACE_SECONDS": GRACE_SECONDS}
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "PIPELINE_", "DATABASE_"))},
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": database_url_of_test_db(),
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",  # never reached: the process dies first
    }

    killed = subprocess.run(
        [sys.executable, "-c", KILLED_BEFORE_SEND], cwd=ROOT, env=env, capture_output=True, timeout=120
    )

    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    orphan = Run.objects.get()
    assert orphan.status == Run.Status.QUEUED and orphan.sent_at is None
    with pytest.raises(services.RunAlreadyActive):  # within the grace it may still be on its way
        services.run_request(kind=Run.Kind.RECOMMENDER, trigger=Run.Trigger.COMMAND)

    time.sleep(GRACE_SECONDS + 0.5)
    fresh = services.run_request(kind=Run.Kind.RECOMMENDER, trigger=Run.Trigger.COMMAND)

    orphan.refresh_from_db()
    assert orphan.status == Run.Status.FAILED
    assert "stopped before its task was sent" in orphan.error
    assert fresh.pk != orphan.pk
