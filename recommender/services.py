"""Every write of the recommender: training a version, activating it, rolling back, pruning.

``recommender_train`` loads purchases and ratings through the selectors, fits the engine, stores
the version's metrics and artifacts, writes its lists in bulk and activates it. The Celery task
``pipeline.tasks.recommender_retrain`` wraps it.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from . import selectors
from .models import (
    CustomerListChunk,
    CustomerRecommendation,
    Mode,
    ModelArtifact,
    ModelVersion,
    PopularProduct,
    Reason,
    SimilarProduct,
)

if TYPE_CHECKING:
    import pandas as pd

    from .engine.hybrid import HybridRecommender
    from .engine.rankers import ContentSimilarity
    from .engine.ratings import RatingModel

# pandas, scipy, scikit-learn, implicit and Surprise are imported inside the functions that train:
# every management command, worker and web process imports this module, and only training needs them.

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
CHUNK_ROWS = 512
BULK_BATCH = 5000
# Rows per executemany on SQLite: large enough that per-call overhead vanishes.
INSERT_BATCH = 50_000
# Weight of predicted stars in the blend for customers with ratings (stars scaled to 0..1).
RATING_WEIGHT = 1.0
MIN_RATINGS_FOR_SEARCH = 100


class RecommenderError(Exception):
    """A request the recommender cannot honour (e.g. activating a failed version)."""


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


def _setting(name: str, default):
    return settings.RECOMMENDER.get(name, default)


def recommender_train(
    *,
    run_key: str | None = None,
    as_of: datetime | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    activate: bool = True,
) -> ModelVersion:
    """Trains, evaluates, precomputes and (by default) activates a new model version.

    With ``run_key``, a redelivered run reuses its version: one left in training or failed is
    cleared and trained again; one that is ready or active is returned untouched. On any error the
    version is marked failed, the active version stays active, and the exception propagates.
    """
    progress = progress or _no_progress
    as_of = as_of or timezone.now()
    version = _version_for_run(run_key=run_key, as_of=as_of)
    if version.status in (ModelVersion.Status.READY, ModelVersion.Status.ACTIVE):
        return version
    try:
        _train(version=version, progress=progress)
    except BaseException as exc:
        _mark_failed(version=version, error=exc)
        raise
    if activate:
        progress("activate", 0, 1)
        version = model_version_activate(version=version)
        model_versions_prune(keep=_setting("KEEP_VERSIONS", 3))
        progress("activate", 1, 1)
    return version


def _version_for_run(*, run_key: str | None, as_of: datetime) -> ModelVersion:
    if run_key is None:
        version = ModelVersion(as_of=as_of)
        version.full_clean()
        version.save()
        return version
    for _ in range(2):
        try:
            with transaction.atomic():
                version = ModelVersion.objects.select_for_update().filter(run_key=run_key).first()
                if version is None:
                    version = ModelVersion(as_of=as_of, run_key=run_key)
                    version.full_clean()
                    version.save()
                    return version
                if version.status in (ModelVersion.Status.READY, ModelVersion.Status.ACTIVE):
                    return version
                _clear_version(version)
                version.status, version.error, version.as_of = ModelVersion.Status.TRAINING, "", as_of
                version.metrics, version.rating_metrics, version.counts = {}, {}, {}
                version.full_clean()
                version.save()
                return version
        except IntegrityError:
            # Another delivery created the row between our read and insert: read it again.
            continue
    raise RecommenderError(f"could not claim a version for run {run_key!r}")


def _clear_version(version: ModelVersion) -> None:
    CustomerRecommendation.objects.filter(version=version).delete()
    SimilarProduct.objects.filter(version=version).delete()
    PopularProduct.objects.filter(version=version).delete()
    for artifact in version.artifacts.all():
        (Path(settings.ARTIFACTS_DIR) / artifact.path).unlink(missing_ok=True)
    version.artifacts.all().delete()


def _mark_failed(*, version: ModelVersion, error: BaseException) -> None:
    logger.exception("recommender training of %s failed", version)
    _fail_version(version, "".join(traceback.format_exception_only(type(error), error)).strip())


def _fail_version(version: ModelVersion, message: str) -> None:
    with transaction.atomic():
        _clear_version(version)
        ModelVersion.objects.filter(pk=version.pk).update(
            status=ModelVersion.Status.FAILED,
            is_active=False,
            finished_at=timezone.now(),
            error=message[:4000],
        )
    version.refresh_from_db()


def model_version_abandon(*, run_key: str, reason: str) -> ModelVersion | None:
    """Fail the version a run was still training when the run ended without it.

    A hard time limit or a run that staff mark failed kills the task before its own error
    handling runs; without this the version would show "training" for ever. A version that
    finished (ready or active) is left alone.
    """
    with transaction.atomic():
        version = (
            ModelVersion.objects.select_for_update()
            .filter(run_key=run_key, status=ModelVersion.Status.TRAINING)
            .first()
        )
        if version is None:
            return None
        _fail_version(version, reason)
    return version


def _naive_utc(moment: datetime) -> pd.Timestamp:
    import pandas as pd

    stamp = pd.Timestamp(moment)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp


def _train(*, version: ModelVersion, progress: Progress) -> None:
    from .engine.hybrid import HybridRecommender
    from .engine.rankers import ContentSimilarity

    progress("load data", 0, 1)
    purchases = selectors.purchases_frame(as_of=version.as_of)
    ratings = selectors.ratings_frame(as_of=version.as_of)
    catalogue = selectors.catalogue_frame().sort_values("product").reset_index(drop=True)
    products = catalogue["product"].to_numpy()
    customers = np.union1d(purchases["customer"].unique(), ratings["customer"].unique()).astype(np.int64)
    progress("load data", 1, 1)

    hybrid_params = {"validation_days": _setting("VALIDATION_DAYS", 90), "half_life_days": 90.0}
    hybrid = HybridRecommender(**hybrid_params).fit(
        purchases, products=products, customers=customers, as_of=_naive_utc(version.as_of), progress=progress
    )
    rating_model, rating_metrics, rating_params = _fit_ratings(ratings, progress)

    version.params = {"hybrid": hybrid_params, "weights": hybrid.weights_, "ratings": rating_params}
    version.metrics = {
        name: {mode: metrics.as_dict() for mode, metrics in by_mode.items()}
        for name, by_mode in hybrid.validation_metrics_.items()
    }
    version.rating_metrics = rating_metrics
    if len(purchases):
        version.data_start = purchases["placed_at"].min().tz_localize("UTC").to_pydatetime()
        version.data_end = purchases["placed_at"].max().tz_localize("UTC").to_pydatetime()

    progress("content similarity", 0, 1)
    content = ContentSimilarity().fit(catalogue["text"].tolist())
    progress("content similarity", 1, 1)
    with transaction.atomic():
        chunk_customers = _setting("LIST_CHUNK_CUSTOMERS", 0)
        if chunk_customers:
            # The chunks write in their own transactions (other processes): after this one commits.
            n_lists = None
        else:
            n_lists = _write_customer_lists(version, hybrid, rating_model, ratings, progress)
        n_similar = _write_similar_products(version, hybrid, content, progress)
        progress("popular and artifacts", 0, 2)
        n_popular = _write_popular(version, hybrid, ratings)
        progress("popular and artifacts", 1, 2)
        _write_artifacts(version, hybrid, rating_model)
        progress("popular and artifacts", 2, 2)
        version.counts = {
            "customers": len(customers),
            "products": len(products),
            "purchase_lines": len(purchases),
            "ratings": len(ratings),
            "customer_list_rows": n_lists,
            "similar_rows": n_similar,
            "popular_rows": n_popular,
        }
        if not chunk_customers:
            _mark_ready(version)
            return
        version.full_clean()
        version.save()
    version.counts["customer_list_rows"] = _fan_out_customer_lists(
        version, hybrid, rating_model, ratings, progress, chunk_customers
    )
    _mark_ready(version)


def _mark_ready(version: ModelVersion) -> None:
    version.status = ModelVersion.Status.READY
    version.finished_at = timezone.now()
    version.full_clean()
    version.save()


def _fit_ratings(ratings: pd.DataFrame, progress: Progress) -> tuple[RatingModel | None, dict, dict]:
    from .engine.ratings import RatingModel, holdout_svd

    if ratings.empty:
        return None, {}, {}
    progress("ratings", 0, 2)
    search = settings.RECOMMENDER["SVD_SEARCH"]
    params: dict = {}
    metrics: dict = {}
    if len(ratings) >= MIN_RATINGS_FOR_SEARCH:
        # The stored RMSE and MAE come from ratings the search never saw; the final model then
        # learns from all of them.
        params, metrics = holdout_svd(
            ratings,
            param_distributions=search["param_distributions"],
            n_iter=search["n_iter"],
            cv=search["cv"],
        )
    progress("ratings", 1, 2)
    model = RatingModel(**params).fit(ratings)
    progress("ratings", 2, 2)
    return model, metrics, params


class RatingBlocks:
    """Predicted stars of a block of customers, scaled to 0..1, and the block's rated-product mask.

    The id lookups and the rated pairs are prepared once; each block then costs block x products,
    never customers x products and never a pass over every rating.
    """

    def __init__(
        self, model: RatingModel, ratings: pd.DataFrame, customers: np.ndarray, products: np.ndarray
    ):
        import pandas as pd
        import scipy.sparse as sp

        self.model = model
        self.n_products = len(products)
        self.model_rows = pd.Index(model.customers_).get_indexer(customers.astype(str))
        model_cols = pd.Index(model.products_).get_indexer(products.astype(str))
        self.has_col = np.flatnonzero(model_cols >= 0)
        self.model_cols = model_cols[self.has_col]
        rows = pd.Index(customers).get_indexer(ratings["customer"])
        cols = pd.Index(products).get_indexer(ratings["product"])
        keep = (rows >= 0) & (cols >= 0)
        self.rated = sp.csr_matrix(
            (np.ones(int(keep.sum()), dtype=bool), (rows[keep], cols[keep])),
            shape=(len(customers), len(products)),
        )

    def block(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``rows`` are positions in ``customers``: their (scores, rated) arrays, rows x products."""
        scores = np.zeros((len(rows), self.n_products), dtype=np.float32)
        model_rows = self.model_rows[rows]
        has_row = np.flatnonzero(model_rows >= 0)
        if len(has_row) and len(self.has_col):
            stars = self.model.predict_matrix(model_rows[has_row], self.model_cols, clip=False)
            scores[np.ix_(has_row, self.has_col)] = ((stars - 0.5) / 4.5 * RATING_WEIGHT).astype(np.float32)
        return scores, self.rated[rows].toarray()


