"""Reads shared by the recommender's services, API, admin and commands.

Serving reads only precomputed lists of the active version, joined in one query so that a reader
never mixes two versions, then applies live filters (inactive, out of stock, already bought) and
pads from fallbacks: similar products of what the customer bought, the version's popular products,
and finally any sellable product by recent sales.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from django.db.models import Count, F
from django.utils import timezone

from shop.models import Customer, OrderLine, Product, Rating

from .models import CustomerRecommendation, Mode, ModelVersion, PopularProduct, Reason, SimilarProduct

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class RecommendedItem:
    product: Product
    score: float
    reason: str
    reason_code: str
    reason_product: Product | None = None
    # Which list the score comes from: scores are comparable within one source only (the API
    # rescales each list to 0..1 by source, recommender.scoring).
    source: str = ""


def reason_text(
    code: str, reason_product: Product | None, *, count: int | None = None, last: date | None = None
) -> str:
    """The reason in words; a buy-again reason says how often and when (``count``, ``last``)."""
    name = reason_product.name if reason_product is not None else ""
    if code == Reason.BECAUSE and name:
        return f"because you bought {name}"
    if code == Reason.TOGETHER and name:
        return f"often bought with {name}"
    if code == Reason.SIMILAR and name:
        return f"similar to {name}"
    if code == Reason.REGULAR:
        if count and last:
            on = f"{last:%d %b %Y}".lstrip("0")
            return (
                f"you bought this on {on}" if count == 1 else f"you bought this {count} times, last on {on}"
            )
        return "you buy this regularly"
    if code == Reason.RATINGS:
        return "matches your ratings"
    return "popular this month"


def active_version() -> ModelVersion | None:
    return ModelVersion.objects.active().first()


def purchases_frame(*, as_of: datetime | None = None) -> pd.DataFrame:
    """Sale lines of known customers on orders that were paid: customer, product, order, placed_at."""
    import pandas as pd

    # Training data = paid orders (imported ones count); unpaid, lapsed and unpaid cancelled are not.
    lines = OrderLine.objects.of_paid_orders().filter(order__customer__isnull=False)
    if as_of is not None:
        lines = lines.filter(order__placed_at__lt=as_of)
    rows = list(lines.values_list("order__customer_id", "product_id", "order_id", "order__placed_at"))
    frame = pd.DataFrame(rows, columns=["customer", "product", "order", "placed_at"])
    frame["placed_at"] = pd.to_datetime(frame["placed_at"], utc=True).dt.tz_localize(None)
    return frame


def ratings_frame(*, as_of: datetime | None = None) -> pd.DataFrame:
    import pandas as pd

    ratings = Rating.objects.all()
    if as_of is not None:
        ratings = ratings.filter(rated_at__lt=as_of)
    rows = list(ratings.values_list("customer_id", "product_id", "stars"))
    frame = pd.DataFrame(rows, columns=["customer", "product", "stars"])
    frame["stars"] = frame["stars"].astype(float)
    return frame


def catalogue_frame() -> pd.DataFrame:
    """Every product with the text used for content similarity (name, description, category)."""
    import pandas as pd

    rows = list(Product.objects.values_list("id", "name", "description", "category__name"))
    frame = pd.DataFrame(rows, columns=["product", "name", "description", "category"]).fillna("")
    frame["text"] = frame["name"] + " " + frame["description"] + " " + frame["category"]
    return frame


def _bought_product_ids(customer: Customer) -> set[int]:
    return set(
        OrderLine.objects.filter(order__customer=customer)
        .exclude(order__status="cancelled")
        .values_list("product_id", flat=True)
    )


def recommendations_for(
    *, customer: Customer | None, limit: int = 10, mode: str = Mode.ALL
) -> list[RecommendedItem]:
    """The customer's recommendations, never fewer than ``limit`` while enough products are sellable.

    ``customer=None`` (or a customer without a stored list) gets the cold-start list: similar
    products of anything they bought, then popular products.
    """
    if mode not in Mode.values:
        raise ValueError(f"mode must be one of {Mode.values}")
    chosen: dict[int, RecommendedItem] = {}
    excluded = _bought_product_ids(customer) if customer is not None and mode == Mode.NEW else set()

    def take(items) -> bool:
        for item in items:
            if item.product.pk not in chosen and item.product.pk not in excluded:
                chosen[item.product.pk] = item
                if len(chosen) >= limit:
                    return True
        return False

    if customer is not None:
        stored = (
            CustomerRecommendation.objects.of_active_version()
            .sellable()
            .filter(customer=customer, mode=mode)
            .select_related("product__stock", "product__category", "reason_product")
            .order_by("rank")
        )
        if take(
            RecommendedItem(
                row.product,
                row.score,
                reason_text(row.reason, row.reason_product, count=row.reason_count, last=row.reason_date),
                row.reason,
                row.reason_product,
                source="customer_list",
            )
            for row in stored
        ):
            return list(chosen.values())
        if take(_similar_to_history(customer, limit * 3)):
            return list(chosen.values())
    if take(_popular(limit + len(chosen) + len(excluded))):
        return list(chosen.values())
    take(_live_popular(exclude=set(chosen) | excluded, limit=limit - len(chosen)))
    return list(chosen.values())


def _similar_to_history(customer: Customer, limit: int):
    recent = list(
        OrderLine.objects.filter(order__customer=customer)
        .exclude(order__status="cancelled")
        .order_by("-order__placed_at")
        .values_list("product_id", flat=True)[:20]
    )
    if not recent:
        return []
    rows = (
        SimilarProduct.objects.of_active_version()
        .sellable()
        .filter(product_id__in=recent)
        .select_related("similar__stock", "similar__category", "product")
        .order_by("rank", "-score")[:limit]
    )
    return [
        RecommendedItem(
            row.similar,
            row.score,
            reason_text(Reason.TOGETHER, row.product),
            Reason.TOGETHER,
            row.product,
            source=f"history:{row.reason}",
        )
        for row in rows
    ]


def _popular(limit: int):
    rows = (
        PopularProduct.objects.filter(version__is_active=True)
        .filter(product__active=True, product__stock__on_hand__gt=F("product__stock__reserved"))
        .select_related("product__stock", "product__category")
        .order_by("rank")[:limit]
    )
    return [
        RecommendedItem(
            row.product, row.score, reason_text(Reason.POPULAR, None), Reason.POPULAR, source="popular"
        )
        for row in rows
    ]


def _live_popular(*, exclude: set[int], limit: int):
    """The fallback when no version exists: sellable products by order lines in the last 30 days,
    then by their stored units sold.

    Only the window's lines are counted (by the orders' ``placed_at`` index): counting every line of
    every product took 41 s on a customer's admin page at ten times the shared file.
    """
    if limit <= 0:
        return []
    since = timezone.now() - timedelta(days=30)
    recent = (
        OrderLine.objects.filter(order__placed_at__gte=since, product__in=Product.objects.sellable())
        .exclude(product__in=exclude)
        .values("product")
        .annotate(lines=Count("id"))
        .order_by("-lines", "product")[:limit]
    )
    counts = {row["product"]: row["lines"] for row in recent}
    products = sorted(
        Product.objects.sellable().select_related("stock", "category").filter(pk__in=counts),
        key=lambda p: (-counts[p.pk], p.pk),
    )
    if len(products) < limit:
        products += (
            Product.objects.sellable()
            .select_related("stock", "category")
            .exclude(pk__in=set(exclude) | set(counts))
            .order_by("-units_sold", "pk")[: limit - len(products)]
        )
    return [
        RecommendedItem(
            p,
            float(counts.get(p.pk, 0)),
            reason_text(Reason.POPULAR, None),
            Reason.POPULAR,
            source="recent_sales",
        )
        for p in products
    ]


def similar_products_for(*, product: Product, limit: int = 10) -> list[RecommendedItem]:
    """A product's similar sellable products from the active version, padded with popular products."""
    rows = (
        SimilarProduct.objects.of_active_version()
        .sellable()
        .filter(product=product)
        .select_related("similar__stock", "similar__category")
        .order_by("rank")[:limit]
    )
    items = [
        RecommendedItem(
            row.similar,
            row.score,
            reason_text(row.reason, product),
            row.reason,
            product,
            source=f"similar:{row.reason}",
        )
        for row in rows
    ]
    if len(items) < limit:
        have = {item.product.pk for item in items} | {product.pk}
        for item in _popular(limit * 2 + 1) + _live_popular(exclude=have, limit=limit):
            if item.product.pk not in have:
                items.append(item)
                have.add(item.product.pk)
            if len(items) >= limit:
                break
    return items


