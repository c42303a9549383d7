"""Reading and writing contract tables (CSV or Parquet, chosen by file extension).

Readers return cells as they are in the file: a CSV is read as text (an empty cell stays ``""``,
which validation turns into *unknown*), so nothing is coerced before validation sees it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ssi_model.errors import UserError

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")


class InputFileError(UserError):
    """A file that cannot be used at all: missing, unreadable, wrong format or missing columns."""


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise InputFileError(
        f"{path}: unsupported file type; use one of {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}"
    )


def read_raw(path: str | Path) -> pd.DataFrame:
    """Read a table without interpreting its cells (CSV cells stay strings)."""
    path = Path(path)
    kind = _kind(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        if kind == "csv":
            return pd.read_csv(
                path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig"
            )
        return pd.read_parquet(path)
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except pd.errors.EmptyDataError:
        raise InputFileError(f"{path}: the file is empty (no header row)") from None
    except pd.errors.ParserError as exc:
        raise InputFileError(f"{path}: not a readable CSV file ({exc})") from None
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{path}: not a readable {kind} file ({exc})") from None


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a frame as CSV or Parquet (by extension), creating the parent folder."""
    path = Path(path)
    kind = _kind(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "csv":
        df.to_csv(path, index=False, date_format="%Y-%m-%d")
    else:
        df.to_parquet(path, index=False)
    return path