def _rating_scores(
    model: RatingModel, ratings: pd.DataFrame, customers: np.ndarray, products: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted stars scaled to 0..1 (zero for customers without ratings) and the rated-product mask
    of ``customers``: one block of ``RatingBlocks``."""
    return RatingBlocks(model, ratings, customers, products).block(np.arange(len(customers)))


def _bulk_insert(model, fields: list[str], columns: list) -> int:
    """Inserts rows given as equal-length columns (arrays or lists; ``None`` for NULL).

    PostgreSQL gets one ``COPY`` of tab-separated text (an order of magnitude faster than INSERT for
    the hundreds of thousands of list rows); SQLite gets ``executemany`` in large batches, inside
    the caller's transaction, which skips building a model instance per row.
    """
    import pandas as pd

    n = len(columns[0]) if columns else 0
    if not n:
        return 0
    table = connection.ops.quote_name(model._meta.db_table)
    names = [connection.ops.quote_name(model._meta.get_field(name).column) for name in fields]
    if connection.vendor == "postgresql":
        frame = pd.DataFrame({name: column for name, column in zip(names, columns, strict=True)})
        text = frame.to_csv(sep="\t", header=False, index=False, na_rep="\\N", lineterminator="\n")
        copy_sql = f"COPY {table} ({', '.join(names)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(copy_sql) as copy:
            copy.write(text)
        return n
    rows = list(zip(*[np.asarray(column).tolist() for column in columns], strict=True))
    sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})"
    with connection.cursor() as cursor:
        for start in range(0, n, INSERT_BATCH):
            cursor.executemany(sql, rows[start : start + INSERT_BATCH])
    return n


CUSTOMER_LIST_FIELDS = [
    "version",
    "customer",
    "mode",
    "rank",
    "product",
    "score",
    "reason",
    "reason_product",
    "reason_count",
    "reason_date",
]
# The reason shown for an item is the blend component contributing most to its score.
_REASON_BY_COMPONENT = {
    "buy_again": str(Reason.REGULAR),
    "item_knn": str(Reason.BECAUSE),
    "als": str(Reason.TOGETHER),
    "popularity": str(Reason.POPULAR),
    "ratings": str(Reason.RATINGS),
}


def _nullable(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """An object column holding ``values`` where ``present`` and None (NULL) elsewhere."""
    out = np.full(len(values), None, dtype=object)
    out[present] = values[present].tolist()
    return out


def _customer_list_columns(
    version_id: int, hybrid: HybridRecommender, rows: np.ndarray, mode: str, recs
) -> list[np.ndarray]:
    """One block's top lists flattened into the columns of ``CUSTOMER_LIST_FIELDS`` (no loop per row).

    Ranks count kept items only. A co-purchase reason needs a product to name, and a buy-again
    reason a purchase to count; without one, popularity explains the item. A buy-again reason
    carries how often and when the customer bought.
    """
    interactions = hybrid.interactions_
    product_ids = interactions.products
    kept = recs.items >= 0
    ranks = np.cumsum(kept, axis=1)
    reasons = np.vectorize(_REASON_BY_COMPONENT.get, otypes=[object])(recs.reasons)
    explained = np.isin(reasons, [Reason.BECAUSE, Reason.TOGETHER])
    reasons = np.where(explained & (recs.reason_items < 0), str(Reason.POPULAR), reasons)
    named = (explained & (recs.reason_items >= 0))[kept]
    row_index = np.broadcast_to(rows[:, None], recs.items.shape)[kept]
    cols = recs.items[kept]
    reasons = reasons[kept]
    regular = reasons == str(Reason.REGULAR)
    counts = np.asarray(interactions.confidence[row_index, cols]).ravel().astype(np.int64)
    days = np.asarray(interactions.last_day[row_index, cols]).ravel().astype(np.int64)
    dates = np.datetime_as_string(days.astype("datetime64[D]"), unit="D")
    bought = regular & (counts > 0)
    # Buy-again wins ties of all-zero contributions; an item the customer never bought is not theirs
    # "again", and with nothing else to say popularity explains it.
    reasons = np.where(regular & ~bought, str(Reason.POPULAR), reasons)
    return [
        np.full(len(cols), version_id, dtype=np.int64),
        interactions.customers[row_index],
        np.full(len(cols), mode, dtype=object),
        ranks[kept],
        product_ids[cols],
        recs.scores[kept].astype(np.float64),
        reasons,
        _nullable(product_ids[np.maximum(recs.reason_items[kept], 0)], named),
        _nullable(counts, bought),
        _nullable(dates.astype(object), bought),
    ]


def _write_customer_lists(
    version: ModelVersion,
    hybrid: HybridRecommender,
    rating_model: RatingModel | None,
    ratings: pd.DataFrame,
    progress: Progress,
    *,
    start: int = 0,
    stop: int | None = None,
    rating_blocks: RatingBlocks | None = None,
) -> int:
    """Each customer's top N in both modes, a block of customers at a time: every component scores
    a block once for both modes, and the block's rows go to the database in one bulk write.

    ``start``/``stop`` restrict it to those customer positions (one fanned-out chunk)."""
    customers, products = hybrid.interactions_.customers, hybrid.interactions_.products
    top_n = _setting("TOP_N", 50)
    total = len(customers)
    stop = total if stop is None else min(stop, total)
    written = 0
    progress("customer lists", start, total)
    if rating_blocks is None and rating_model is not None:
        rating_blocks = RatingBlocks(rating_model, ratings, customers, products)
    for block_start in range(start, stop, CHUNK_ROWS):
        rows = np.arange(block_start, min(block_start + CHUNK_ROWS, stop))
        extra = exclude = None
        if rating_blocks is not None:
            extra, exclude = rating_blocks.block(rows)
        recs = hybrid.recommend_modes(
            rows, top_n, modes=tuple(Mode.values), extra_scores=extra, extra_exclude=exclude
        )
        blocks = [_customer_list_columns(version.pk, hybrid, rows, mode, recs[mode]) for mode in Mode.values]
        columns = [np.concatenate(parts) for parts in zip(*blocks, strict=True)]
        written += _bulk_insert(CustomerRecommendation, CUSTOMER_LIST_FIELDS, columns)
        progress("customer lists", int(rows[-1]) + 1, total)
    return written


# --- customer lists fanned out over Celery chunks ------------------------------------------------------

# Engine state of the versions this process has trained or loaded, for the chunks it works on.
_ENGINE_STATES: dict[int, dict] = {}


def _engine_path(version_id: int) -> Path:
    return Path(settings.ARTIFACTS_DIR) / f"version-{version_id}" / "engine-state.pkl"


def _engine_state(version_id: int) -> dict | None:
    """The fitted engine a chunk needs: from this process's memory, else the file training left."""
    import pickle

    state = _ENGINE_STATES.get(version_id)
    if state is None:
        path = _engine_path(version_id)
        if not path.exists():
            return None
        with path.open("rb") as handle:
            state = pickle.load(handle)  # noqa: S301 (written by this application's own training)
        hybrid, model = state["hybrid"], state["rating_model"]
        customers, products = hybrid.interactions_.customers, hybrid.interactions_.products
        state["rating_blocks"] = (
            RatingBlocks(model, state["ratings"], customers, products) if model is not None else None
        )
        _ENGINE_STATES.clear()  # one version at a time: a worker keeps only the newest engine
        _ENGINE_STATES[version_id] = state
    return state


def _lease_owner() -> str:
    import os
    import socket
    import threading

    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _chunk_claim(chunk_id: int, owner: str, now: datetime) -> CustomerListChunk | None:
    """Take a chunk's lease; None when it is done, gone, or leased by a live worker."""
    lease = timedelta(seconds=settings.PIPELINE["LEASE_SECONDS"])
    with transaction.atomic():
        chunk = CustomerListChunk.objects.select_for_update().filter(pk=chunk_id).first()
        if chunk is None or chunk.status == CustomerListChunk.Status.DONE:
            return None
        live = chunk.lease_expires_at is not None and chunk.lease_expires_at > now
        if chunk.status == CustomerListChunk.Status.RUNNING and live and chunk.lease_owner != owner:
            return None
        chunk.status, chunk.lease_owner, chunk.lease_expires_at = (
            CustomerListChunk.Status.RUNNING,
            owner,
            now + lease,
        )
        chunk.attempts += 1
        chunk.save(update_fields=["status", "lease_owner", "lease_expires_at", "attempts"])
    return chunk


def customer_list_chunk_run(*, version_id: int, chunk_id: int) -> int:
    """Compute and store one chunk's lists under its lease; 0 when another worker has it or it is done.

    The rows and the chunk's "done" are one transaction that first locks the chunk and checks the
    lease is still this worker's: a worker whose lease ran out and was taken writes nothing, and a
    retried chunk first deletes what a dead worker could not have committed anyway.
    """
    owner = _lease_owner()
    chunk = _chunk_claim(chunk_id, owner, timezone.now())
    if chunk is None:
        return 0
    state = _engine_state(version_id)
    if state is None:  # the version was cleared (failed, pruned): nothing to compute
        CustomerListChunk.objects.filter(pk=chunk_id, lease_owner=owner).update(
            status=CustomerListChunk.Status.PENDING, lease_owner="", lease_expires_at=None
        )
        return 0
    hybrid = state["hybrid"]
    with transaction.atomic():
        locked = CustomerListChunk.objects.select_for_update().filter(pk=chunk_id).first()
        if locked is None or locked.status == CustomerListChunk.Status.DONE or locked.lease_owner != owner:
            return 0
        customers = hybrid.interactions_.customers[locked.start : locked.stop]
        if locked.attempts > 1:  # a worker before this one may have died mid-chunk: start clean
            CustomerRecommendation.objects.filter(
                version_id=version_id, customer_id__in=customers.tolist()
            ).delete()
        written = _write_customer_lists(
            ModelVersion(pk=version_id),
            hybrid,
            state["rating_model"],
            state["ratings"],
            _no_progress,
            start=locked.start,
            stop=locked.stop,
            rating_blocks=state["rating_blocks"],
        )
        locked.status, locked.rows_written, locked.finished_at = (
            CustomerListChunk.Status.DONE,
            written,
            timezone.now(),
        )
        locked.lease_expires_at = None  # the owner stays: who computed the chunk
        locked.save(update_fields=["status", "rows_written", "finished_at", "lease_expires_at"])
    return written


def customer_list_chunks_work(*, version_id: int, chunk_id: int) -> int:
    """A worker's share: its own chunk, then every chunk of the version still pending, first to last.

    A message is only a wake-up: by the time a worker reads it, training may have taken its chunk;
    the worker then helps with the rest instead of waiting for the next message.
    """
    written = customer_list_chunk_run(version_id=version_id, chunk_id=chunk_id)
    while _engine_state(version_id) is not None:  # no engine: the version was cleared, nothing to help with
        next_id = (
            CustomerListChunk.objects.filter(version_id=version_id, status=CustomerListChunk.Status.PENDING)
            .order_by("index")
            .values_list("pk", flat=True)
            .first()
        )
        if next_id is None:
            return written
        written += customer_list_chunk_run(version_id=version_id, chunk_id=next_id)
    return written


def _fan_out_customer_lists(
    version: ModelVersion,
    hybrid: HybridRecommender,
    rating_model: RatingModel | None,
    ratings: pd.DataFrame,
    progress: Progress,
    chunk_customers: int,
) -> int:
    """The customer lists as chunks on the training queue, which this process works through too.

    Workers load the fitted engine from a file beside the version's artifacts. This process takes
    every chunk no worker has claimed, so eager mode, a missing broker or idle workers still finish;
    a worker's chunk whose lease runs out (the worker died) is claimed again here.
    """
    import pickle
    import time

    total = len(hybrid.interactions_.customers)
    path = _engine_path(version.pk)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"hybrid": hybrid, "rating_model": rating_model, "ratings": ratings}
    with path.open("wb") as handle:
        pickle.dump(state, handle, protocol=pickle.HIGHEST_PROTOCOL)
    customers, products = hybrid.interactions_.customers, hybrid.interactions_.products
    state["rating_blocks"] = (
        RatingBlocks(rating_model, ratings, customers, products) if rating_model is not None else None
    )
    _ENGINE_STATES.clear()
    _ENGINE_STATES[version.pk] = state
    CustomerListChunk.objects.filter(version=version).delete()
    chunks = CustomerListChunk.objects.bulk_create(
        CustomerListChunk(version=version, index=index, start=start, stop=min(start + chunk_customers, total))
        for index, start in enumerate(range(0, total, chunk_customers))
    )
    chunk_ids = [chunk.pk for chunk in CustomerListChunk.objects.filter(version=version).order_by("index")]
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        from .tasks import customer_list_chunk

        for chunk_id in chunk_ids[1:]:  # the first one is this process's: no message to wait for
            try:
                customer_list_chunk.apply_async((version.pk, chunk_id), queue="training")
            except Exception:  # noqa: BLE001 (a broker that is down: this process does the work)
                logger.warning("could not send customer-list chunk %s; training computes it", chunk_id)
                break
    progress("customer lists", 0, total)
    try:
        while True:
            pending = CustomerListChunk.objects.filter(version=version).exclude(
                status=CustomerListChunk.Status.DONE
            )
            if not pending.exists():
                break
            # From the last chunk backwards: the workers take them from the first, so the two rarely
            # reach for the same chunk.
            claimable = pending.filter(
                Q(status=CustomerListChunk.Status.PENDING) | Q(lease_expires_at__lt=timezone.now())
            ).order_by("-index")
            worked = False
            for chunk_id in claimable.values_list("pk", flat=True)[:1]:
                worked = customer_list_chunk_run(version_id=version.pk, chunk_id=chunk_id) > 0 or worked
            done = CustomerListChunk.objects.filter(version=version, status=CustomerListChunk.Status.DONE)
            progress("customer lists", sum(c.stop - c.start for c in done.only("start", "stop")), total)
            if not worked:
                time.sleep(0.2)  # every chunk left is in a live worker's hands
    finally:
        path.unlink(missing_ok=True)
    del chunks
    return sum(CustomerListChunk.objects.filter(version=version).values_list("rows_written", flat=True))


