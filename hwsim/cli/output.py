"""Shared output helpers for subcommands: JSON on stdout (nothing else there) and plain tables."""
from __future__ import annotations

import json
import math
import sys
from typing import Any

import numpy as np


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_plain(v) for v in obj.tolist()]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def emit_json(obj: Any) -> None:
    """Print one JSON document on stdout (NaN/inf become null so the output is valid JSON)."""
    json.dump(_plain(obj), sys.stdout, indent=1, allow_nan=False)
    sys.stdout.write("\n")


def records(df) -> list[dict]:
    """DataFrame rows as plain JSON-ready dicts."""
    return _plain(df.to_dict(orient="records"))
