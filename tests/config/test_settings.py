"""Settings read the environment in one place; production refuses to start without its secrets."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, database: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    """``manage.py`` with only the given settings, on a database of the test's own (in memory by default).

    Never the clone's ``db.sqlite3``: after ``make demo`` it holds the demo's logins, which the
    deploy check rightly refuses (shop.E001), so a test on it would fail for the user's data.
    """
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "CACHE_URL"}
    }
    env = {"DATABASE_URL": f"sqlite:///{database}" if database else "sqlite://:memory:", **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "CACHE_URL"])
def test_production_settings_refuse_to_start_without_secret_key_allowed_hosts_or_a_shared_cache(
    missing, tmp_path
):
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "x" * 60,
        "ALLOWED_HOSTS": "shop.example.com",
        "CACHE_URL": "redis://127.0.0.1:6379/1",
    }
    del env[missing]
    result = run_manage("check", database=tmp_path / "db.sqlite3", **env)
    assert result.returncode != 0
    assert f"{missing} must be set" in result.stderr


def test_production_settings_pass_the_deploy_check_when_configured(tmp_path):
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        database=tmp_path / "db.sqlite3",  # a new deployment's empty database
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY="k3y-" + "a1B2c3D4e5F6g7H8i9J0" * 3,
        ALLOWED_HOSTS="shop.example.com",
        SHOP_PAYMENT_WEBHOOK_SECRET="whsec-" + "q9W8e7R6t5Y4" * 3,
        CACHE_URL="redis://127.0.0.1:6379/1",  # never connected to by the check
    )
    assert result.returncode == 0, result.stderr


def test_defaults_are_embedded_sqlite_and_eager_celery_and_urls_switch_them():
    code = (
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER)"
    )
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    base = {**clean, "DJANGO_SETTINGS_MODULE": "config.settings.local"}

    def read(**env: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            cwd=ROOT,
            env={**base, **env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    assert read() == "django.db.backends.sqlite3 True"
    assert (
        read(DATABASE_URL="postgres://u@127.0.0.1:5432/x", CELERY_BROKER_URL="redis://127.0.0.1:6379/0")
        == "django.db.backends.postgresql False"
    )


def test_the_deploy_check_refuses_a_per_process_cache_in_production(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.IS_PRODUCTION = True
    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    with pytest.raises(SystemCheckError, match="shop.E002"):
        call_command("check", deploy=True, fail_level="ERROR", tags=["caches"])
