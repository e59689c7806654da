"""Shared output helpers for subcommands: JSON on stdout (nothing else there) and plain tables."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, Iterable

from hwsim.records import plain, records  # noqa: F401  (records: re-exported for subcommands)

if TYPE_CHECKING:
    import pandas as pd

# what tells a results row apart besides its swept parameters: the design and the workload
ROW_KEYS = ("model", "phase", "batch", "tp", "pp", "dp", "devices", "weights", "activations", "kv")


def emit_json(obj: Any) -> None:
    """Print one JSON document on stdout (NaN/inf become null so the output is valid JSON)."""
    json.dump(plain(obj), sys.stdout, indent=1, allow_nan=False)
    sys.stdout.write("\n")


def front_table(front: pd.DataFrame, params: Iterable[str], objectives: Iterable[str], max_rows: int) -> str:
    """A front's rows as text for a terminal: the design, its swept parameters (`params`), the workload and
    the objectives, first `max_rows` rows (every column is in the results file and in --json)."""
    import pandas as pd

    show = [c for c in ("design", "family", *params, *ROW_KEYS) if c in front.columns]
    show = list(dict.fromkeys([*show, *objectives]))
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        text = front[show].head(max_rows).to_string(index=False)
    return text if len(front) <= max_rows else f"{text}\n... {len(front) - max_rows} more rows"
