"""The admin shows a finished simulation: its summary and a server-drawn chart of its days."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from pipeline.models import Simulation, SimulationDay

pytestmark = pytest.mark.django_db


def test_a_finished_simulation_shows_its_fill_rate_and_stock_value_by_day(admin_client):
    simulation = Simulation.objects.create(
        output_dir="/tmp/out",
        options={"start": "2011-07-01", "end": "2011-07-03"},
        status=Simulation.Status.FINISHED,
        summary={"fill_rate_units": 0.9512, "orders_placed": 12},
    )
    for offset, (served, value) in enumerate([(90, "1000.00"), (100, "900.50"), (0, "800.00")]):
        SimulationDay.objects.create(
            simulation=simulation,
            day=date(2011, 7, 1) + timedelta(days=offset),
            units_demanded=100 if served else 0,
            units_served=served,
            lost_units=100 - served if served else 0,
            stock_value=Decimal(value),
        )

    listing = admin_client.get(reverse("admin:pipeline_simulation_changelist"))
    assert listing.status_code == 200
    assert "95.1%" in listing.content.decode()

    page = admin_client.get(reverse("admin:pipeline_simulation_change", args=[simulation.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and 'class="fill-rate"' in html and 'class="stock-value"' in html
    assert "fill_rate_units" in html and "0.9512" in html
    assert "http" not in html.split("<svg", 1)[1].split("</svg>", 1)[0].replace("http://www.w3.org", "")
    # A day with no demand has no fill rate: two points on the fill line, three on the stock line.
    assert html.count("<circle") == 2


def test_simulations_are_not_added_or_edited_in_the_admin(admin_client):
    assert admin_client.get(reverse("admin:pipeline_simulation_add")).status_code == 403
