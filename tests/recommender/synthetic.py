"""A small synthetic shop with planted structure, for engine and service tests.

Products fall into groups; each customer prefers one group, has a few favourite products they
buy again and again, and buys other products of their group now and then. Later purchases
follow the same habits, so a ranker that learns anything beats a random one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

START = pd.Timestamp("2024-01-01")


def synthetic_purchases(
    *, n_customers: int = 80, n_groups: int = 6, per_group: int = 20, days: int = 180, seed: int = 0
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_products = n_groups * per_group
    rows = []
    order = 0
    for customer in range(n_customers):
        group = customer % n_groups
        members = np.arange(group * per_group, (group + 1) * per_group)
        # Within a group some products sell far more than others (a Zipf-like catalogue).
        appeal = 1.0 / np.arange(1, per_group + 1)
        appeal /= appeal.sum()
        favourites = rng.choice(members, size=3, replace=False, p=appeal)
        for day in np.sort(rng.choice(days, size=rng.integers(6, 12), replace=False)):
            order += 1
            basket = set(rng.choice(favourites, size=2, replace=False).tolist())
            basket.update(rng.choice(members, size=2, replace=False, p=appeal).tolist())
            if rng.random() < 0.2:  # an occasional impulse buy outside the group
                basket.add(int(rng.integers(n_products)))
            placed = START + pd.Timedelta(days=int(day), hours=int(rng.integers(8, 18)))
            rows.extend((f"c{customer}", f"p{product:03d}", f"o{order}", placed) for product in basket)
    return pd.DataFrame(rows, columns=["customer", "product", "order", "placed_at"])


def cut_date(days: int = 180) -> pd.Timestamp:
    return START + pd.Timedelta(days=int(days * 0.7))
