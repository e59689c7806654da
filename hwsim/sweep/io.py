"""Reading and atomically writing result tables (Parquet or CSV)."""

from __future__ import annotations

import os

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hwsim.errors import HwsimError
from hwsim.fileio import os_reason, temporary_sibling

FORMATS = ("parquet", "csv")
RESULTS_STEM = "results"


def atomic_write_table(df: pd.DataFrame, path: str | os.PathLike[str], fmt: str = "parquet", *, hint: str = "") -> None:
    """Write df to path via a temporary sibling and os.replace, so readers never see half a file.

    Bytes depend only on the table: no index, no timestamps, fixed compression. A full disk or a folder
    made read-only is one HwsimError line (with `hint`), and leaves no temporary behind.
    """
    path = os.fspath(path)
    tmp = temporary_sibling(path)
    try:
        if fmt == "parquet":
            table = pa.Table.from_pandas(df, preserve_index=False)
            pq.write_table(table, tmp, compression="zstd", write_statistics=False)
        elif fmt == "csv":
            df.to_csv(tmp, index=False, lineterminator="\n", float_format=None)
        else:  # pragma: no cover - validated earlier
            raise ValueError(fmt)
        os.replace(tmp, path)
    except OSError as exc:
        raise HwsimError(f"cannot write: {os_reason(exc)}{hint}", file=path) from None
    finally:
        try:
            os.remove(tmp)
        except OSError:
            pass


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A results table: a .parquet or .csv file, or a sweep output directory holding results.*"""
    path = os.fspath(path)
    if os.path.isdir(path):
        for fmt in FORMATS:
            cand = os.path.join(path, f"{RESULTS_STEM}.{fmt}")
            if os.path.exists(cand):
                return read_table(cand)
        raise HwsimError(
            f"no {RESULTS_STEM}.parquet or {RESULTS_STEM}.csv in this directory (has the sweep finished?)", file=path
        )
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".parquet", ".csv"):
        raise HwsimError("results must be a .parquet or .csv file, or a sweep output directory", file=path)
    try:
        return pd.read_parquet(path) if ext == ".parquet" else pd.read_csv(path)
    except FileNotFoundError:
        raise HwsimError("no such file", file=path) from None
    except (OSError, ValueError, pa.ArrowException, pd.errors.ParserError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise HwsimError(f"cannot read results: {msg}", file=path) from None
