"""Reading result tables (Parquet or CSV); hwsim.fileio.atomic_write_table writes them."""

from __future__ import annotations

import csv
import os

import pandas as pd
import pyarrow as pa

from hwsim.errors import HwsimError

FORMATS = ("parquet", "csv")
RESULTS_STEM = "results"


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A results table: a .parquet or .csv file, or a sweep output directory holding results.*"""
    path = os.fspath(path)
    if os.path.isdir(path):
        for fmt in (*_manifest_format(path), *FORMATS):  # the last sweep's own format first: an older run of the
            cand = os.path.join(path, f"{RESULTS_STEM}.{fmt}")  # other format may have left its table beside it
            if os.path.exists(cand):
                return read_table(cand)
        raise HwsimError(
            f"no {RESULTS_STEM}.parquet or {RESULTS_STEM}.csv in this directory (has the sweep finished?)", file=path
        )
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".parquet", ".csv"):
        raise HwsimError("results must be a .parquet or .csv file, or a sweep output directory", file=path)
    try:
        df = pd.read_parquet(path) if ext == ".parquet" else pd.read_csv(path)
    except FileNotFoundError:
        raise HwsimError("no such file", file=path) from None
    except (OSError, ValueError, pa.ArrowException, pd.errors.ParserError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise HwsimError(f"cannot read results: {msg}", file=path) from None
    if ext == ".csv":  # pandas renames a repeated header name 'a' to 'a.1': an objective 'a' took the first silently
        with open(path, newline="", encoding="utf-8", errors="replace") as fh:
            header = next(csv.reader(fh), [])
        twice = sorted({c for c in header if header.count(c) > 1})
        if twice:
            raise HwsimError(f"column {twice[0]!r} given twice in the header: keep one", file=path, field=twice[0])
    return df


def _manifest_format(folder: str) -> tuple[str, ...]:
    """The results format the folder's manifest.json records (the sweep that wrote it last), or ()."""
    import json

    try:
        fmt = json.loads(open(os.path.join(folder, "manifest.json"), encoding="utf-8").read()).get("format")
    except (OSError, ValueError, AttributeError):
        return ()
    return (fmt,) if fmt in FORMATS else ()
