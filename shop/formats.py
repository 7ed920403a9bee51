"""The house style for numbers, money and dates, in Python (admin columns, documents, emails).

One rule everywhere: whole numbers and amounts carry thousands separators, amounts carry the shop's
currency (``SHOP_CURRENCY``), and a date always shows its year, as "1 Oct 2011" (with the time:
"1 Oct 2011 14:05"). Templates use the same functions through ``{% load house %}``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

DASH = "—"
SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$", "JPY": "¥"}


def currency() -> str:
    return str(settings.SHOP["CURRENCY"]).upper()


def units(value: float | int | Decimal | None) -> str:
    """Whole units: "4,932"."""
    return DASH if value is None else f"{round(value):,}"


def number(value: float | int | Decimal | None, places: int = 2) -> str:
    """A figure with decimals: "1,234.57"."""
    return DASH if value is None else f"{value:,.{places}f}"


def money(value: Decimal | float | int | None, *, code: bool = False) -> str:
    """An amount in the shop's currency: "£1,234.56" ("GBP 1,234.56" with ``code`` or no symbol)."""
    if value is None:
        return DASH
    cur = currency()
    sign = "-" if value < 0 else ""
    amount = f"{abs(value):,.2f}"
    symbol = SYMBOLS.get(cur)
    if symbol and not code:
        return f"{sign}{symbol}{amount}"
    return f"{sign}{cur} {amount}"


def percent(value: float | None, places: int = 0) -> str:
    return DASH if value is None else f"{value:.{places}%}"


def day(value: date | datetime | None) -> str:
    """A date with its year: "1 Oct 2011" (a datetime is shown in the shop's time zone)."""
    if value is None:
        return DASH
    if isinstance(value, datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        value = value.date()
    return f"{value.day} {value:%b %Y}"


def moment(value: datetime | None) -> str:
    """A date and time: "1 Oct 2011 14:05"."""
    if value is None:
        return DASH
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return f"{day(local)} {local:%H:%M}"
