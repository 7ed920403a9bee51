"""Time the customer-list stage of a retrain on its own: computing every customer's top 50 in both
modes (the service's own functions, block by block) and writing the rows, on a database that
already holds an import.

    DATABASE_URL=... .venv/bin/python bench/bench_recommender_lists.py

The model is fitted first (not timed), exactly as ``retrain_recommender`` fits it. The rows are
written inside a transaction that is rolled back, so the database is left as it was. Wall and CPU
seconds are printed with the load average: on a shared machine only CPU time is comparable.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from recommender import selectors, services  # noqa: E402
from recommender.engine.hybrid import HybridRecommender  # noqa: E402
from recommender.models import CustomerRecommendation, Mode, ModelVersion  # noqa: E402


class Rollback(Exception):
    pass


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> str:
    wall, cpu = clock()
    return f"{wall - start[0]:.2f} s wall, {cpu - start[1]:.2f} s cpu"


def main() -> None:
    purchases = selectors.purchases_frame()
    catalogue = selectors.catalogue_frame().sort_values("product").reset_index(drop=True)
    customers = np.sort(purchases["customer"].unique()).astype(np.int64)
    hybrid = HybridRecommender().fit(purchases, products=catalogue["product"].to_numpy(), customers=customers)
    top_n = services._setting("TOP_N", 50)
    print(
        f"{len(customers):,} customers, {hybrid.interactions_.shape[1]:,} products, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    start = clock()
    blocks = []
    for first in range(0, len(customers), services.CHUNK_ROWS):
        rows = np.arange(first, min(first + services.CHUNK_ROWS, len(customers)))
        recs = hybrid.recommend_modes(rows, top_n, modes=tuple(Mode.values))
        parts = [services._customer_list_columns(0, hybrid, rows, mode, recs[mode]) for mode in Mode.values]
        blocks.append([np.concatenate(columns) for columns in zip(*parts, strict=True)])
    print(f"compute, both modes: {since(start)}")
    try:
        with transaction.atomic():
            version = ModelVersion.objects.create(as_of=timezone.now())
            start = clock()
            written = 0
            for columns in blocks:
                columns[0] = np.full(len(columns[0]), version.pk, dtype=np.int64)
                written += services._bulk_insert(
                    CustomerRecommendation, services.CUSTOMER_LIST_FIELDS, columns
                )
            print(
                f"write {written:,} rows ({services.connection.vendor}): {since(start)}, "
                f"load {os.getloadavg()[0]:.1f}"
            )
            raise Rollback
    except Rollback:
        pass


if __name__ == "__main__":
    main()
