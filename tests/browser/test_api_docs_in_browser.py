"""The API documentation renders in a browser that cannot reach any other host (a shop without internet)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def offline(session) -> list[str]:
    """Abort every request to a host other than the test server; returns the list of those asked for."""
    own = urlsplit(session.base_url).hostname
    asked: list[str] = []

    def route(route) -> None:
        host = urlsplit(route.request.url).hostname
        if host in {own, "127.0.0.1", "localhost"}:
            route.continue_()
        else:
            asked.append(route.request.url)
            route.abort()

    session.page.route("**/*", route)
    return asked


def test_swagger_ui_renders_every_operation_from_this_server_alone(browser_session):
    session, page = browser_session, browser_session.page
    elsewhere = offline(session)

    session.open("/api/docs/", "90_api_docs")
    page.wait_for_selector(".swagger-ui .info .title")
    page.wait_for_selector(".opblock")

    assert "Shop intelligence API" in page.inner_text(".swagger-ui .info .title")
    assert page.locator(".opblock").count() > 10
    assert elsewhere == []
    assert session.console_errors == []


def test_redoc_renders_the_schema_from_this_server_alone(browser_session):
    session, page = browser_session, browser_session.page
    elsewhere = offline(session)

    session.open("/api/redoc/", "91_api_redoc")
    page.wait_for_selector("h1:has-text('Shop intelligence API')")
    page.wait_for_selector("[data-section-id^='operation/']", state="attached")

    assert page.locator("[data-section-id^='operation/']").count() > 10
    assert elsewhere == []
    # ReDoc's bundle hard-codes its vendor's logo from cdn.redoc.ly; the page's policy refuses it before
    # any request leaves the browser (so `elsewhere` is empty), and Chromium reports that refusal.
    refused_logo = [e for e in session.console_errors if "cdn.redoc.ly/redoc/logo-mini.svg" in e]
    assert [e for e in session.console_errors if e not in refused_logo] == []
