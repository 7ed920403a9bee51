"""Template filters for the house style (``shop.formats``): ``{{ value|money }}``, ``|units``, ``|day``."""

from __future__ import annotations

from django import template

from shop import formats

register = template.Library()

register.filter("money", formats.money)
register.filter("units", formats.units)
register.filter("day", formats.day)
register.filter("moment", formats.moment)
register.filter("percent", formats.percent)


@register.filter
def number(value, places: int = 2) -> str:
    return formats.number(value, int(places))


@register.simple_tag
def currency() -> str:
    return formats.currency()
