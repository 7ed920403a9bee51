"""Path converters of the API's URLs."""

from __future__ import annotations

MAX_ID = 2**63 - 1


class IdConverter:
    """A database id (a bigint primary key): digits up to 2**63 - 1. A larger number is no id, so it
    is a 404 from the resolver, before any query (SQLite cannot even bind it)."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValueError(value)
        return number

    def to_url(self, value: int) -> str:
        return str(value)
