"""The inventory replay of DESIGN.md on the imported data: fill rate and stock held per service level."""

from __future__ import annotations

import sys
from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from inventory import selectors
from inventory.forecasting.replay import replay, units_for_fill_rate
from inventory.services import demand_histories, reorder_levels_forecasts, reorder_levels_from


class Command(BaseCommand):
    help = "Replay real demand after --cut against reorder levels set from data before it."

    def add_arguments(self, parser):
        parser.add_argument("--cut", type=date.fromisoformat, required=True)
        parser.add_argument("--end", type=date.fromisoformat, required=True, help="Last replayed day")
        parser.add_argument("--lead-time-days", type=int, default=7)
        parser.add_argument("--service-levels", default="0.8,0.9,0.95,0.98")
        parser.add_argument("--products", type=int, default=300, help="Top products by units before the cut")
        parser.add_argument("--cover-days", type=int, default=None)
        parser.add_argument("--workers", type=int, default=1)

    def handle(self, *args, **options):
        cut, end, lead_time = options["cut"], options["end"], options["lead_time_days"]
        if end < cut:
            raise CommandError("--end must not be before --cut.")
        levels = sorted(float(v) for v in options["service_levels"].split(","))
        product_ids = selectors.top_products_by_units(before=cut, limit=options["products"])
        if not product_ids:
            raise CommandError("No sales before the cut.")
        with tqdm(desc="forecast", total=len(product_ids), unit="product", file=sys.stderr) as bar:
            forecasts = reorder_levels_forecasts(
                as_of=cut,
                lead_time_days=lead_time,
                product_ids=product_ids,
                workers=options["workers"],
                progress=bar.update,
            )
        actual = selectors.demand_matrix(before=end + timedelta(days=1), product_ids=product_ids)
        actual = actual.reindex(index=product_ids, fill_value=0.0).loc[:, str(cut) :].fillna(0.0)
        histories = demand_histories(as_of=cut, product_ids=product_ids)
        points = []
        for level in levels:
            policy = {
                row.product_id: row
                for row in reorder_levels_from(
                    forecasts=forecasts,
                    histories=histories,
                    lead_time_days=lead_time,
                    service_level=level,
                    cover_days=options["cover_days"],
                )
            }
            s = [policy[pid].reorder_point for pid in product_ids]
            big_s = [policy[pid].order_up_to for pid in product_ids]
            result = replay(actual.to_numpy(), s, big_s, lead_time)
            points.append((result.fill_rate, result.average_on_hand))
            self.stdout.write(
                f"service level {level:.3f}: fill rate {result.fill_rate:.4f}, "
                f"average units on hand {result.average_on_hand:,.0f}"
            )
        needed = units_for_fill_rate(points, 0.95)
        if needed == float("inf"):
            self.stdout.write("95% fill rate never reached")
        else:
            self.stdout.write(f"units on hand for a 95% fill rate: {needed:,.0f}")
