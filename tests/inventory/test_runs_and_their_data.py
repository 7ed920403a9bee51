"""A forecast run whose input rows changed since does not supersede a later, valid run's suggestions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory import services
from inventory.models import ProductSupply, ReorderSuggestion, Supplier
from shop.models import Order
from tests.inventory.test_services import START, record_sales, weekly_sales
from tests.shop.factories import make_product

pytestmark = pytest.mark.django_db
Status = ReorderSuggestion.Status


@pytest.fixture
def busy_product():
    supplier = Supplier.objects.create(name="Acme", lead_time_days=7)
    product = make_product(stock=10)
    ProductSupply.objects.create(product=product, supplier=supplier)
    record_sales(product, weekly_sales(20, scale=3))
    return product


def test_a_run_as_of_a_stray_future_date_does_not_supersede_the_valid_run_after_the_row_is_gone(busy_product):
    stray_day = (timezone.now() + timedelta(days=365 * 70)).date()  # a row dated in 2099 or so
    record_sales(busy_product, [5], start=stray_day)
    stale = services.forecast_retrain(as_of=stray_day + timedelta(days=1))
    Order.objects.filter(placed_at__date=stray_day).delete()

    valid = services.forecast_retrain(as_of=START + timedelta(days=140))

    assert stale.status == "complete"
    assert ReorderSuggestion.objects.get(run=valid).status == Status.OPEN


def test_a_run_whose_input_rows_were_deleted_since_does_not_supersede_a_later_valid_run(busy_product):
    as_of = START + timedelta(days=140)
    stale = services.forecast_retrain(as_of=as_of)
    assert ReorderSuggestion.objects.get(run=stale).status == Status.OPEN
    # Rows the stale run read are deleted (a re-import that dropped a week): its forecasts describe nothing.
    Order.objects.filter(placed_at__date__gte=as_of - timedelta(days=7), placed_at__date__lt=as_of).delete()

    valid = services.forecast_retrain(as_of=as_of - timedelta(days=7))

    assert ReorderSuggestion.objects.get(run=valid).status == Status.OPEN
    assert ReorderSuggestion.objects.get(run=stale).status == Status.SUPERSEDED


def test_a_later_run_on_unchanged_data_still_wins_over_a_backfill(busy_product):
    as_of = START + timedelta(days=140)
    current = services.forecast_retrain(as_of=as_of)

    backfill = services.forecast_retrain(as_of=as_of - timedelta(days=3))

    assert ReorderSuggestion.objects.get(run=backfill).status == Status.SUPERSEDED
    assert ReorderSuggestion.objects.get(run=current).status == Status.OPEN
