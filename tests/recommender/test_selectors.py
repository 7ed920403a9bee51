from decimal import Decimal

import pytest

from recommender import selectors, services
from recommender.models import Mode
from shop import services as shop_services
from shop.models import Customer, Order, OrderLine, Product, Rating


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


def test_reasons_use_the_four_phrasings(trained):
    reasons = set()
    for customer in trained.customers.values():
        for mode in Mode.values:
            reasons.update(
                item.reason for item in selectors.recommendations_for(customer=customer, limit=10, mode=mode)
            )
    allowed = ("because you bought ", "often bought with ", "popular this month", "you buy this regularly")
    assert reasons and all(reason.startswith(allowed) for reason in reasons)
    assert any(reason == "you buy this regularly" for reason in reasons)
    assert any(reason.startswith("because you bought ") for reason in reasons)


def test_similar_products_are_sellable_and_never_the_product_itself(trained):
    product = next(iter(trained.products.values()))
    items = selectors.similar_products_for(product=product, limit=10)
    assert len(items) == 10
    assert product.pk not in _ids(items)


def test_predict_rating_for_an_unknown_customer_returns_the_default_with_a_flag(trained):
    customers, products = list(trained.customers.values()), list(trained.products.values())
    Rating.objects.bulk_create(
        Rating(customer=c, product=p, stars=Decimal("4.0") if (i + j) % 2 else Decimal("2.0"))
        for i, c in enumerate(customers[:20])
        for j, p in enumerate(products[:15])
    )
    services.recommender_train()
    known = selectors.predict_rating(customer=customers[0], product=products[0])
    assert not known.impossible and 0.5 <= known.estimate <= 5
    stranger = Customer.objects.create(external_id="stranger")
    unknown = selectors.predict_rating(customer=stranger, product=products[0])
    assert unknown.impossible
    assert unknown.estimate == pytest.approx(3.0)
