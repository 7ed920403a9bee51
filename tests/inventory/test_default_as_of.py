"""The default forecast as-of date cannot come from one stray order (issue 13, item 2)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from inventory import services
from shop.models import Order

pytestmark = pytest.mark.django_db


def _order(number: str, placed_at: datetime) -> None:
    Order.objects.create(number=number, placed_at=placed_at, status=Order.Status.FULFILLED)


@pytest.fixture
def march() -> None:
    _order("1", datetime(2011, 3, 1, 9, tzinfo=UTC))
    _order("2", datetime(2011, 3, 1, 10, tzinfo=UTC))
    _order("3", datetime(2011, 3, 2, 9, tzinfo=UTC))


@pytest.mark.parametrize(
    "stray",
    [datetime(2099, 1, 1, tzinfo=UTC), datetime(2020, 6, 1, tzinfo=UTC), datetime(2011, 9, 30, tzinfo=UTC)],
)
def test_a_single_stray_order_does_not_move_the_default_as_of_date(march, stray):
    _order("stray", stray)
    assert services.forecast_run_start().as_of == date(2011, 3, 3)


def test_the_day_after_the_latest_order_when_nothing_is_stray(march):
    _order("4", datetime(2011, 3, 5, 9, tzinfo=UTC))  # alone on its day, but not in its week
    assert services.forecast_run_start().as_of == date(2011, 3, 6)


def test_a_shop_with_a_single_order_starts_the_day_after_it():
    _order("1", datetime(2011, 3, 1, 9, tzinfo=UTC))
    assert services.forecast_run_start().as_of == date(2011, 3, 2)
