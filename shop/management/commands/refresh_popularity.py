"""Recompute every product's stored units sold, the popularity the catalogue API sorts by."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from shop.services_catalogue import product_popularity_refresh


class Command(BaseCommand):
    help = (
        "Recompute Product.units_sold (units on orders that were not cancelled, net of cancellations "
        "and returns) in one statement. Run it after an import; `ordering=popularity` reads it."
    )

    def handle(self, *args, **options) -> None:
        updated = product_popularity_refresh()
        self.stdout.write(f"{updated} products updated")
