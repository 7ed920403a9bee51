"""Reading tabular files into data frames, with errors that name the problem."""

from __future__ import annotations

import codecs
import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals


class ImportFileError(ValueError):
    """The file cannot be imported at all: unreadable, wrong layout, wrong types or empty."""


TABLE_SUFFIXES = (".xlsx", ".csv", ".csv.gz", ".parquet")
#: Rows parsed at a time from a CSV: each chunk's text becomes categorical (every distinct value stored
#: once) before the next is read, so a file of millions of rows never holds a Python string per cell.
CSV_CHUNK_ROWS = 200_000
# Byte-order marks, longest first (UTF-32's LE mark starts with UTF-16's).
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
DEFAULT_ENCODING = "utf-8"


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


def check_encoding(encoding: str | None) -> str | None:
    """The codec's canonical name, or ``ImportFileError`` for a name Python does not know."""
    if encoding is None:
        return None
    try:
        return codecs.lookup(encoding).name
    except LookupError as exc:
        raise ImportFileError(
            f"unknown encoding {encoding!r}; e.g. utf-8, cp1252 (Windows), latin-1, utf-16."
        ) from exc


def text_encoding(path: Path, *, encoding: str | None = None) -> str:
    """The encoding to read a text file (or a gzipped one) with.

    A byte-order mark wins: a file that says what it is needs no option, and a wrong
    ``encoding`` cannot garble it. Without one, ``encoding`` or UTF-8.
    """
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:  # a corrupt .gz raises here, and read_table says so
        head = handle.read(4)
    for bom, name in BOMS:
        if head.startswith(bom):
            return name
    return check_encoding(encoding) or DEFAULT_ENCODING


def decode_error(path: Path, kind: str, encoding: str, exc: UnicodeDecodeError) -> ImportFileError:
    byte = exc.object[exc.start : exc.start + 1].hex()
    return ImportFileError(
        f"{path.name}: cannot be read as {kind}: not {encoding} text (byte 0x{byte} does not decode); "
        "try --encoding cp1252 (Windows and Excel exports), or the encoding the file was saved in."
    )


def _categorical(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as categoricals: a value repeated on a million rows is stored once."""
    return frame.astype({column: "category" for column in frame.columns if frame[column].dtype != "category"})


def _union(chunks: list[pd.DataFrame]) -> pd.DataFrame:
    if len(chunks) == 1:
        return chunks[0]
    columns = {
        column: union_categoricals([chunk[column] for chunk in chunks], ignore_order=True)
        for column in chunks[0].columns
    }
    return pd.DataFrame(columns)


def read_csv_compact(
    path: Path, *, encoding: str, chunk_rows: int = CSV_CHUNK_ROWS, **options
) -> pd.DataFrame:
    """Every cell as text, read in chunks into categorical columns (see ``CSV_CHUNK_ROWS``)."""
    chunks = [
        _categorical(chunk)
        for chunk in pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            compression="infer",
            encoding=encoding,
            chunksize=chunk_rows,
            **options,
        )
    ]
    if not chunks:
        return pd.read_csv(path, dtype=str, keep_default_na=False, compression="infer", encoding=encoding)
    columns = list(chunks[0].columns)
    for chunk in chunks:
        chunk.columns = columns
    return _union(chunks)


def read_parquet(path: Path) -> pd.DataFrame:
    """A parquet file with its own types, read row group by row group by fastparquet; text columns
    become categoricals as each group arrives, so a large file never holds a Python string per cell.

    Not ``pd.read_parquet``: pandas' default engine, pyarrow, is 170 MiB installed (a quarter of the
    production install), and its fastparquet engine is deprecated; fastparquet itself is maintained.
    """
    import fastparquet

    parquet = fastparquet.ParquetFile(str(path))
    chunks = []
    for frame in parquet.iter_row_groups():
        text = [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c])]
        chunks.append(frame.astype({column: "category" for column in text}))
    if not chunks:
        return parquet.to_pandas()
    if len(chunks) == 1:
        return chunks[0]
    columns = {}
    for column in chunks[0].columns:
        parts = [chunk[column] for chunk in chunks]
        if isinstance(parts[0].dtype, pd.CategoricalDtype):
            columns[column] = union_categoricals(parts, ignore_order=True)
        else:
            columns[column] = pd.concat(parts, ignore_index=True)
    return pd.DataFrame(columns)


def read_table(path: Path, *, max_bytes: int | None = None, encoding: str | None = None) -> pd.DataFrame:
    """Read an .xlsx, .csv, .csv.gz or .parquet file of at most ``max_bytes`` on disk.

    CSV and Excel cells are read as text so that type checking happens in one
    place (``transactions.normalise``) with messages that name the column;
    parquet keeps its own types. Text comes back as categorical columns, read in
    chunks, so memory grows with the distinct values rather than with the cells.
    CSV text is decoded with its byte-order mark's encoding, else ``encoding``,
    else UTF-8; a file that does not decode stops with a message naming ``--encoding``.
    """
    kind = table_kind(path)
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file.")
    check_size(path, max_bytes=max_bytes)
    check_encoding(encoding)
    try:
        if kind == ".parquet":
            frame = read_parquet(path)
        elif kind == ".xlsx":
            frame = _categorical(pd.read_excel(path, engine="openpyxl", dtype=object))
        else:
            codec = text_encoding(path, encoding=encoding)
            try:
                frame = read_csv_compact(path, encoding=codec)
            except UnicodeDecodeError as exc:
                raise decode_error(path, kind, codec, exc) from exc
    except ImportFileError:
        raise
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


def as_categorical(values: pd.Series) -> pd.Series:
    """The column as a categorical (itself when it is one): per-value work runs once per distinct value."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values
    return values.astype("category")


