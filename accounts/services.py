"""Every write of the accounts: sign-up, tokens and sessions, email verification, passwords, edits,
erasure. Views and the admin call these; nothing else writes ``accounts``' tables."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode

from shop import services as shop_services
from shop.models import Customer
from shop.services_privacy import CustomerErasure, customer_erase

from . import tokens
from .models import ApiToken, UserSession, VerifiedEmail
from .selectors import email_is_verified

logger = logging.getLogger(__name__)


class AccountError(Exception):
    """Base of the accounts' domain errors; the API maps each to a problem code."""


class InvalidCredentials(AccountError):
    pass


class InvalidLink(AccountError):
    """A verification or reset link that is malformed, expired or already used."""


class AccountRefused(AccountError):
    """The change cannot be made; ``errors`` maps fields to messages, like a form."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items()))


class StaffAccount(AccountError):
    """Staff logins are not erased from the storefront: an administrator removes them."""


# --- Tokens and sessions ------------------------------------------------------------------------


@transaction.atomic
def token_create(*, user: AbstractBaseUser, name: str = "") -> tuple[ApiToken, str]:
    """A new token for one device; returns it and its key, which is never stored nor shown again."""
    key = tokens.key_generate()
    # Signing in is a use: the first requests then need no write to record one.
    now = timezone.now()
    token = ApiToken(
        user=user, key_hash=tokens.key_hash(key), name=name[:100], created_at=now, last_used_at=now
    )
    token.full_clean()
    token.save()
    return token, key


@transaction.atomic
def token_revoke(*, token: ApiToken) -> None:
    """Sign one device out. Every process stops accepting the key as soon as the transaction commits
    (``accounts.receivers`` replaces its cache entry)."""
    ApiToken.objects.filter(pk=token.pk).delete()


@transaction.atomic
def tokens_revoke(*, user: AbstractBaseUser, keep_token_id: int | None = None) -> int:
    tokens_ = ApiToken.objects.filter(user=user)
    if keep_token_id is not None:
        tokens_ = tokens_.exclude(pk=keep_token_id)
    deleted, _ = tokens_.delete()
    return deleted


def _session_store():
    return import_module(settings.SESSION_ENGINE).SessionStore


@transaction.atomic
def session_record(*, user: AbstractBaseUser, session_key: str) -> None:
    """Remember a session sign-in (storefront or admin) so that it can be ended from elsewhere."""
    UserSession.objects.update_or_create(session_key=session_key, defaults={"user": user})


@transaction.atomic
def session_forget(*, session_key: str) -> None:
    UserSession.objects.filter(session_key=session_key).delete()


@transaction.atomic
def sessions_end(*, user: AbstractBaseUser, keep_session_key: str | None = None) -> int:
    """End the user's session sign-ins (all but ``keep_session_key``) in the session store."""
    sessions = UserSession.objects.filter(user=user)
    if keep_session_key:
        sessions = sessions.exclude(session_key=keep_session_key)
    keys = list(sessions.values_list("session_key", flat=True))
    store = _session_store()
    for key in keys:
        store(session_key=key).delete()
    sessions.delete()
    return len(keys)


@dataclass(frozen=True)
class SignOut:
    tokens: int
    sessions: int


@transaction.atomic
def sign_out_everywhere(
    *, user: AbstractBaseUser, keep_token_id: int | None = None, keep_session_key: str | None = None
) -> SignOut:
    """Revoke every token and end every session of the user (but the ones to keep, if given)."""
    revoked = tokens_revoke(user=user, keep_token_id=keep_token_id)
    ended = sessions_end(user=user, keep_session_key=keep_session_key)
    return SignOut(tokens=revoked, sessions=ended)


# --- Sign-up, email, passwords, edits -----------------------------------------------------------


def _send_on_commit(*, user_id: int, kind: str) -> None:
    from .tasks import account_email_send

    transaction.on_commit(lambda: account_email_send.delay(user_id=user_id, kind=kind))


@transaction.atomic
def account_sign_up(*, username: str, password: str, email: str = "", country: str = "") -> Customer:
    """A login and its shop customer; when an email is given, a verification link is mailed to it."""
    try:
        customer = shop_services.customer_sign_up(
            username=username, password=password, email=email, country=country
        )
    except shop_services.SignUpRefused as exc:
        raise AccountRefused(exc.errors) from None
    if email:
        _send_on_commit(user_id=customer.user_id, kind="verify")
    return customer


