"""Evaluate the recommender on the imported data with the DESIGN.md protocols."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender import selectors

from ._progress import StageBars, metrics_table
from .retrain_recommender import parse_moment

# RatingModel's defaults (the engine, with Surprise, is imported only when the command runs).
TUNED_SVD = {"n_factors": 100, "n_epochs": 40, "lr_all": 0.01, "reg_all": 0.1}
RATING_MODELS = {
    "svd-default": ("svd", {}),
    "svd-tuned": ("svd", TUNED_SVD),
    "knnbaseline": (
        "knnbaseline",
        {"sim_options": {"name": "pearson_baseline", "user_based": True}, "verbose": False},
    ),
    "svdpp": ("svdpp", {"n_factors": 20, "n_epochs": 20, "cache_ratings": True}),
}


class Command(BaseCommand):
    help = (
        "--cut DATE: train on purchases before DATE, test on returning customers' products after it, and "
        "print Recall/NDCG/HR@10 and coverage for each ranker, the hybrid and popularity. "
        "--ratings --folds N: cross-validated RMSE and MAE of the rating models."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cut", help="evaluation cut date (UTC), e.g. 2011-07-01")
        parser.add_argument("--ratings", action="store_true", help="cross-validate the rating models")
        parser.add_argument("--folds", type=int, default=5)
        parser.add_argument(
            "--models",
            default="svd-default,svd-tuned,knnbaseline",
            help=f"rating models to cross-validate, from {', '.join(RATING_MODELS)}",
        )

    def handle(self, *args, cut: str | None, ratings: bool, folds: int, models: str, **options) -> None:
        from recommender.engine.hybrid import evaluate_protocol
        from recommender.engine.ratings import cross_validate_ratings

        if not cut and not ratings:
            raise CommandError("give --cut DATE and/or --ratings")
        if cut:
            purchases = selectors.purchases_frame()
            if purchases.empty:
                raise CommandError("no purchases in the database")
            import pandas as pd

            moment = pd.Timestamp(parse_moment(cut)).tz_convert("UTC").tz_localize(None)
            bars = StageBars()
            try:
                results = evaluate_protocol(purchases, moment, progress=bars)
            finally:
                bars.close()
            self.stdout.write(f"purchase protocol, cut {cut} (hybrid = tuned blend; popularity = baseline):")
            self.stdout.write(metrics_table(results))
        if ratings:
            frame = selectors.ratings_frame()
            if frame.empty:
                raise CommandError("no ratings in the database")
            self.stdout.write(f"rating models, {folds}-fold KFold(random_state=0), {len(frame)} ratings:")
            for name in [name.strip() for name in models.split(",") if name.strip()]:
                if name not in RATING_MODELS:
                    raise CommandError(f"unknown rating model {name!r}")
                algorithm, params = RATING_MODELS[name]
                self.stderr.write(f"cross-validating {name} ...")
                scores = cross_validate_ratings(frame, algorithm=algorithm, params=params, folds=folds)
                self.stdout.write(f"{name:12s} RMSE {scores['rmse']:.4f}  MAE {scores['mae']:.4f}")