def _cell_text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores ids as floats: 17850.0 is "17850"
    return str(value).strip()


def by_value(values: pd.Series, function: Callable[[object], object], *, missing: object = "") -> np.ndarray:
    """``function`` of each cell, computed once per distinct value; ``missing`` where a cell is NaN.

    The result shares one object per distinct value, so a million rows of text cost a million
    pointers, not a million strings.
    """
    column = as_categorical(values)
    results = [function(category) for category in column.cat.categories]
    lookup = np.empty(len(results) + 1, dtype=object)
    lookup[: len(results)] = results
    lookup[-1] = missing  # code -1: a missing cell
    return lookup[column.cat.codes.to_numpy()]


def text_column(values: pd.Series, transform: Callable[[str], str] | None = None) -> pd.Series:
    """Cells as stripped text (then ``transform``); blanks and NaN become ''. Integral floats (Excel ids)
    lose their '.0'. Computed once per distinct value (see ``by_value``)."""

    def cell(value: object) -> str:
        text = _cell_text(value)
        return transform(text) if transform is not None else text

    return pd.Series(by_value(values, cell), index=values.index, dtype=object)


def first_row(mask: np.ndarray) -> int:
    """The 0-based position of the first True."""
    return int(np.flatnonzero(mask)[0])


def number_column(values: pd.Series, column: str, *, integral: bool) -> pd.Series:
    """Numeric cells; blanks become NaN, anything else that is not a number stops the import.

    Text is parsed once per distinct value, so a column of millions of rows costs its distinct values.
    """
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        raise ImportFileError(f"column {column}: expected numbers, found {values.dtype} values.")
    if pd.api.types.is_numeric_dtype(values):
        parsed = values.astype(float)
    else:
        categorical = as_categorical(values)
        if pd.api.types.is_numeric_dtype(categorical.cat.categories):
            parsed = categorical.astype(float)
        else:
            text = pd.Series([_cell_text(v) for v in categorical.cat.categories], dtype=object)
            numbers = pd.to_numeric(text.replace("", np.nan), errors="coerce").astype(float)
            bad = numbers.isna() & (text != "")
            if integral:  # "1e3" is a number but not an id someone typed: refuse rather than read 1000
                bad |= (text != "") & ~text.str.fullmatch(r"[+-]?\d+(\.0*)?").astype(bool)
            codes = categorical.cat.codes.to_numpy()
            if bad.any():
                bad_rows = np.isin(codes, np.flatnonzero(bad.to_numpy()))
                first = first_row(bad_rows)
                raise ImportFileError(
                    f"column {column}: {int(bad_rows.sum())} value(s) are not {'whole ' if integral else ''}"
                    f"numbers, e.g. {text.iloc[codes[first]]!r} in row {first + 1}."
                )
            lookup = np.append(numbers.to_numpy(), np.nan)
            parsed = pd.Series(lookup[codes], index=values.index, dtype=float)
    if integral:
        fractional = (parsed.notna() & (parsed % 1 != 0)).to_numpy()
        if fractional.any():
            first = first_row(fractional)
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
