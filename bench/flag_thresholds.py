"""Choose the worklist's flag thresholds on a validation run, then report them on a later run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop_buyer \\
        .venv/bin/python bench/flag_thresholds.py --validation 2011-09-01 --report 2011-10-01

Both dates name complete forecast runs already in the database (``bench/buyer_shop.py --runs``
makes them, each after a run a week earlier so that "forecast jumped" has something to compare).
For every suggestion of a run the script recomputes what the flag rules read (through
``inventory.services_worklist.flag_inputs_for``, as the run's finish did) and then:

1. takes the fixed causes as they are ("no sales in 8 weeks" is the issue's own definition);
2. splits what is left of the budget (``--budget``, default 10% of the run's suggestions) evenly
   over the four causes with a threshold, and sets each threshold to the smallest round value at
   which that cause alone flags no more than its share, never below an a-priori floor that keeps
   the cause's meaning (twice the need, twice the forecast, the cover bound);
3. prints the chosen thresholds (put them in ``INVENTORY`` settings) and the share they flag on
   the validation run and on the report run, per cause and in all. The report run is never used
   to choose.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

#: cause -> (settings key, a-priori floor, rounding step)
TUNED = {
    "above_sales": ("FLAG_ABOVE_SALES_DAYS", 90.0, 10.0),
    "cover_capped": ("FLAG_CAPPED_WANTED_DAYS", 240.0, 10.0),
    "forecast_jump": ("FLAG_FORECAST_JUMP_RATIO", 2.0, 0.5),
    "minimum_order": ("FLAG_MINIMUM_ORDER_RATIO", 2.0, 0.5),
}


def measures(as_of: date) -> tuple[object, dict[str, list[float | None]], list[object]]:
    from django.conf import settings

    from inventory import flags, services, services_worklist
    from inventory.models import ForecastRun, ProductForecast, ReorderSuggestion

    run = (
        ForecastRun.objects.filter(as_of=as_of, status=ForecastRun.Status.COMPLETE)
        .order_by("-finished_at")
        .first()
    )
    if run is None:
        raise SystemExit(f"No complete forecast run as of {as_of}: run bench/buyer_shop.py --runs first.")
    quantities = dict(ReorderSuggestion.objects.filter(run=run).values_list("product_id", "quantity"))
    forecasts = list(ProductForecast.objects.filter(run=run, product_id__in=list(quantities)))
    plans = services.reorder_plans_for(run=run, forecasts=forecasts)
    inputs = services_worklist.flag_inputs_for(
        run=run, plans=plans, forecasts=forecasts, quantities=quantities
    )
    min_units = float(settings.INVENTORY["FLAG_FORECAST_JUMP_MIN_UNITS"])
    rows = list(inputs.values())
    return (
        run,
        {
            "above_sales": [flags.above_sales_days(i) for i in rows],
            "cover_capped": [flags.capped_wanted_days(i) for i in rows],
            "forecast_jump": [flags.forecast_jump(i, min_units) for i in rows],
            "minimum_order": [flags.minimum_order_multiple(i) for i in rows],
        },
        rows,
    )


def choose(values: list[float | None], share: float, floor: float, step: float) -> float:
    """The smallest multiple of ``step`` (at least ``floor``) that flags at most ``share`` of all rows."""
    allowed = math.floor(share * len(values))
    present = sorted((v for v in values if v is not None), reverse=True)
    cut = present[allowed] if allowed < len(present) else 0.0
    if math.isinf(cut):
        cut = max((v for v in present if not math.isinf(v)), default=floor)
    return max(floor, math.ceil(cut / step) * step)


def flagged_share(run_inputs: list[object], thresholds) -> tuple[float, dict[str, int]]:
    from collections import Counter

    from inventory.flags import flag_causes

    causes = [flag_causes(i, thresholds) for i in run_inputs]
    counts = Counter(code for row in causes for code in row)
    return (sum(1 for row in causes if row) / len(causes) if causes else 0.0), counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--validation", type=date.fromisoformat, required=True)
    parser.add_argument("--report", type=date.fromisoformat, required=True)
    parser.add_argument("--budget", type=float, default=0.10)
    args = parser.parse_args()
    if args.report <= args.validation:
        raise SystemExit("The report run must come after the validation run.")

    import dataclasses

    import django

    django.setup()
    from inventory import services_worklist
    from inventory.flags import FlagThresholds

    print(f"command: {' '.join(sys.argv)}  (load average {os.getloadavg()[0]:.2f})")
    run, values, rows = measures(args.validation)
    quiet = sum(1 for i in rows if i.days_since_last_sale is None or i.days_since_last_sale >= 56) / len(rows)
    share = max(args.budget - quiet, 0.0) / len(TUNED)
    chosen = {cause: choose(values[cause], share, floor, step) for cause, (_, floor, step) in TUNED.items()}
    current = services_worklist.flag_thresholds()
    thresholds = dataclasses.replace(
        current,
        above_sales_days=chosen["above_sales"],
        capped_wanted_days=chosen["cover_capped"],
        jump_ratio=chosen["forecast_jump"],
        minimum_order_ratio=chosen["minimum_order"],
    )
    assert isinstance(thresholds, FlagThresholds)
    print(
        f"validation run {run.pk} as of {run.as_of}: {len(rows):,} suggestions; "
        f"no sales in 8 weeks {quiet:.1%}; budget {args.budget:.0%}, "
        f"so {share:.1%} for each of {len(TUNED)} tuned causes"
    )
    for cause, (key, floor, _) in TUNED.items():
        print(f"  {key} = {chosen[cause]:g}   (floor {floor:g})")
    for label, as_of in (("validation", args.validation), ("report", args.report)):
        report_run, _, report_rows = measures(as_of)
        total, counts = flagged_share(report_rows, thresholds)
        print(
            f"{label} run {report_run.pk} as of {as_of}: {len(report_rows):,} suggestions, "
            f"{total:.1%} flagged; " + ", ".join(f"{code} {n:,}" for code, n in sorted(counts.items()))
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
