"""``check --deploy`` fails when a demo login exists in production."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from pipeline import demo

pytestmark = pytest.mark.django_db


@pytest.fixture
def production(settings):
    settings.IS_PRODUCTION = True


def deploy_check() -> None:
    call_command("check", deploy=True, fail_level="ERROR", tags=["security"])


def test_the_deploy_check_passes_on_a_production_database_without_demo_logins(production):
    get_user_model().objects.create_superuser("ops", "ops@example.com", "a-real-long-password")

    deploy_check()


def test_the_deploy_check_fails_when_load_demo_created_a_login_in_production(production):
    demo.demo_user_create(username="admin", staff=True)

    with pytest.raises(SystemCheckError, match="shop.E001.*Demo account.*admin"):
        deploy_check()


def test_the_deploy_check_fails_for_a_login_still_using_a_published_demo_password(production):
    get_user_model().objects.create_user("customer", password="demo-customer-2011")

    with pytest.raises(SystemCheckError, match="shop.E001.*customer"):
        deploy_check()


def test_demo_logins_are_fine_outside_production():
    demo.demo_user_create(username="admin", staff=True)

    deploy_check()