@transaction.atomic
def email_verification_send(*, user: AbstractBaseUser) -> bool:
    """Mail a new verification link; False (nothing sent) when there is no address or it is verified."""
    if not user.email or email_is_verified(user=user):
        return False
    _send_on_commit(user_id=user.pk, kind="verify")
    return True


def _user_from_uid(uid: str):
    try:
        pk = int(force_str(urlsafe_base64_decode(uid)))
    except (TypeError, ValueError, OverflowError, ValidationError):
        raise InvalidLink("This link is invalid or has expired.") from None
    user = get_user_model().objects.filter(pk=pk, is_active=True).first()
    if user is None:
        raise InvalidLink("This link is invalid or has expired.")
    return user


@transaction.atomic
def email_verify(*, uid: str, token: str) -> AbstractBaseUser:
    """Mark the user's current email verified, if the link is theirs, fresh and for that address."""
    user = _user_from_uid(uid)
    if not user.email or not tokens.email_verification_token.check_token(user, token):
        raise InvalidLink("This link is invalid or has expired.")
    VerifiedEmail.objects.update_or_create(
        user=user, defaults={"email": user.email, "verified_at": timezone.now()}
    )
    return user


def _check_new_password(user: AbstractBaseUser, password: str, field: str) -> None:
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise AccountRefused({field: list(exc.messages)}) from None


