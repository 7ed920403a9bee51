"""Import MovieLens ratings (ml-latest or ml-100k layout) as products, customers and ratings."""

from __future__ import annotations

import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from shop.importing.ratings import locate, plan_ratings
from shop.importing.readers import ImportFileError, check_size, rejects_write_checked
from shop.importing.services import RatingsImportResult, ratings_import

HELP = """Import MovieLens star ratings. PATH is a directory or its ratings file: ml-latest(-small)
ratings.csv with movies.csv (and optionally tags.csv) beside it, or ml-100k u.data with u.item (and
optionally u.genre).

Movies become products ML-<movieId> (name = title, description = genres and tags, category = first genre),
users become customers ml-<userId>, ratings become ratings. Rejected rows (missing_value, invalid_stars,
unknown_movie, duplicate_rating: the latest of a user's ratings of a movie wins) go to
<ratings>.rejected.csv. Re-running changes only what differs; the whole import is one transaction."""


class Command(BaseCommand):
    help = HELP

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="a MovieLens directory, ratings.csv or u.data")
        parser.add_argument(
            "--rejects", type=Path, help="where to write rejected rows (default <ratings>.rejected.csv)"
        )
        parser.add_argument("--batch-size", type=int, default=5000, help="rows per bulk insert")
        parser.add_argument(
            "--encoding",
            help="text encoding of the files (default: a byte-order mark, else UTF-8 for ml-latest "
            "and Latin-1 for ml-100k)",
        )

    def handle(
        self,
        *args,
        path: Path,
        rejects: Path | None,
        batch_size: int,
        encoding: str | None = None,
        **options,
    ) -> None:
        try:
            source = locate(path)
            for file in (source.ratings, source.movies, source.tags, source.genres):
                if file is not None:
                    check_size(file, max_bytes=settings.IMPORT_MAX_FILE_BYTES)
            plan = plan_ratings(source, encoding=encoding)
        except ImportFileError as exc:
            raise CommandError(f"Nothing imported: {exc}") from exc

        rejects_path = (
            Path(rejects) if rejects else source.ratings.with_name(source.ratings.name + ".rejected.csv")
        )

        def before_commit(result: RatingsImportResult) -> None:
            try:
                rejects_write_checked(
                    rows_read=result.rows_read,
                    rows_accounted=result.rows_accounted,
                    rejected=plan.rejected,
                    path=rejects_path,
                )
            except ImportFileError as exc:
                raise CommandError(f"Nothing imported: {exc}") from exc

        with tqdm(
            desc="Writing", unit="rows", file=sys.stderr, disable=options["verbosity"] == 0
        ) as progress:
            result = ratings_import(
                plan=plan, progress=progress, batch_size=batch_size, before_commit=before_commit
            )

        write = self.stdout.write
        write(f"Read {result.rows_read:,} ratings from {source.ratings} ({source.layout} layout)")
        write(
            f"  ratings:  {result.ratings_created:,} imported, {result.ratings_updated:,} updated, "
            f"{result.ratings_present:,} already present"
        )
        rejected_total = sum(result.rejected.values())
        write(f"  rejected: {rejected_total:,} (written to {rejects_path})")
        for reason, count in sorted(result.rejected.items(), key=lambda item: -item[1]):
            write(f"    {reason}: {count:,}")
        write(
            f"Movies: {len(plan.movies):,} read, {result.products_created:,} products created, "
            f"{result.products_updated:,} updated; {result.categories_created:,} categories and "
            f"{result.customers_created:,} customers created."
        )
        write(self.style.SUCCESS(f"All {result.rows_read:,} rows accounted for."))
