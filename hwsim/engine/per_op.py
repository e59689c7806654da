"""Cost a trace whose ops store their weights in different formats (a quantized checkpoint keeps lm_head and
the embeddings in fp16/bf16; GPTQ `dynamic` or a GGUF file mixes bit widths per layer).

Ops are grouped by weight format and each group is costed with the engine at that format; per-op rows come
back in trace order and the additive totals are summed. Area and the family's point totals (a design
property, not a per-op one) are those at the format most weights use.
"""
from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import replace

import numpy as np
import pandas as pd

from hwsim.engine.cost import CostTable, evaluate
from hwsim.core.precision import Precision
from hwsim.errors import HwsimError, HwsimWarning


def evaluate_per_op(arch, trace, precision: Precision, formats: list[str], engine=evaluate) -> CostTable:
    """`formats[i]` is the weight format of op i; activations and KV come from `precision`."""
    ops = trace.ops
    if len(formats) != len(ops):
        raise ValueError("one weight format per op")
    fmts = np.asarray(formats, dtype=object)
    main = Counter(formats).most_common(1)[0][0]
    with_main = Precision(weights=main, activations=precision.activations, kv=precision.kv)
    base = engine(arch, trace, with_main)
    if len(set(formats)) == 1:
        return base
    frame = base.ops.copy()
    for fmt in dict.fromkeys(formats):
        if fmt == main:
            continue
        mask = fmts == fmt
        sub = replace(trace, ops=ops[mask].reset_index(drop=True)) if hasattr(trace, "model") else ops[mask]
        try:
            part = engine(arch, sub, Precision(weights=fmt, activations=precision.activations, kv=precision.kv))
        except HwsimError as exc:
            names = ", ".join(ops.loc[mask, "name"].astype(str).head(3))
            warnings.warn(HwsimWarning(f"{arch.name} cannot run {fmt} weights ({names}): costed at {main} "
                                       f"instead ({exc.detail[:120]}); one weight format for the whole model "
                                       "costs every op at it"), stacklevel=2)
            continue
        for col in part.ops.columns:
            frame.loc[mask, col] = part.ops[col].to_numpy()
    frame.insert(2, "weights", fmts)
    additive = [k for k in base.totals if k in frame.columns]
    totals = {**base.totals, **{k: float(pd.to_numeric(frame[k]).sum()) for k in additive}}
    return CostTable(arch=base.arch, ops=frame, totals=totals, extra_keys=base.extra_keys)
