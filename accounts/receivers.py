"""Keeps derived state in step with the records it mirrors, whatever path changed them (a service,
the admin, a cascade): the token-to-user cache and the list of session sign-ins."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import services, tokens
from .models import ApiToken

# A change to one of these changes who a cached token signs in (or whether it still does).
_USER_FIELDS_IN_CACHE = {"username", "is_active", "is_staff", "is_superuser"}


@receiver(post_delete, sender=ApiToken)
def _token_deleted(sender, instance: ApiToken, **kwargs) -> None:
    hashed = instance.key_hash
    # After commit: a rolled-back revocation must not refuse a valid key. The entry is overwritten
    # (not deleted), so a request that read the database before the commit cannot add it back.
    transaction.on_commit(lambda: tokens.cache_replace({hashed: tokens.REFUSED}))


@receiver(post_save, sender=get_user_model())
def _user_saved(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    if created or not tokens.cache_seconds():
        return
    if update_fields is not None and not (_USER_FIELDS_IN_CACHE & set(update_fields)):
        return  # e.g. last_login on every sign-in
    user_id = instance.pk

    def refresh() -> None:
        user = get_user_model().objects.filter(pk=user_id).first()
        rows = ApiToken.objects.filter(user_id=user_id).values_list("pk", "key_hash")
        tokens.cache_replace(
            {
                hashed: tokens.cache_entry(token_id=pk, user=user) if user else tokens.REFUSED
                for pk, hashed in rows
            }
        )

    transaction.on_commit(refresh)


@receiver(user_logged_in)
def _session_signed_in(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        services.session_record(user=user, session_key=session.session_key)


@receiver(user_logged_out)
def _session_signed_out(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        services.session_forget(session_key=session.session_key)
