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


def test_the_active_version_cannot_be_deleted(shop, staff_client):
    version = services.recommender_train()
    url = f"/admin/recommender/modelversion/{version.pk}/delete/"
    assert staff_client.get(url).status_code == 403
    page = staff_client.get(f"/admin/recommender/modelversion/{version.pk}/change/")
    assert b"deletelink" not in page.content
    with pytest.raises(services.RecommenderError):
        services.model_version_delete(version=version)


def test_deleting_an_old_version_uses_the_service_without_listing_its_rows(
    shop, staff_client, django_assert_max_num_queries
):
    from recommender.models import CustomerRecommendation

    old = services.recommender_train()
    services.recommender_train()
    assert CustomerRecommendation.objects.filter(version=old).exists()
    url = f"/admin/recommender/modelversion/{old.pk}/delete/"
    # The confirmation page is a one-line summary, whatever the number of list rows.
    with django_assert_max_num_queries(15):
        page = staff_client.get(url)
    assert page.status_code == 200 and b"recommendation lists" in page.content
    assert b"Customer recommendation:" not in page.content

    staff_client.post(url, {"post": "yes"})

    assert not ModelVersion.objects.filter(pk=old.pk).exists()
    assert not CustomerRecommendation.objects.filter(version_id=old.pk).exists()


def test_the_shops_own_customer_page_shows_the_recommendations_panel(shop, staff_client):
    services.recommender_train()
    customer = shop.customers["c0"]
    response = staff_client.get(f"/admin/shop/customer/{customer.pk}/change/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "field-current_recommendations" in content
    assert content.count("field-current_recommendations") == 1  # once, in its own section
