"""The inventory replay of DESIGN.md on the imported data: fill rate and stock held per service level.

``--retrain-every R`` replays the nightly loop at engine level: the policy is recomputed every R days
from the data up to that day (history plus the replay's own sales), orders are placed when a
retrain says so, with ``--lead-time-jitter`` on every delivery. ``--retrain-every 0`` (the default)
holds the policy set at ``--cut``: the static baseline, the DESIGN.md replay. This is the engine's
replay, not the HTTP path of ``simulate_shop``.
"""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from inventory import selectors
from inventory.forecasting.replay import ForecastPolicy, rolling_replay, units_for_fill_rate
from inventory.services import replay_policy_options


class Command(BaseCommand):
    help = "Replay real demand after --cut against reorder levels set from data before it (or every R days)."

    def add_arguments(self, parser):
        parser.add_argument("--cut", type=date.fromisoformat, required=True)
        parser.add_argument("--end", type=date.fromisoformat, required=True, help="Last replayed day")
        parser.add_argument("--lead-time-days", type=int, default=7)
        parser.add_argument("--service-levels", default="0.8,0.9,0.95,0.98")
        parser.add_argument("--products", type=int, default=300, help="Top products by units before the cut")
        parser.add_argument("--cover-days", type=int, default=None)
        parser.add_argument("--workers", type=int, default=1, help="Kept for compatibility (one process)")
        parser.add_argument(
            "--retrain-every", type=int, default=0, help="Recompute the policy every R days (0: hold it)"
        )
        parser.add_argument(
            "--lead-time-jitter",
            type=float,
            default=0.0,
            help="Each delivery's lead time varies by +-this share",
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", type=Path, help="Also write the figures per service level here")

    def handle(self, *args, **options):
        cut, end, lead_time = options["cut"], options["end"], options["lead_time_days"]
        retrain_every = options["retrain_every"]
        if end < cut:
            raise CommandError("--end must not be before --cut.")
        if retrain_every < 0:
            raise CommandError("--retrain-every must be 0 (hold the policy) or a number of days.")
        if not 0 <= options["lead_time_jitter"] < 1:
            raise CommandError("--lead-time-jitter must be in [0, 1).")
        levels = sorted(float(v) for v in options["service_levels"].split(","))
        product_ids = selectors.top_products_by_units(before=cut, limit=options["products"])
        if not product_ids:
            raise CommandError("No sales before the cut.")
        history, actual = _history_and_window(product_ids, cut, end)
        policy_options = replay_policy_options(cover_days=options["cover_days"])

        def new_policy(level: float) -> ForecastPolicy:
            return ForecastPolicy(
                history,
                next_weekday=cut.weekday(),
                lead_time=lead_time,
                service_level=level,
                policy_options=policy_options,
            )

        static_forecasts = None
        points, figures = [], []
        for level in levels:
            policy = new_policy(level)
            if retrain_every == 0:
                # One forecast serves every level of a held policy.
                if static_forecasts is None:
                    static_forecasts = policy.forecasts(0, actual[:, :0])
                held = policy.levels(static_forecasts, history, level)
                result = rolling_replay(
                    actual,
                    lambda day, served, held=held: held,
                    retrain_every=0,
                    lead_time=lead_time,
                    jitter=options["lead_time_jitter"],
                    seed=options["seed"],
                )
            else:
                days = actual.shape[1]
                with tqdm(
                    desc=f"replay {level:g}", total=days, unit="day", file=sys.stderr, leave=False
                ) as bar:

                    def tracked(day, served, policy=policy, bar=bar):
                        bar.update(day - bar.n)
                        return policy(day, served)

                    result = rolling_replay(
                        actual,
                        tracked,
                        retrain_every=retrain_every,
                        lead_time=lead_time,
                        jitter=options["lead_time_jitter"],
                        seed=options["seed"],
                    )
            points.append((result.fill_rate, result.average_on_hand))
            figures.append(
                {
                    "service_level": level,
                    "fill_rate_units": round(result.fill_rate, 4),
                    "avg_units_on_hand": round(result.average_on_hand, 1),
                    "lost_units": round(result.demanded - result.served, 1),
                    "orders": result.orders,
                    "stockout_product_days": result.stockout_product_days,
                    "policy_seconds": round(result.policy_seconds, 1),
                }
            )
            self.stdout.write(
                f"service level {level:.3f}: fill rate {result.fill_rate:.4f}, "
                f"average units on hand {result.average_on_hand:,.0f}"
            )
        needed = units_for_fill_rate(points, 0.95)
        if needed == float("inf"):
            self.stdout.write("95% fill rate never reached")
        else:
            self.stdout.write(f"units on hand for a 95% fill rate: {needed:,.0f}")
        if options["json"]:
            options["json"].write_text(
                json.dumps(
                    {
                        "cut": cut.isoformat(),
                        "end": end.isoformat(),
                        "retrain_every": retrain_every,
                        "lead_time_days": lead_time,
                        "lead_time_jitter": options["lead_time_jitter"],
                        "seed": options["seed"],
                        "products": len(product_ids),
                        "levels": figures,
                    },
                    indent=1,
                )
            )


def _history_and_window(product_ids: list[int], cut: date, end: date):
    """Demand before ``cut`` from the shop's first day (as the policy reads it) and the replayed window."""
    import pandas as pd

    first = selectors.first_demand_day() or cut
    matrix = selectors.demand_matrix(before=end + timedelta(days=1), product_ids=product_ids)
    days = pd.date_range(min(first, cut), end, freq="D")
    matrix = matrix.reindex(index=product_ids, columns=days, fill_value=0.0).fillna(0.0).to_numpy()
    split = (cut - min(first, cut)).days
    return matrix[:, :split], matrix[:, split:]
