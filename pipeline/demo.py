"""Demo logins: created by ``load_demo`` with passwords generated per database, and found again by the
deploy check, which refuses a production database that still has one.
"""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db.models import Q, QuerySet

DEMO_GROUP = "Demo accounts"
STAFF_USERNAME = "admin"
CUSTOMER_USERNAME = "customer"
# Passwords that earlier versions fixed in the code and published; an account still using one is a
# demo account whatever its group.
PUBLISHED_PASSWORDS = {STAFF_USERNAME: "demo-admin-2011", CUSTOMER_USERNAME: "demo-customer-2011"}


def demo_password() -> str:
    """A fresh password for one demo login in one database, shown once and stored only as a hash."""
    return secrets.token_urlsafe(12)


def demo_user_create(*, username: str, staff: bool) -> tuple[AbstractBaseUser, str]:
    """Create a login with a generated password, marked as a demo account; returns it and the password."""
    password = demo_password()
    users = get_user_model()
    if staff:
        user = users.objects.create_superuser(
            username=username, email=f"{username}@demo.invalid", password=password
        )
    else:
        user = users.objects.create_user(
            username=username, email=f"{username}@demo.invalid", password=password
        )
    group, _ = Group.objects.get_or_create(name=DEMO_GROUP)
    user.groups.add(group)
    return user, password


def demo_accounts() -> QuerySet:
    """Active users that are demo logins: in the demo group, or still using a published demo password."""
    users = get_user_model()
    marked = users.objects.filter(is_active=True).filter(Q(groups__name=DEMO_GROUP)).distinct()
    published = [
        user.pk
        for user in users.objects.filter(is_active=True, username__in=PUBLISHED_PASSWORDS)
        if user.check_password(PUBLISHED_PASSWORDS[user.get_username()])
    ]
    return users.objects.filter(Q(pk__in=marked.values("pk")) | Q(pk__in=published))
