"""Reading tabular files into data frames, with errors that name the problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


class ImportFileError(ValueError):
    """The file cannot be imported at all: unreadable, wrong layout, wrong types or empty."""


TABLE_SUFFIXES = (".xlsx", ".csv", ".csv.gz", ".parquet")


def table_kind(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(TABLE_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise ImportFileError(
        f"{path.name}: unknown file extension; expected one of {', '.join(TABLE_SUFFIXES)}."
    )


def check_size(path: Path, *, max_bytes: int | None) -> None:
    """Refuse a file larger than ``max_bytes`` on disk before any of it is read."""
    if max_bytes is None or not path.is_file():
        return
    size = path.stat().st_size
    if size > max_bytes:
        raise ImportFileError(
            f"{path.name}: {size:,} bytes is over the limit of {max_bytes:,} (setting IMPORT_MAX_FILE_BYTES)."
        )


def read_parquet(path: Path) -> pd.DataFrame:
    """A parquet file as a data frame, read by fastparquet.

    Not ``pd.read_parquet``: pandas' default engine, pyarrow, is 170 MiB installed (a quarter of the
    production install), and its fastparquet engine is deprecated; fastparquet itself is maintained.
    """
    import fastparquet

    return fastparquet.ParquetFile(str(path)).to_pandas()


def read_table(path: Path, *, max_bytes: int | None = None) -> pd.DataFrame:
    """Read an .xlsx, .csv, .csv.gz or .parquet file of at most ``max_bytes`` on disk.

    CSV and Excel cells are read as text so that type checking happens in one
    place (``transactions.normalise``) with messages that name the column;
    parquet keeps its own types.
    """
    kind = table_kind(path)
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file.")
    check_size(path, max_bytes=max_bytes)
    try:
        if kind == ".parquet":
            frame = read_parquet(path)
        elif kind == ".xlsx":
            frame = pd.read_excel(path, engine="openpyxl", dtype=object)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, compression="infer")
    except (
        Exception
    ) as exc:  # pandas, fastparquet, openpyxl and gzip each raise their own types on corrupt files
        raise ImportFileError(
            f"{path.name}: cannot be read as {kind} ({type(exc).__name__}: {str(exc).strip()})."
        ) from exc
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame


def require_columns(frame: pd.DataFrame, columns: list[str], *, source: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ImportFileError(
            f"{source}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, frame.columns))}."
        )
    if frame.empty:
        raise ImportFileError(f"{source}: the file has a header but no rows.")


def text_column(values: pd.Series) -> pd.Series:
    """Cells as stripped text; blanks and NaN become ''. Integral floats (Excel ids) lose their '.0'."""
    if values.dtype == object:
        values = values.map(
            lambda v: (
                ""
                if v is None or (isinstance(v, float) and np.isnan(v))
                else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
            )
        )
    return values.astype("string").fillna("").str.strip().astype(object)


def number_column(values: pd.Series, column: str, *, integral: bool) -> pd.Series:
    """Numeric cells; blanks become NaN, anything else that is not a number stops the import."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        raise ImportFileError(f"column {column}: expected numbers, found {values.dtype} values.")
    if pd.api.types.is_numeric_dtype(values):
        parsed = values.astype(float)
    else:
        text = text_column(values)
        parsed = pd.to_numeric(text.replace("", np.nan), errors="coerce").astype(float)
        bad = parsed.isna() & (text != "")
        if integral:  # "1e3" is a number but not an id someone typed: refuse rather than read 1000
            bad |= (text != "") & ~text.str.fullmatch(r"[+-]?\d+(\.0*)?").astype(bool)
        if bad.any():
            first = int(np.flatnonzero(bad.to_numpy())[0])
            raise ImportFileError(
                f"column {column}: {int(bad.sum())} value(s) are not {'whole ' if integral else ''}numbers, "
                f"e.g. {text.iloc[first]!r} in row {first + 1}."
            )
    if integral:
        fractional = parsed.notna() & (parsed % 1 != 0)
        if fractional.any():
            first = int(np.flatnonzero(fractional.to_numpy())[0])
            raise ImportFileError(
                f"column {column}: {int(fractional.sum())} value(s) are not whole numbers, "
                f"e.g. {parsed.iloc[first]!r} in row {first + 1}."
            )
    return parsed


def rejects_write_checked(*, rows_read: int, rows_accounted: int, rejected: pd.DataFrame, path: Path) -> None:
    """The last checks of an import, run inside its transaction so a failure commits nothing.

    The rejects file is written even when empty, so a stale file from an earlier run never
    describes this one.
    """
    if rows_accounted != rows_read:
        raise ImportFileError(f"accounted for {rows_accounted:,} rows but read {rows_read:,}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        rejected.to_csv(path, index=False)
    except OSError as exc:
        raise ImportFileError(f"cannot write the rejected rows to {path}: {exc}") from exc