def _write_similar_products(
    version: ModelVersion, hybrid: HybridRecommender, content: ContentSimilarity, progress: Progress
) -> int:
    """Co-purchase neighbours first; content (TF-IDF) neighbours fill the rest, e.g. for unsold products.

    Vectorised per block of products: candidates are the block's co-purchase neighbours followed by
    its best content neighbours not already among them; the first k valid ones are kept.
    """
    from .engine.topk import top_k_indices

    products = hybrid.interactions_.products
    k = _setting("SIMILAR_N", 20)
    knn_items, knn_scores = hybrid.similar_products(k)
    total = len(products)
    written = 0
    progress("similar products", 0, total)
    for start in range(0, total, CHUNK_ROWS):
        rows = np.arange(start, min(start + CHUNK_ROWS, total))
        sim = content.similarity(rows)
        sim[np.arange(len(rows)), rows] = -np.inf
        content_items = top_k_indices(sim, 2 * k)
        content_scores = np.take_along_axis(sim, content_items, axis=1)
        block_knn = knn_items[rows]
        duplicate = (content_items[:, :, None] == block_knn[:, None, :]).any(axis=2)
        items = np.concatenate([block_knn, content_items], axis=1)
        scores = np.concatenate([knn_scores[rows], content_scores], axis=1)
        valid = np.concatenate([block_knn >= 0, (content_scores > 0) & ~duplicate], axis=1)
        ranks = np.cumsum(valid, axis=1)
        keep = valid & (ranks <= k)
        reasons = np.where(np.arange(items.shape[1]) < k, str(Reason.TOGETHER), str(Reason.SIMILAR))
        n = int(keep.sum())
        written += _bulk_insert(
            SimilarProduct,
            ["version", "product", "rank", "similar", "score", "reason"],
            [
                np.full(n, version.pk, dtype=np.int64),
                products[np.broadcast_to(rows[:, None], items.shape)[keep]],
                ranks[keep],
                products[items[keep]],
                scores[keep].astype(np.float64),
                np.broadcast_to(reasons[None, :], items.shape)[keep].astype(object),
            ],
        )
        progress("similar products", int(rows[-1]) + 1, total)
    return written


