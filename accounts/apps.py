from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = "Accounts and sign-ins"

    def ready(self) -> None:
        from . import receivers  # noqa: F401 - keeps the token cache and the session list in step
