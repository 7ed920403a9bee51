"""The replay's small rules: lead-time jitter, cutting a refused line, the file's window."""

from datetime import date
from pathlib import Path

from django.conf import settings

from pipeline import simulation as sim

SAMPLE = Path(settings.BASE_DIR) / "data" / "sample" / "online_retail_sample.csv.gz"


class _Replay(sim.Replay):
    def __init__(self, seed: int, lead: int) -> None:  # no database: only the options are read
        self.options = sim.Options(
            file="f", start="2011-07-01", end="2011-07-02", seed=seed, lead_time_days=lead
        )


def test_lead_times_jitter_by_at_most_30_percent_and_repeat_for_a_seed():
    replay = _Replay(seed=3, lead=10)
    leads = [replay._lead_time(pk) for pk in range(1, 400)]
    assert min(leads) == 7 and max(leads) == 13  # 10 days +-30%, every value reached
    assert leads == [_Replay(seed=3, lead=10)._lead_time(pk) for pk in range(1, 400)]
    assert leads != [_Replay(seed=4, lead=10)._lead_time(pk) for pk in range(1, 400)]
    assert min(_Replay(seed=0, lead=1)._lead_time(pk) for pk in range(1, 50)) == 1  # never 0 days


def test_a_refused_line_is_cut_to_what_is_available_and_the_others_go_through():
    body = {"lines": [{"product": 1, "quantity": 5}, {"product": 2, "quantity": 7}]}
    short = {"code": "insufficient_stock", "product": 2, "available": 3}
    assert sim._without_shortage(body, short)["lines"] == [
        {"product": 1, "quantity": 5},
        {"product": 2, "quantity": 3},
    ]
    gone = {"code": "insufficient_stock", "product": 1, "available": 0}
    assert sim._without_shortage(body, gone)["lines"] == [{"product": 2, "quantity": 7}]
    capped = {"code": "reservation_limit", "product": 2, "limit": 10, "held": 6}
    assert sim._without_shortage(body, capped)["lines"][1] == {"product": 2, "quantity": 4}
    unavailable = {"code": "product_unavailable", "errors": {"lines.0.product": ["unavailable"]}}
    assert sim._without_shortage(body, unavailable)["lines"] == [{"product": 2, "quantity": 7}]


def test_the_window_holds_each_invoice_once_in_time_order_with_its_units():
    plan = sim.plan_file(str(SAMPLE))
    events = sim.window_events(plan, date(2011, 9, 5), date(2011, 9, 6))
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert len({(e.kind, e.invoice) for e in events}) == len(events)
    assert {sim._utc_day(e.at) for e in events} <= {date(2011, 9, 5), date(2011, 9, 6)}
    sales = plan.lines[plan.lines["number"].isin({e.invoice for e in events if e.kind == "sale"})]
    assert sum(u for e in events if e.kind == "sale" for _, u in e.lines) == sales["quantity"].sum()
    assert any(e.external_id is None for e in events)  # guest invoices are kept, for the guest checkout
    assert any(e.kind == "cancellation" for e in events)