def _write_popular(
    version: ModelVersion, hybrid: HybridRecommender, ratings: pd.DataFrame, limit: int = 500
) -> int:
    """Popular by recent sales; a shop with ratings but no sales yet ranks by the number of good ratings."""
    import pandas as pd

    from .engine.topk import top_k_indices

    products = hybrid.interactions_.products
    scores = hybrid.components_["popularity"].scores_
    if not scores.any() and not ratings.empty:
        liked = ratings[ratings["stars"] >= 4.0]
        cols = pd.Index(products).get_indexer(liked["product"])
        counts = np.bincount(cols[cols >= 0], minlength=len(products)).astype(np.float32)
        scores = counts / max(counts.max(), 1.0)
    order = top_k_indices(scores[None, :], min(limit, len(products)))[0]
    rows = [
        PopularProduct(version=version, rank=rank, product_id=int(products[col]), score=float(scores[col]))
        for rank, col in enumerate(order.tolist(), start=1)
        if scores[col] > 0
    ]
    PopularProduct.objects.bulk_create(rows, batch_size=BULK_BATCH)
    return len(rows)


def _artifact(version: ModelVersion, name: str, arrays: dict[str, np.ndarray]) -> ModelArtifact:
    from .engine.artifacts import save_arrays

    relative = f"version-{version.pk}/{name}.npz"
    path = Path(settings.ARTIFACTS_DIR) / relative
    sha = save_arrays(path, arrays)
    artifact = ModelArtifact(version=version, name=name, path=relative, sha256=sha, size=path.stat().st_size)
    artifact.full_clean()
    return artifact


