"""Verifying the payment provider's webhook signature, the way Stripe documents it.

The header is ``Shop-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]``. Each ``v1`` is
HMAC-SHA256 of ``"<t>.<raw body>"`` under the shared secret, in hex; the event is genuine when any
of them matches (a provider rolling its secret signs with both), compared in constant time.
The timestamp is signed too, so a captured delivery cannot be replayed outside the tolerance.
Other schemes (``v0=...``) are ignored, as Stripe's libraries do.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "Shop-Signature"
TOLERANCE_SECONDS = 300  # five minutes either way, Stripe's default


class SignatureError(Exception):
    """The header is missing or malformed, or no signature in it matches the body."""


class SignatureExpired(SignatureError):
    """The signature matches, but its timestamp is outside the tolerance: a replay or a stale retry."""


def compute_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The ``v1`` value for this body at this time (what the provider computes, and tests too)."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={compute_signature(secret=secret, timestamp=timestamp, body=body)}"


def verify_signature(
    *, header: str | None, body: bytes, secret: str, now: float, tolerance: int = TOLERANCE_SECONDS
) -> int:
    """Return the signed timestamp, or raise ``SignatureError`` / ``SignatureExpired``."""
    if not header:
        raise SignatureError(f"The {SIGNATURE_HEADER} header is missing.")
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError(f"The {SIGNATURE_HEADER} timestamp is not a whole number.") from None
        elif key == "v1":
            candidates.append(value.strip())
    if timestamp is None or not candidates:
        raise SignatureError(f"The {SIGNATURE_HEADER} header needs t=<unix seconds> and v1=<hex>.")
    expected = compute_signature(secret=secret, timestamp=timestamp, body=body)
    # Compare every candidate, matched or not, so the time taken says nothing about which matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected.encode(), candidate.encode("ascii", "replace"))
    if not matched:
        raise SignatureError("No signature in the header matches the body.")
    if abs(now - timestamp) > tolerance:
        raise SignatureExpired(
            f"The signature's timestamp is {int(now - timestamp)} s from now; "
            f"at most {tolerance} s is accepted."
        )
    return timestamp
