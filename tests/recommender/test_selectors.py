from decimal import Decimal

import pytest

from recommender import selectors, services
from recommender.models import Mode
from shop import services as shop_services
from shop.models import Customer, Order, OrderLine, Product


@pytest.fixture
def trained(shop):
    services.recommender_train()
    return shop


def _ids(items):
    return [item.product.pk for item in items]


def test_out_of_stock_and_inactive_products_never_appear(trained):
    customer = trained.customers["c0"]
    first = selectors.recommendations_for(customer=customer, limit=10, mode=Mode.ALL)
    sold_out, retired = first[0].product, first[1].product
    shop_services.stock_set_levels(levels={sold_out.pk: 0})
    Product.objects.filter(pk=retired.pk).update(active=False)
    for mode in Mode.values:
        for c in trained.customers.values():
            ids = _ids(selectors.recommendations_for(customer=c, limit=20, mode=mode))
            assert sold_out.pk not in ids and retired.pk not in ids
            assert len(ids) == 20


def test_fully_reserved_products_count_as_out_of_stock(trained):
    customer = trained.customers["c1"]
    top = selectors.recommendations_for(customer=customer, limit=5)[0].product
    shop_services.order_place(
        customer=trained.customers["c2"], lines=[shop_services.LineRequest(product_id=top.pk, quantity=100)]
    )
    assert top.pk not in _ids(selectors.recommendations_for(customer=customer, limit=20))


def test_mode_new_drops_products_bought_after_training(trained):
    customer = trained.customers["c3"]
    fresh = selectors.recommendations_for(customer=customer, limit=10, mode=Mode.NEW)[0].product
    order = Order.objects.create(number="LIVE-1", customer=customer, status=Order.Status.FULFILLED)
    OrderLine.objects.create(order=order, line_number=1, product=fresh, quantity=1, unit_price=Decimal("1"))
    assert fresh.pk not in _ids(selectors.recommendations_for(customer=customer, limit=10, mode=Mode.NEW))


def test_a_cold_start_customer_gets_a_full_list_of_sellable_products(trained):
    newcomer = Customer.objects.create(external_id="newcomer")
    for mode in Mode.values:
        items = selectors.recommendations_for(customer=newcomer, limit=30, mode=mode)
        assert len(items) == 30 and len(set(_ids(items))) == 30
        assert all(item.reason for item in items)
    assert len(selectors.recommendations_for(customer=None, limit=15)) == 15


def test_lists_are_padded_to_the_limit_while_enough_products_are_sellable(trained):
    customer = trained.customers["c4"]
    sellable = Product.objects.sellable().count()
    items = selectors.recommendations_for(customer=customer, limit=sellable, mode=Mode.ALL)
    assert len(items) == sellable
    # Only 3 products left in stock: the list holds exactly those.
    keep = list(Product.objects.values_list("pk", flat=True)[:3])
    shop_services.stock_set_levels(
        levels={pk: 0 for pk in Product.objects.exclude(pk__in=keep).values_list("pk", flat=True)}
    )
    assert sorted(_ids(selectors.recommendations_for(customer=customer, limit=10))) == sorted(keep)


def test_without_any_trained_version_customers_still_get_popular_sellable_products(shop):
    items = selectors.recommendations_for(customer=shop.customers["c0"], limit=10)
    assert len(items) == 10
    assert all(item.reason == "popular this month" for item in items)


def test_without_a_version_this_months_lines_rank_first_then_stored_units_sold(shop):
    products = sorted(shop.products.values(), key=lambda p: p.pk)
    hot, warm, steady = products[-1], products[-2], products[-3]
    Product.objects.filter(pk=steady.pk).update(units_sold=10**6)
    buyer = shop.customers["c0"]
    for number, wanted in [("NOW-1", [hot, warm]), ("NOW-2", [hot])]:
        order = Order.objects.create(number=number, customer=buyer, status=Order.Status.FULFILLED)
        for line_number, product in enumerate(wanted, start=1):
            OrderLine.objects.create(
                order=order, line_number=line_number, product=product, quantity=1, unit_price=Decimal("1")
            )
    newcomer = Customer.objects.create(external_id="newcomer")
    items = selectors.recommendations_for(customer=newcomer, limit=5)
    assert _ids(items)[:3] == [hot.pk, warm.pk, steady.pk]
    assert [item.score for item in items[:2]] == [2.0, 1.0]
    # Mode "new" leaves out what the customer bought, this month's lines included.
    assert hot.pk not in _ids(selectors.recommendations_for(customer=buyer, limit=5, mode=Mode.NEW))


def test_reasons_say_why_in_specific_words(trained):
    reasons = set()
    for customer in trained.customers.values():
        for mode in Mode.values:
            reasons.update(
                item.reason for item in selectors.recommendations_for(customer=customer, limit=10, mode=mode)
            )
    allowed = ("because you bought ", "often bought with ", "popular this month", "you bought this ")
    assert reasons and all(reason.startswith(allowed) for reason in reasons)
    assert any(reason.startswith("because you bought ") for reason in reasons)
    assert "you buy this regularly" not in reasons


def test_a_buy_again_reason_counts_the_customers_orders_and_names_the_last_date(trained):
    customer = trained.customers["c0"]
    items = selectors.recommendations_for(customer=customer, limit=10, mode=Mode.ALL)
    again = [item for item in items if item.reason_code == "regular"]
    assert again
    for item in again:
        orders = Order.objects.filter(customer=customer, lines__product=item.product).distinct()
        last = max(order.placed_at for order in orders).date()
        on = f"{last:%d %b %Y}".lstrip("0")
        expected = (
            f"you bought this on {on}"
            if len(orders) == 1
            else f"you bought this {len(orders)} times, last on {on}"
        )
        assert item.reason == expected
    # Ten identical reasons say nothing: the customer's top ten read differently.
    assert len({item.reason for item in items}) > 1


def test_similar_products_are_sellable_and_never_the_product_itself(trained):
    product = next(iter(trained.products.values()))
    items = selectors.similar_products_for(product=product, limit=10)
    assert len(items) == 10
    assert product.pk not in _ids(items)