def _write_artifacts(
    version: ModelVersion, hybrid: HybridRecommender, rating_model: RatingModel | None
) -> None:
    from .engine.artifacts import sparse_to_arrays

    ids = {"customers": hybrid.interactions_.customers, "products": hybrid.interactions_.products}
    artifacts = [
        _artifact(
            version,
            "item_similarity",
            {**ids, **sparse_to_arrays("similarity", hybrid.components_["item_knn"].similarity_)},
        ),
        _artifact(
            version,
            "als_factors",
            {
                **ids,
                "user_factors": hybrid.components_["als"].user_factors_,
                "item_factors": hybrid.components_["als"].item_factors_,
            },
        ),
        _artifact(version, "blend_weights", {"weights_json": np.array(json.dumps(hybrid.weights_))}),
    ]
    if rating_model is not None:
        artifacts.append(_artifact(version, "rating_factors", rating_model.to_arrays()))
    ModelArtifact.objects.bulk_create(artifacts)


def artifact_arrays(*, version: ModelVersion, name: str) -> dict[str, np.ndarray]:
    """Loads a version's artifact, refusing it (ArtifactIntegrityError) when its sha256 differs."""
    from .engine.artifacts import load_arrays

    artifact = version.artifacts.get(name=name)
    return load_arrays(Path(settings.ARTIFACTS_DIR) / artifact.path, artifact.sha256)


