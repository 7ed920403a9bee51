"""Planning an import of MovieLens ratings: every rating row classified, nothing written.

Two layouts are understood:

- ml-latest / ml-latest-small: ``ratings.csv`` (userId, movieId, rating,
  timestamp) with ``movies.csv`` (movieId, title, genres) beside it and,
  optionally, ``tags.csv`` (userId, movieId, tag, timestamp).
- ml-100k: ``u.data`` (tab-separated user, item, rating, timestamp, no header)
  with ``u.item`` (pipe-separated, Latin-1: id, title, dates, URL, 19 genre flags)
  beside it and, optionally, ``u.genre`` naming the flags.

Every movie becomes a product ``ML-<movieId>`` (name = title, description =
genres and tags, category = first genre); every user with an imported rating a
customer ``ml-<userId>``. Rating rows are rejected, first reason wins, as
``missing_value`` (a blank field), ``invalid_stars`` (outside 0.5..5 or not a
half star), ``unknown_movie`` (not in the movies file), ``invalid_timestamp``
(negative, or later than tomorrow: 1e14 and 1e18 are milli- and nanoseconds) or
``duplicate_rating`` (the same user and movie again: the latest timestamp is kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
import pandas as pd

from .readers import (
    ImportFileError,
    check_encoding,
    decode_error,
    number_column,
    require_columns,
    text_column,
    text_encoding,
)

ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip
NO_GENRE = {"", "(no genres listed)", "unknown"}
MAX_TAGS = 40  # a few popular movies carry hundreds of tags; the first ones say enough


class Reason(StrEnum):
    MISSING_VALUE = "missing_value"
    INVALID_STARS = "invalid_stars"
    UNKNOWN_MOVIE = "unknown_movie"
    DUPLICATE_RATING = "duplicate_rating"
    INVALID_TIMESTAMP = "invalid_timestamp"


@dataclass
class RatingsSource:
    layout: str  # "ml-latest" or "ml-100k"
    ratings: Path
    movies: Path
    tags: Path | None = None
    genres: Path | None = None


@dataclass
class RatingsPlan:
    rows_read: int
    movies: pd.DataFrame  # sku, name, description, category (None without a genre)
    users: pd.DataFrame  # external_id
    ratings: pd.DataFrame  # external_id, sku, stars, rated_at
    rejected: pd.DataFrame  # the rating columns as read, plus row (1-based) and reason
    reason_counts: dict[str, int] = field(default_factory=dict)


def locate(path: Path) -> RatingsSource:
    """Find the ratings file and its companions from a directory or a ratings file path."""
    if path.is_dir():
        for name in ("ratings.csv", "u.data"):
            if (path / name).is_file():
                return locate(path / name)
        raise ImportFileError(f"{path}: no ratings.csv (ml-latest) or u.data (ml-100k) in this directory.")
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file or directory.")
    folder = path.parent
    optional = {
        name: folder / name if (folder / name).is_file() else None for name in ("tags.csv", "u.genre")
    }
    if path.name == "ratings.csv":
        layout, movies = "ml-latest", folder / "movies.csv"
    elif path.name == "u.data":
        layout, movies = "ml-100k", folder / "u.item"
    else:
        raise ImportFileError(
            f"{path.name}: unknown ratings layout; expected ratings.csv (ml-latest) or u.data (ml-100k)."
        )
    if not movies.is_file():
        raise ImportFileError(f"{path.name}: {movies.name} must be beside it ({movies} is missing).")
    return RatingsSource(layout, path, movies, optional["tags.csv"], optional["u.genre"])


def _read(path: Path, *, encoding: str | None = None, default: str = "utf-8", **options) -> pd.DataFrame:
    """A text file's cells as text, decoded by its byte-order mark, else ``encoding``, else ``default``."""
    try:
        codec = text_encoding(path, encoding=encoding or default)
    except OSError as exc:
        raise ImportFileError(f"{path.name}: cannot be read ({type(exc).__name__}: {exc}).") from exc
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=codec, **options)
    except UnicodeDecodeError as exc:
        raise decode_error(path, ".csv", codec, exc) from exc
    except Exception as exc:  # pandas raises several types for binary or malformed text
        raise ImportFileError(
            f"{path.name}: cannot be read ({type(exc).__name__}: {str(exc).strip()})."
        ) from exc


