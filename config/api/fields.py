"""Request-body fields that take JSON types as the schema states them.

DRF's fields are lenient in ways a JSON API should not be: ``CharField`` turns ``12`` into
``"12"`` and ``IntegerField`` turns ``"12"`` or ``true`` into ``12``. A body that does not match the
documented types gets a 400 instead, so what the OpenAPI document says is what is accepted. (Query
strings are always text; use DRF's own fields there.)
"""

from __future__ import annotations

from django.core.validators import RegexValidator
from rest_framework import serializers

# DRF refuses NUL characters in every CharField; the pattern says so in the schema.
NO_NUL = RegexValidator(r"^[^\x00]*$", "Null characters are not allowed.")


class StrictCharField(serializers.CharField):
    default_error_messages = {
        "invalid": "Must be a string.",
        "surrogate": "Must be valid Unicode text (a lone surrogate escape is not).",
    }

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if not any(isinstance(validator, RegexValidator) for validator in self.validators):
            self.validators.append(NO_NUL)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:  # "\ud800" in JSON: no database can store it
            self.fail("surrogate")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "Must be a whole number."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        if isinstance(data, float) and not data.is_integer():
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictEmailField(serializers.EmailField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)
