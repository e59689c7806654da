"""Re-check sampled design points of a study with the cycle engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hwsim.core.schema import SIValues
from hwsim.errors import HwsimError
from hwsim.units import si_column_path

if TYPE_CHECKING:
    from collections.abc import Iterable

    from hwsim.core.precision import Precision, ResolvedPrecision
    from hwsim.core.spec import Accelerator
    from hwsim.engine.cost import TraceLike


def sample_rows(n: int, sample: int, seed: int) -> np.ndarray:
    """`sample` distinct row indices of n (all when fewer), ascending; depends on (n, sample, seed) only."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=min(sample, n), replace=False))


def recheck(
    results: pd.DataFrame,
    arch: Accelerator,
    trace: TraceLike,
    precision: Precision | ResolvedPrecision | None = None,
    sample: int = 10,
    seed: int = 0,
    param_columns: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Re-evaluate `sample` rows of a sweep/study results table (one row per design point, with the
    swept dotted parameters as columns and the analytical `cycles`) with the cycle engine. A parameter swept with
    units is read from its SI column (`memory.dram.bandwidth_B_per_cycle`), as `hwsim sweep` writes it.

    arch: the base Accelerator (load_arch); each row's parameters (units allowed) are applied as
    sweep_cost applies them (hwsim.engine.sweep.arch_at). Returns the sampled rows with `cycles_cycle` and `rel_diff` =
    (cycle − analytical) / analytical. Deterministic for a given seed."""
    from hwsim.cycle.engine import evaluate
    from hwsim.engine.sweep import arch_at

    if "cycles" not in results.columns:
        raise HwsimError("results table has no 'cycles' column", field="results")
    cols = list(param_columns) if param_columns is not None else [c for c in results.columns if "." in c]
    # a sweep writes a quantity swept with units as SI values under <path>_<SI unit> (memory.dram.bandwidth_B_per_cycle,
    # hwsim.units.si_column) beside the YAML's spelling under <path>: the SI column is applied, at its kind
    si = {c: at for c in cols if (at := si_column_path(c)) is not None}
    plain = [c for c in cols if c not in si and c not in {path for path, _ in si.values()}]
    rows = results.iloc[sample_rows(len(results), sample, seed)].copy()
    got = []
    for _, r in rows.iterrows():
        values: dict[str, object] = {c: r[c] for c in plain}
        values.update({path: SIValues(np.array([r[c]], dtype=np.float64), kind) for c, (path, kind) in si.items()})
        point = arch_at(arch, values) if values else arch
        got.append(evaluate(point, trace, precision).totals["cycles"])
    rows["cycles_cycle"] = got
    rows["rel_diff"] = (rows["cycles_cycle"] - rows["cycles"]) / rows["cycles"]
    return rows.reset_index(drop=True)