def read_source(
    source: RatingsSource, *, encoding: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """Ratings (userId, movieId, rating, timestamp), movies (movieId, title, genres) and tags, as text.

    ml-latest files are UTF-8 and ml-100k's Latin-1 unless ``encoding`` (or a byte-order mark) says
    otherwise.
    """
    check_encoding(encoding)
    rating_columns = ["userId", "movieId", "rating", "timestamp"]
    if source.layout == "ml-latest":
        ratings = _read(source.ratings, encoding=encoding)
        movies = _read(source.movies, encoding=encoding)
        require_columns(movies, ["movieId", "title", "genres"], source=source.movies.name)
        tags = _read(source.tags, encoding=encoding) if source.tags else None
        if tags is not None:
            require_columns(tags, ["movieId", "tag"], source=source.tags.name)
    else:
        ratings = _read(source.ratings, sep="\t", header=None, encoding=encoding, default="latin-1")
        if ratings.shape[1] != 4:
            raise ImportFileError(
                f"{source.ratings.name}: expected 4 tab-separated columns (user, item, rating, timestamp), "
                f"found {ratings.shape[1]}."
            )
        ratings.columns = rating_columns
        genre_names = ML100K_GENRES
        if source.genres:
            genre_table = _read(source.genres, sep="|", header=None, encoding=encoding, default="latin-1")
            genre_names = genre_table[0].tolist()
        items = _read(source.movies, sep="|", header=None, encoding=encoding, default="latin-1")
        if items.shape[1] < 5 + len(genre_names):
            raise ImportFileError(
                f"{source.movies.name}: expected {5 + len(genre_names)} pipe-separated columns, "
                f"found {items.shape[1]}."
            )
        flags = items.iloc[:, 5 : 5 + len(genre_names)].apply(lambda column: column.str.strip() == "1")
        genres = flags.apply(lambda row: "|".join(np.array(genre_names)[row.to_numpy()]), axis=1)
        movies = pd.DataFrame({"movieId": items[0], "title": items[1], "genres": genres})
        tags = None
    require_columns(ratings, rating_columns, source=source.ratings.name)
    return ratings, movies, tags


def _movie_rows(movies: pd.DataFrame, tags: pd.DataFrame | None, source: str) -> pd.DataFrame:
    movie_id = number_column(movies["movieId"], f"{source} movieId", integral=True)
    if movie_id.isna().any():
        raise ImportFileError(f"{source}: {int(movie_id.isna().sum())} movie(s) without a movieId.")
    frame = pd.DataFrame(
        {
            "movie_id": movie_id.astype("int64"),
            "title": text_column(movies["title"]),
            "genres": text_column(movies["genres"]),
        }
    ).drop_duplicates("movie_id")
    genre_lists = frame["genres"].map(lambda text: [g for g in text.split("|") if g.strip() not in NO_GENRE])
    description = genre_lists.map(lambda genres: f"Genres: {', '.join(genres)}" if genres else "")
    if tags is not None and not tags.empty:
        tag_frame = pd.DataFrame(
            {
                "movie_id": number_column(tags["movieId"], "tags.csv movieId", integral=True),
                "tag": text_column(tags["tag"]),
            }
        ).dropna()
        tag_frame = tag_frame[tag_frame["tag"] != ""]
        tag_frame = tag_frame.assign(key=tag_frame["tag"].str.lower()).drop_duplicates(["movie_id", "key"])
        tag_text = tag_frame.groupby("movie_id")["tag"].agg(lambda values: ", ".join(values.iloc[:MAX_TAGS]))
        movie_tags = frame["movie_id"].map(tag_text).fillna("")
        description = [
            "\n".join(part for part in (genres, f"Tags: {tag_list}" if tag_list else "") if part)
            for genres, tag_list in zip(description, movie_tags, strict=True)
        ]
    sku = "ML-" + frame["movie_id"].astype(str)
    return pd.DataFrame(
        {
            "movie_id": frame["movie_id"].to_numpy(),
            "sku": sku.to_numpy(),
            "name": frame["title"].where(frame["title"] != "", sku).str.slice(0, 255).to_numpy(),
            "description": np.asarray(description, dtype=object),
            "category": genre_lists.map(lambda genres: genres[0][:120] if genres else None).to_numpy(),
        }
    )


def plan_ratings(
    source: RatingsSource, *, latest: pd.Timestamp | None = None, encoding: str | None = None
) -> RatingsPlan:
    """Classify every rating; timestamps must fall between 1970 and ``latest`` (default: now plus a day)."""
    raw, movies_raw, tags_raw = read_source(source, encoding=encoding)
    if raw.empty:
        raise ImportFileError(f"{source.ratings.name}: the file has no ratings.")
    movies = _movie_rows(movies_raw, tags_raw, source.movies.name)
    name = source.ratings.name
    user = number_column(raw["userId"], f"{name} userId", integral=True)
    movie = number_column(raw["movieId"], f"{name} movieId", integral=True)
    stars = number_column(raw["rating"], f"{name} rating", integral=False)
    timestamp = number_column(raw["timestamp"], f"{name} timestamp", integral=True)
    frame = pd.DataFrame({"row": np.arange(1, len(raw) + 1), "user": user, "movie": movie, "stars": stars,
                          "timestamp": timestamp})  # fmt: skip
    missing = frame[["user", "movie", "stars", "timestamp"]].isna().any(axis=1)
    reason = pd.Series("", index=frame.index, dtype=object)
    reason[missing] = str(Reason.MISSING_VALUE)
    invalid = (stars < 0.5) | (stars > 5) | ((stars * 2) % 1 != 0)
    reason[(reason == "") & invalid.fillna(False)] = str(Reason.INVALID_STARS)
    unknown = ~movie.isin(movies["movie_id"])
    reason[(reason == "") & unknown] = str(Reason.UNKNOWN_MOVIE)
    # Seconds since 1970: negative ones are before the epoch, and 1e14 or 1e18 (milli- or nanoseconds
    # written as seconds) are centuries ahead; both would otherwise become wrong dates or overflow.
    latest = latest if latest is not None else pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)
    out_of_range = (timestamp < 0) | (timestamp > latest.timestamp())
    reason[(reason == "") & out_of_range.fillna(False)] = str(Reason.INVALID_TIMESTAMP)
    candidates = frame[reason == ""].sort_values(["timestamp", "row"], kind="stable")
    older = candidates.duplicated(["user", "movie"], keep="last")
    reason[older[older].index] = str(Reason.DUPLICATE_RATING)

    kept = frame[reason == ""]
    ratings = pd.DataFrame(
        {
            "external_id": "ml-" + kept["user"].astype("int64").astype(str),
            "sku": "ML-" + kept["movie"].astype("int64").astype(str),
            "stars": kept["stars"],
            "rated_at": pd.to_datetime(kept["timestamp"].astype("int64"), unit="s", utc=True),
        }
    ).reset_index(drop=True)
    rejected = raw.loc[(reason != "").to_numpy()].copy()
    rejected.insert(0, "row", frame.loc[reason != "", "row"].to_numpy())
    rejected["reason"] = reason[reason != ""].to_numpy()
    counts = {str(r): int((reason == r).sum()) for r in Reason}
    return RatingsPlan(
        rows_read=len(frame),
        movies=movies.drop(columns=["movie_id"]),
        users=pd.DataFrame({"external_id": ratings["external_id"].unique()}),
        ratings=ratings,
        rejected=rejected,
        reason_counts={r: c for r, c in counts.items() if c},
    )
