"""Accuracy per format, computed once per study (not per design point) and joined onto every row.

Sources come from hwsim.accuracy.compare: synthetic LLM-like weights, a checkpoint's tensors, or
MiniLM end to end (its sentence-embedding cosine vs fp32 depends on weights *and* activations, so
its key is the (weights, activations) pair). Precisions given as a plain number of bits have no
format to quantize with, so their accuracy columns stay empty (NaN).
"""
from __future__ import annotations

import pandas as pd

from hwsim.errors import HwsimError
from hwsim.study.schema import Study

PREFIX = "acc_"
_METRICS = ("mse", "sqnr_db", "max_abs_err", "cosine")


def _is_format_name(v) -> bool:
    if not isinstance(v, str):
        return False
    try:
        float(v)
        return False
    except ValueError:
        return True


def accuracy_table(study: Study) -> pd.DataFrame | None:
    """One row per weights format (per (weights, activations) pair for minilm) with acc_* columns."""
    source = study.accuracy.compare_source
    if source is None:
        return None
    from hwsim.accuracy.compare import compare
    from hwsim.sweep.evaluate import concrete

    precisions = list(dict.fromkeys(concrete(p, w) for p in study.precisions for w in study.workloads))
    field = "accuracy.source"
    try:
        if source == "minilm":
            pairs = dict.fromkeys((p.weights, p.activations) for p in precisions if _is_format_name(p.weights))
            rows = []
            for w, a in pairs:
                act = a if _is_format_name(a) and a != "fp32" else None
                r = compare([w], "minilm", study.accuracy.seed, act_format=act).iloc[0]
                rows.append({"weights": w, "activations": str(a), **{m: r[m] for m in _METRICS if m in r}})
            table = pd.DataFrame(rows)
        else:
            names = list(dict.fromkeys(p.weights for p in precisions if _is_format_name(p.weights)))
            if not names:
                return None
            table = compare(names, source, study.accuracy.seed).rename(columns={"format": "weights"})
            table["weights"] = names  # the study's spelling, which is what rows carry
    except HwsimError as exc:
        raise HwsimError(str(exc), file=study.file, field=field) from None
    if table.empty:
        return None
    keys = [c for c in ("weights", "activations") if c in table.columns]
    return table[keys + [m for m in _METRICS if m in table.columns]].rename(
        columns={m: PREFIX + m for m in _METRICS})
