"""Shared output helpers for subcommands: JSON on stdout (nothing else there) and plain tables."""

from __future__ import annotations

import json
import sys
from typing import Any

from hwsim.records import plain, records  # noqa: F401  (records: re-exported for subcommands)


def emit_json(obj: Any) -> None:
    """Print one JSON document on stdout (NaN/inf become null so the output is valid JSON)."""
    json.dump(plain(obj), sys.stdout, indent=1, allow_nan=False)
    sys.stdout.write("\n")
