"""Compare stock records with open orders and the ledger: ``manage.py check_stock [--repair]``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shop import integrity


class Command(BaseCommand):
    help = (
        "Report products whose reserved stock differs from the units still to ship on open orders, or "
        "whose on-hand stock differs from the stock ledger; --repair fixes them. Exits 1 while a "
        "difference remains."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--repair",
            action="store_true",
            help="Set reserved to the units to ship on open orders; add a ledger adjustment for "
            "on-hand gaps.",
        )

    def handle(self, *args, repair: bool, **options) -> None:
        found = integrity.stock_discrepancies()
        for discrepancy in found:
            self.stdout.write(str(discrepancy))
        if not found:
            self.stdout.write("Stock agrees with open orders and the ledger.")
            return
        if not repair:
            raise CommandError(f"{len(found)} stock difference(s) found; run with --repair to fix them.")
        fixed = integrity.stock_repair()
        self.stdout.write(f"Repaired {len(fixed)} difference(s).")
        left = integrity.stock_discrepancies()
        if left:
            raise CommandError(
                f"{len(left)} difference(s) could not be repaired: " + "; ".join(map(str, left))
            )
