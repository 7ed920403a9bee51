import pytest
from django.contrib.auth import get_user_model

from recommender import services
from recommender.models import ModelVersion


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-123456789")
    client.force_login(user)
    return client


def test_version_list_shows_metrics_beside_the_popularity_baseline(shop, staff_client):
    services.recommender_train()
    response = staff_client.get("/admin/recommender/modelversion/")
    assert response.status_code == 200
    assert b"popularity" in response.content


def test_version_page_shows_the_metrics_table(shop, staff_client):
    version = services.recommender_train()
    response = staff_client.get(f"/admin/recommender/modelversion/{version.pk}/change/")
    assert response.status_code == 200
    assert b"Recall" in response.content and b"hybrid" in response.content


def test_admin_actions_activate_and_roll_back(shop, staff_client):
    first = services.recommender_train()
    second = services.recommender_train(activate=False)
    url = "/admin/recommender/modelversion/"
    staff_client.post(url, {"action": "activate_version", "_selected_action": [second.pk]})
    assert ModelVersion.objects.get(is_active=True).pk == second.pk
    staff_client.post(url, {"action": "roll_back", "_selected_action": [second.pk]})
    assert ModelVersion.objects.get(is_active=True).pk == first.pk
    # Retraining is the run list's button (off the request), never a synchronous action here.
    assert b'value="retrain"' not in staff_client.get(url).content


def test_customer_panel_lists_current_recommendations_with_score_and_reason(shop, staff_client):
    services.recommender_train()
    customer = shop.customers["c0"]
    response = staff_client.get(f"/admin/recommender/customerrecommendationspanel/{customer.pk}/change/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "Current recommendations" in content
    # "You buy this regularly" is made specific: how often, and when last.
    assert "you buy this regularly" not in content
    assert " time" in content and "last on" in content or "because you bought" in content