def basket_completions(*, product_ids: list[int], limit: int = 10) -> list[RecommendedItem]:
    """ "Complete your basket": products often bought with the basket's, from stored similar lists.

    One query over the active version's similar lists of the basket's active products; a product
    that several basket items point to scores the sum of its scores. The basket's own products,
    inactive and out-of-stock ones are left out; no model is called and nothing is padded.
    """
    basket = set(product_ids)
    rows = (
        SimilarProduct.objects.of_active_version()
        .sellable()
        .filter(product_id__in=basket, product__active=True)
        .exclude(similar_id__in=basket)
        .select_related("similar__stock", "similar__category", "product")
        .order_by("rank")
    )
    totals: dict[int, float] = {}
    best: dict[int, SimilarProduct] = {}
    for row in rows:
        totals[row.similar_id] = totals.get(row.similar_id, 0.0) + row.score
        if row.similar_id not in best or row.score > best[row.similar_id].score:
            best[row.similar_id] = row
    ranked = sorted(totals, key=lambda pid: (-totals[pid], pid))[:limit]
    return [
        RecommendedItem(
            best[pid].similar,
            totals[pid],
            reason_text(best[pid].reason, best[pid].product),
            best[pid].reason,
            best[pid].product,
            source="basket",
        )
        for pid in ranked
    ]


def version_lists(*, version: ModelVersion, mode: str, limit: int):
    """Stored top ``limit`` per customer of one version, for exports (no live filters)."""
    rows = (
        CustomerRecommendation.objects.filter(version=version, mode=mode, rank__lte=limit)
        .order_by("customer__external_id", "rank")
        .values_list(
            "customer__external_id",
            "product__sku",
            "rank",
            "score",
            "reason",
            "reason_product__name",
            "reason_count",
            "reason_date",
        )
    )
    for customer, sku, rank, score, code, because, count, last in rows.iterator(chunk_size=5000):
        named = Product(name=because) if because else None
        yield customer, sku, rank, score, reason_text(code, named, count=count, last=last)
