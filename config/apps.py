from django.contrib.admin.apps import AdminConfig


class ShopAdminConfig(AdminConfig):
    """``django.contrib.admin`` with the product's own site (see ``config.admin``)."""

    default_site = "config.admin.ShopAdminSite"
