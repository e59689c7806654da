"""Accuracy per format, computed once per study (not per design point) and joined onto every row.

Sources come from hwsim.accuracy.compare: synthetic LLM-like weights, a checkpoint's tensors, or
MiniLM end to end (its sentence-embedding cosine vs fp32 depends on weights, activations, KV and the
method, so its key is that tuple) — or a user's decoder checkpoint end to end (`source: model`,
hwsim.accuracy.llm: perplexity and KL vs fp on a text file, same key). Weight-only sources measure
weights with RTN; a method other than rtn needs an end-to-end source. Precisions given as a plain number
of bits have no format to quantize with, so their accuracy columns stay empty (NaN). `acc_source` says
what the columns measure (synthetic sources are a proxy and say so).
"""

from __future__ import annotations

from typing import TypeGuard

import pandas as pd

from hwsim.errors import HwsimError
from hwsim.study.schema import Study

PREFIX = "acc_"
_METRICS = ("mse", "sqnr_db", "max_abs_err", "cosine", "perplexity", "baseline_perplexity", "kl")


def _is_format_name(v: object) -> TypeGuard[str]:
    if not isinstance(v, str):
        return False
    try:
        float(v)
        return False
    except ValueError:
        return True


def _quantizer(v: object) -> str | None:
    """The format an accuracy run quantizes with (None: fp32, or a plain number of bits)."""
    return v if _is_format_name(v) and v != "fp32" else None


def _end_to_end(study: Study, w: str, a: object, kv: object, method: str) -> dict:
    acc = study.accuracy
    if acc.source == "minilm":
        from hwsim.accuracy.compare import compare

        r = compare([w], "minilm", acc.seed, act_format=_quantizer(a), method=method, kv_format=_quantizer(kv)).iloc[0]
        return {m: r[m] for m in _METRICS if m in r}
    from hwsim.accuracy import llm
    from hwsim.formats import get_format

    wf, af, kvf = (None if f is None else get_format(f) for f in (_quantizer(w), _quantizer(a), _quantizer(kv)))
    opts = {} if acc.max_tokens is None else {"max_tokens": acc.max_tokens}
    assert acc.path is not None and acc.text is not None, "the study schema requires path and text for a model source"
    return llm.evaluate(
        acc.path, acc.text, llm.Quant(wf, af, kvf, method, acc.seed), calibration=acc.calibration, **opts
    )


def accuracy_table(study: Study) -> pd.DataFrame | None:
    """One row per weights format (per (weights, activations, kv, method) for end-to-end sources) with
    acc_* columns and acc_source."""
    source = study.accuracy.compare_source
    if source is None:
        return None
    from hwsim.accuracy.compare import compare
    from hwsim.study.schema import END_TO_END_SOURCES
    from hwsim.sweep.evaluate import concrete

    precisions = list(dict.fromkeys(concrete(p, w) for p in study.precisions for w in study.workloads))
    field = "accuracy.source"
    try:
        if study.accuracy.source in END_TO_END_SOURCES:
            keys = dict.fromkeys(
                (str(p.weights), p.activations, p.kv, p.method) for p in precisions if _is_format_name(p.weights)
            )
            rows = [
                {"weights": w, "activations": str(a), "kv": str(kv), "method": m, **_end_to_end(study, w, a, kv, m)}
                for w, a, kv, m in keys
            ]
            table = pd.DataFrame(rows)
        else:
            methods = sorted({p.method for p in precisions} - {"rtn"})
            if methods:
                raise HwsimError(
                    f"method {methods[0]} changes what a model computes: measure it with an "
                    f"end-to-end source ({', '.join(END_TO_END_SOURCES)}), not {study.accuracy.source}"
                )
            names = list(dict.fromkeys(p.weights for p in precisions if _is_format_name(p.weights)))
            if not names:
                return None
            table = compare(names, source, study.accuracy.seed).rename(columns={"format": "weights"})
            table["weights"] = names  # the study's spelling, which is what rows carry
    except HwsimError as exc:
        raise HwsimError(str(exc), file=study.file, field=field) from None
    if table.empty:
        return None
    cols = [c for c in ("weights", "activations", "kv", "method") if c in table.columns]
    table = table[cols + [m for m in _METRICS if m in table.columns]].rename(columns={m: PREFIX + m for m in _METRICS})
    table[PREFIX + "source"] = study.accuracy.label
    return table
