"""Account emails on Celery: sent after the request's transaction commits, retried if the mail
server does not answer."""

from __future__ import annotations

import smtplib

from celery import shared_task

from . import services


@shared_task(
    name="accounts.tasks.account_email_send",
    autoretry_for=(OSError, smtplib.SMTPException),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
)
def account_email_send(*, user_id: int, kind: str) -> bool:
    return services.account_email_deliver(user_id=user_id, kind=kind)