@transaction.atomic
def password_change(
    *,
    user: AbstractBaseUser,
    current_password: str,
    new_password: str,
    keep_token_id: int | None = None,
    keep_session_key: str | None = None,
) -> SignOut:
    """Change the password after checking the current one; every other sign-in is signed out."""
    user = get_user_model().objects.select_for_update().get(pk=user.pk)
    if not user.check_password(current_password):
        raise InvalidCredentials("The current password is wrong.")
    _check_new_password(user, new_password, "new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    return sign_out_everywhere(user=user, keep_token_id=keep_token_id, keep_session_key=keep_session_key)


def _users_with_verified_email(email: str) -> list[AbstractBaseUser]:
    candidates = get_user_model().objects.filter(
        is_active=True,
        email__iexact=email,
        pk__in=VerifiedEmail.objects.filter(email__iexact=email).values("user_id"),
    )
    return [user for user in candidates if user.has_usable_password()]


@transaction.atomic
def password_reset_request(*, email: str) -> int:
    """Mail a reset link to every active login whose *verified* email this is; returns how many.

    The caller answers the same whatever the count, so the endpoint tells nobody which addresses
    have an account.
    """
    users = _users_with_verified_email(email) if email else []
    for user in users:
        _send_on_commit(user_id=user.pk, kind="reset")
    return len(users)


@transaction.atomic
def password_reset_confirm(*, uid: str, token: str, new_password: str) -> AbstractBaseUser:
    """Set a new password from a reset link (single use: Django's token dies with the old password);
    every sign-in of the user is signed out."""
    user = _user_from_uid(uid)
    if not default_token_generator.check_token(user, token):
        raise InvalidLink("This link is invalid or has expired.")
    _check_new_password(user, new_password, "new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    sign_out_everywhere(user=user)
    return user


_UNSET = object()


@transaction.atomic
def account_update(
    *,
    user: AbstractBaseUser,
    email: str | object = _UNSET,
    first_name: str | object = _UNSET,
    last_name: str | object = _UNSET,
    country: str | object = _UNSET,
) -> AbstractBaseUser:
    """Edit the account; a new email is unverified until its link is followed (mailed here)."""
    user = get_user_model().objects.select_for_update().get(pk=user.pk)
    old_email = user.email
    changed = []
    for name, value in (("email", email), ("first_name", first_name), ("last_name", last_name)):
        if value is not _UNSET and getattr(user, name) != value:
            setattr(user, name, value)
            changed.append(name)
    if changed:
        try:
            user.full_clean(exclude=["password"], validate_unique=False)
        except ValidationError as exc:
            raise AccountRefused({f: list(m) for f, m in exc.message_dict.items()}) from None
        user.save(update_fields=changed)
    if country is not _UNSET:
        customer = Customer.objects.select_for_update().filter(user=user).first()
        if customer is not None and customer.country != country:
            customer.country = country
            try:
                customer.full_clean()
            except ValidationError as exc:
                raise AccountRefused({f: list(m) for f, m in exc.message_dict.items()}) from None
            customer.save(update_fields=["country"])
    if "email" in changed and user.email and user.email.lower() != old_email.lower():
        _send_on_commit(user_id=user.pk, kind="verify")
    return user


# --- Erasure ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Erasure:
    customer: CustomerErasure | None
    login_removed: bool
    tokens_revoked: int
    sessions_ended: int


def _anonymise_admin_history(model, pk) -> None:
    # The admin's history names the object it changed (a customer's id, a login's username), under the
    # model's content type or a proxy's (e.g. the recommender's customer panel).
    from django.apps import apps

    models = [m for m in apps.get_models() if m._meta.concrete_model is model]
    content_types = ContentType.objects.get_for_models(*models, for_concrete_models=False).values()
    LogEntry.objects.filter(content_type__in=list(content_types), object_id=str(pk)).update(
        object_repr="(erased)", change_message=""
    )


def _forget_sign_in_failures(username: str) -> None:
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    for model in (AccessAttempt, AccessFailureLog, AccessLog):
        model.objects.filter(username__iexact=username).delete()


@transaction.atomic
def account_erase(
    *,
    user: AbstractBaseUser | None = None,
    customer: Customer | None = None,
    erased_by: AbstractBaseUser | None = None,
) -> Erasure:
    """Erase a person: their customer (``shop.services_privacy.customer_erase``: orders kept and
    anonymised, ratings and events deleted) and their login (tokens revoked in every process,
    sessions ended, sign-in failures forgotten, verified email and the user row deleted).

    Give the login, the customer, or both; the other is found. The API's ``DELETE /api/me/`` and the
    admin's "Erase personal data" action both come here.
    """
    if user is None and customer is None:
        raise ValueError("Give a user or a customer to erase.")
    if customer is None:
        customer = Customer.objects.filter(user=user).first()
    if user is None and customer is not None and customer.user_id is not None:
        user = get_user_model().objects.get(pk=customer.user_id)
    customer_pk, user_pk = (customer.pk if customer else None), (user.pk if user else None)

    erased_customer = None
    if customer is not None:
        _anonymise_admin_history(Customer, customer.pk)
        erased_customer = customer_erase(customer=customer)
    revoked = ended = 0
    if user is not None:
        _anonymise_admin_history(get_user_model(), user.pk)
        out = sign_out_everywhere(user=user)
        revoked, ended = out.tokens, out.sessions
        _forget_sign_in_failures(user.get_username())
        user.delete()  # verified email and session records go with it
    logger.info(
        "Erased customer #%s and login #%s at the request of user #%s.",
        customer_pk,
        user_pk,
        getattr(erased_by, "pk", None),
    )
    return Erasure(
        customer=erased_customer, login_removed=user is not None, tokens_revoked=revoked, sessions_ended=ended
    )


# --- Mail ---------------------------------------------------------------------------------------

EMAIL_KINDS = {
    "verify": ("accounts/email/verify.txt", "Confirm your email address", "ACCOUNT_EMAIL_VERIFY_URL"),
    "reset": ("accounts/email/password_reset.txt", "Reset your password", "ACCOUNT_PASSWORD_RESET_URL"),
}


def account_email_deliver(*, user_id: int, kind: str) -> bool:
    """Build and send one account email (its link token is made now, at delivery); False when the
    message no longer applies (the user is gone or inactive, or the address was verified meanwhile)."""
    from django.core.mail import send_mail
    from django.template.loader import render_to_string
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    template, subject, url_setting = EMAIL_KINDS[kind]
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.email:
        return False
    if kind == "verify":
        if email_is_verified(user=user):
            return False
        token = tokens.email_verification_token.make_token(user)
    else:
        if not email_is_verified(user=user):
            return False  # a reset link only ever goes to a verified address
        token = default_token_generator.make_token(user)
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    link = getattr(settings, url_setting).format(uid=uid, token=token)
    body = render_to_string(template, {"user": user, "link": link, "uid": uid, "token": token})
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
    return True
