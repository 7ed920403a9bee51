"""``{% missing_shop_data as gaps %}``: what the shop has not loaded yet (``selectors.missing_shop_data``)."""

from __future__ import annotations

from django import template

from inventory import selectors

register = template.Library()


@register.simple_tag
def missing_shop_data() -> list[selectors.MissingData]:
    return selectors.missing_shop_data()