@transaction.atomic
def model_version_activate(*, version: ModelVersion) -> ModelVersion:
    """Makes ``version`` the one served, in one transaction: readers see the old lists or the new ones."""
    # Lock every servable version in primary-key order so two activations serialise.
    locked = {v.pk: v for v in ModelVersion.objects.select_for_update().servable().order_by("pk")}
    target = locked.get(version.pk)
    if target is None:
        raise RecommenderError(f"{version} is not ready; only ready versions can be activated")
    if target.status == ModelVersion.Status.ACTIVE:
        return target
    for current in locked.values():
        if current.is_active:
            current.is_active, current.status = False, ModelVersion.Status.READY
            current.save(update_fields=["is_active", "status"])
    target.is_active, target.status, target.activated_at = True, ModelVersion.Status.ACTIVE, timezone.now()
    target.full_clean()
    target.save(update_fields=["is_active", "status", "activated_at"])
    return target


@transaction.atomic
def model_version_rollback() -> ModelVersion:
    """Re-activates the ready version that was active most recently before the current one."""
    current = ModelVersion.objects.active().first()
    previous = (
        ModelVersion.objects.filter(status=ModelVersion.Status.READY, activated_at__isnull=False)
        .exclude(pk=getattr(current, "pk", None))
        .order_by("-activated_at")
        .first()
    )
    if previous is None:
        raise RecommenderError("no previously active version to roll back to")
    return model_version_activate(version=previous)


def model_version_delete(*, version: ModelVersion) -> None:
    """Delete one version with its lists and artifact files; never the active one nor one still training.

    The same removal the retention prune does, so the admin never walks the version's
    hundreds of thousands of list rows to build a confirmation page.
    """
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().filter(pk=version.pk).first()
        if locked is None:
            return
        if locked.is_active or locked.status == ModelVersion.Status.ACTIVE:
            raise RecommenderError(f"{locked} is the active version; activate another one before deleting it")
        if locked.status == ModelVersion.Status.TRAINING:
            raise RecommenderError(f"{locked} is still training; wait for its run to end")
        _clear_version(locked)
        locked.delete()


def model_versions_prune(*, keep: int = 3) -> int:
    """Deletes versions (with their lists and artifacts) beyond the newest ``keep``; never the active one."""
    stale = list(
        ModelVersion.objects.exclude(is_active=True)
        .exclude(status=ModelVersion.Status.TRAINING)
        .order_by("-created_at", "-id")[keep:]
    )
    for version in stale:
        with transaction.atomic():
            _clear_version(version)
            version.delete()
    return len(stale)
