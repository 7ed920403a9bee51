"""Request and response bodies of the account endpoints."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.fields import StrictCharField, StrictEmailField

from . import selectors

PASSWORD_HELP = (
    "At least 8 characters, not entirely numeric, not a common password, not too similar to the "
    "username or email (Django's password validators)."
)


def _password(**kwargs) -> StrictCharField:
    return StrictCharField(max_length=128, trim_whitespace=False, style={"input_type": "password"}, **kwargs)


class CredentialsSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150)
    password = _password()


class TokenObtainSerializer(CredentialsSerializer):
    name = StrictCharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=100,
        help_text="What to call this sign-in in the list of tokens, e.g. 'Ann's phone'.",
    )


class SignUpSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150, help_text="Letters, digits and @ . + - _ only.")
    password = _password(help_text=PASSWORD_HELP)
    email = StrictEmailField(
        required=False,
        allow_blank=True,
        default="",
        max_length=254,
        help_text="A verification link is mailed to it; a verified email is needed to reset a password.",
    )
    country = StrictCharField(required=False, allow_blank=True, default="", max_length=64)


class AccountCustomerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    country = serializers.CharField()


class AccountSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()
    email_verified = serializers.SerializerMethodField(
        help_text="Whether the current email was confirmed through its link (needed for a password reset)."
    )
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    is_staff = serializers.BooleanField()
    customer = serializers.SerializerMethodField()

    def get_email_verified(self, user) -> bool:
        return selectors.email_is_verified(user=user)

    @extend_schema_field(AccountCustomerSerializer(allow_null=True))
    def get_customer(self, user) -> dict | None:
        customer = selectors.customer_of(user=user)
        return AccountCustomerSerializer(customer).data if customer else None


class AccountUpdateSerializer(serializers.Serializer):
    email = StrictEmailField(
        required=False, allow_blank=True, max_length=254, help_text="A new address must be verified again."
    )
    first_name = StrictCharField(required=False, allow_blank=True, max_length=150)
    last_name = StrictCharField(required=False, allow_blank=True, max_length=150)
    country = StrictCharField(required=False, allow_blank=True, max_length=64)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(
        help_text="Send as `Authorization: Token <token>` (or Bearer). Shown once: only its hash is stored."
    )
    token_id = serializers.IntegerField(help_text="This sign-in in GET /api/auth/tokens/.")
    user = AccountSerializer()


class TokenInfoSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(
        allow_null=True, help_text="Within a few minutes; null until first used."
    )
    current = serializers.BooleanField(help_text="The token this request was signed with.")


class CsrfSerializer(serializers.Serializer):
    csrf_token = serializers.CharField(help_text="Send back as the X-CSRFToken header on unsafe requests.")
    user = AccountSerializer(allow_null=True)


class LinkSerializer(serializers.Serializer):
    uid = StrictCharField(max_length=64, help_text="The `uid` parameter of the emailed link.")
    token = StrictCharField(max_length=128, help_text="The `token` parameter of the emailed link.")


class PasswordResetConfirmSerializer(LinkSerializer):
    new_password = _password(help_text=PASSWORD_HELP)


class PasswordResetSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254)


class PasswordChangeSerializer(serializers.Serializer):
    current_password = _password()
    new_password = _password(help_text=PASSWORD_HELP)


class AcceptedSerializer(serializers.Serializer):
    detail = serializers.CharField()


# --- GET /api/me/export/ ------------------------------------------------------------------------


class _ExportAccount(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.CharField()
    email_verified = serializers.BooleanField()
    verified_email = serializers.CharField(allow_null=True)
    email_verified_at = serializers.CharField(allow_null=True)
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    date_joined = serializers.CharField()
    last_login = serializers.CharField(allow_null=True)
    is_staff = serializers.BooleanField()


class _ExportCustomer(serializers.Serializer):
    external_id = serializers.CharField()
    country = serializers.CharField()
    created_at = serializers.CharField()


class _ExportOrderLine(serializers.Serializer):
    line_number = serializers.IntegerField()
    sku = serializers.CharField()
    name = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.CharField()


class _ExportOrder(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.CharField()
    placed_at = serializers.CharField()
    country = serializers.CharField()
    lines = _ExportOrderLine(many=True)


class _ExportCancellation(serializers.Serializer):
    reference = serializers.CharField()
    kind = serializers.CharField()
    sku = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.CharField()
    created_at = serializers.CharField()


class _ExportRating(serializers.Serializer):
    product = serializers.IntegerField()
    sku = serializers.CharField()
    stars = serializers.FloatField()
    rated_at = serializers.CharField()


class _ExportEvent(serializers.Serializer):
    type = serializers.CharField()
    product = serializers.IntegerField()
    sku = serializers.CharField()
    session_id = serializers.CharField()
    quantity = serializers.IntegerField()
    occurred_at = serializers.CharField()


class _ExportRecommendation(serializers.Serializer):
    mode = serializers.CharField()
    rank = serializers.IntegerField()
    sku = serializers.CharField()
    score = serializers.FloatField()
    reason = serializers.CharField()


class _ExportIdempotencyKey(serializers.Serializer):
    key = serializers.CharField()
    created_at = serializers.CharField()
    order_number = serializers.CharField(allow_null=True)


class _ExportToken(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    created_at = serializers.CharField()
    last_used_at = serializers.CharField(allow_null=True)


class _ExportSession(serializers.Serializer):
    created_at = serializers.CharField()


class _ExportSignInFailure(serializers.Serializer):
    attempt_time = serializers.CharField()
    ip_address = serializers.CharField(allow_null=True)
    user_agent = serializers.CharField()
    failures = serializers.IntegerField()


class AccountExportSerializer(serializers.Serializer):
    """Everything stored about the signed-in person (times are ISO 8601, amounts decimal strings)."""

    exported_at = serializers.CharField()
    account = _ExportAccount()
    customer = _ExportCustomer(allow_null=True)
    orders = _ExportOrder(many=True)
    cancellations = _ExportCancellation(many=True)
    ratings = _ExportRating(many=True)
    events = _ExportEvent(many=True, help_text="Storefront views and cart changes recorded as theirs.")
    recommendations = _ExportRecommendation(
        many=True, help_text="The lists the active model computed for them (stored, before live filters)."
    )
    idempotency_keys = _ExportIdempotencyKey(many=True)
    tokens = _ExportToken(many=True)
    sessions = _ExportSession(many=True)
    sign_in_failures = _ExportSignInFailure(many=True)
