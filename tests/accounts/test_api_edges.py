"""API edges: repeated query parameters, ordering lists, bounds in the schema, recommendation scores."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from recommender.scoring import list_scores
from tests.shop.factories import make_product

pytestmark = pytest.mark.django_db


def test_a_repeated_query_parameter_is_a_400_naming_it():
    make_product(stock=1)
    response = APIClient().get("/api/products/?ordering=price&ordering=-popularity")
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "invalid" and set(response.json()["errors"]) == {"ordering"}
    assert APIClient().get("/api/me/recommendations/?limit=1&limit=2").status_code == 400


def test_ordering_takes_a_comma_separated_list():
    cheap_a = make_product(stock=1, price="1.00", name="Alpha")
    cheap_b = make_product(stock=1, price="1.00", name="Beta")
    dear = make_product(stock=1, price="9.00", name="Gamma")
    response = APIClient().get("/api/products/", {"ordering": "price,-name"})
    assert response.status_code == 200
    assert [p["id"] for p in response.json()["results"]] == [cheap_b.pk, cheap_a.pk, dear.pk]
    assert APIClient().get("/api/products/", {"ordering": "price,bogus"}).status_code == 400


def test_every_bound_the_api_enforces_is_in_the_schema():
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    params = {
        (path, p["name"]): p["schema"]
        for path, item in schema["paths"].items()
        for op in item.values()
        for p in op.get("parameters", [])
    }
    for name in ("min_price", "max_price"):
        assert params[("/api/products/", name)] == {"type": "number", "minimum": 0, "maximum": 100_000_000}
    assert params[("/api/products/", "search")]["maxLength"] == 100
    assert params[("/api/products/", "category")]["maxLength"] == 120
    assert params[("/api/reorders/", "supplier")]["minimum"] == 1
    assert params[("/api/products/{id}/similar/", "id")] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 2**63 - 1,
    }
    # Every numeric parameter has its minimum; every free-text one its length.
    for (path, name), spec in params.items():
        if spec.get("type") in ("integer", "number"):
            assert "minimum" in spec, (path, name)
        if spec.get("type") == "string" and "enum" not in spec and "pattern" not in spec:
            assert "maxLength" in spec, (path, name)
    # Request bodies: every string has a length bound, every number both bounds.
    for name, component in schema["components"]["schemas"].items():
        if not name.endswith("Request"):
            continue
        for field, spec in component.get("properties", {}).items():
            if spec.get("type") == "string" and "enum" not in spec:
                assert "maxLength" in spec, (name, field)
            if spec.get("type") in ("integer", "number"):
                assert {"minimum", "maximum"} <= set(spec), (name, field)


def test_an_id_beyond_bigint_is_a_404_not_a_server_error(db):
    client = APIClient()
    from tests.api.conftest import make_user

    client.force_authenticate(make_user("ida"))
    assert client.get(f"/api/me/ratings/{2**63}/").status_code == 404
    assert client.delete(f"/api/auth/tokens/{2**63}/").status_code == 404


def test_list_scores_are_0_to_1_never_rising_and_proportional_within_a_source():
    items = [("stored", 0.8), ("stored", 0.4), ("stored", 0.2), ("popular", 500.0), ("popular", 250.0)]
    assert list_scores(items) == [1.0, 0.5, 0.25, 0.25, 0.125]
    assert list_scores([("basket", 510.8), ("basket", 0.0)]) == [1.0, 0.0]
    assert list_scores([("live", 0.0), ("live", 0.0)]) == [1.0, 1.0]  # no signal: equal
    assert list_scores([("a", 1.0), ("b", 3.0), ("b", 9.0)]) == pytest.approx([1.0, 1 / 3, 1 / 3], abs=1e-6)
    assert list_scores([]) == []
