"""Online Hadamard rotations as trace ops (QuaRot, REFERENCES.md "Quantization methods").

A rotation method (`rotate`, `rotate+gptq`) fuses most of its Hadamards into neighbouring weights, but
some must run at inference time because a nonlinearity sits between the weights they would fuse into:
- before every down_proj: a Hadamard over the MLP's intermediate width (after SiLU·up), per token;
- before every o_proj: the attention output's Hadamard H_heads ⊗ H_head_dim; the head_dim part fuses into
  v_proj (softmax mixes tokens, not channels), the part across heads runs online: heads·log2(heads) adds per
  head_dim channel (what hwsim.accuracy.llm applies to o_proj's input);
- with a quantized KV cache: a Hadamard over each head's query and key after RoPE (the value side fuses
  into v_proj / o_proj).
Each is a fast Walsh–Hadamard transform: n·log2(n) additions/subtractions per token for width n
(assumed for every width: a non-power-of-two order such as 11008 = 64·172 costs a little more, its
core being dense), reading and writing the activations once.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from hwsim.workload.trace import Trace

HADAMARD_OP = "hadamard"


def _row(template: pd.Series, name: str, m: int, width: int, per_elem: int) -> dict:
    elems = m * width
    return {
        **template.to_dict(),
        "name": name,
        "kind": "elementwise",
        "op": HADAMARD_OP,
        "m": m,
        "n": width,
        "k": 1,
        "count": 1,
        "macs": 0,
        "vector_ops": per_elem * elems,
        "weight_elems": 0,
        "act_in_elems": elems,
        "act_out_elems": elems,
        "kv_read_elems": 0,
        "kv_write_elems": 0,
    }


def online_hadamard_ops(ops: pd.DataFrame, *, kv: bool, head_dim: int | None = None) -> pd.DataFrame:
    """`ops` with a Hadamard row before each down_proj and each o_proj (across heads: `head_dim`-sized
    blocks; the whole width when `head_dim` is None) and, with `kv`, one after each RoPE row (over its q and
    k widths, transforms of `head_dim`)."""
    rows = []
    for _, r in ops.iterrows():
        prefix = r["name"].rpartition(".")[0]
        if r["op"] == "o_proj":
            heads = int(r["k"]) // head_dim if head_dim else int(r["k"])
            rows.append(
                _row(
                    r,
                    f"{prefix}.o_hadamard" if prefix else "o_hadamard",
                    int(r["m"]),
                    int(r["k"]),
                    max(1, math.ceil(math.log2(max(heads, 2)))),
                )
            )
        if r["op"] == "down_proj":
            rows.append(
                _row(
                    r,
                    f"{prefix}.hadamard" if prefix else "hadamard",
                    int(r["m"]),
                    int(r["k"]),
                    max(1, math.ceil(math.log2(int(r["k"])))),
                )
            )
        rows.append(r.to_dict())
        if kv and r["op"] == "rope" and head_dim:
            rows.append(
                _row(
                    r,
                    f"{prefix}.kv_hadamard" if prefix else "kv_hadamard",
                    int(r["m"]),
                    int(r["n"]),
                    max(1, math.ceil(math.log2(head_dim))),
                )
            )
    out = pd.DataFrame(rows, columns=ops.columns)
    return out.astype({c: ops[c].dtype for c in ops.columns if ops[c].dtype == np.int64})


@dataclasses.dataclass(frozen=True)
class RotatedTrace(Trace):
    """A Trace with online Hadamard rows (re-expressing its attention keeps them: Trace.with_attention
    changes attention rows only)."""

    online_kv: bool = False


def with_online_hadamard(
    trace: Trace | pd.DataFrame, *, kv: bool, head_dim: int | None = None
) -> RotatedTrace | pd.DataFrame:
    """A Trace (or a bare op table, with `head_dim`) with QuaRot's online Hadamards added."""
    if isinstance(trace, pd.DataFrame):
        return online_hadamard_ops(trace, kv=kv, head_dim=head_dim)
    head_dim = head_dim or trace.model.head_dim
    fields = {f.name: getattr(trace, f.name) for f in dataclasses.fields(Trace)}
    fields["ops"] = online_hadamard_ops(trace.ops, kv=kv, head_dim=head_dim)
    return RotatedTrace(**fields, online_kv=kv)


def needs_online_hadamard(method: str | None) -> bool:
    """Whether a method name (hwsim.accuracy.methods) rotates, so its trace carries online Hadamards."""
    return any(part.strip().lower() == "rotate" for part in str(method or "rtn").split("+"))


def kv_quantized(kv: object) -> bool:
    """A KV precision below 16 bits (the online K rotation only serves a quantized cache)."""
    text = str(kv).strip().lower()
    try:
        return float(text) < 16
    except ValueError:
        return text not in ("fp16", "bf16", "fp32", "float16", "bfloat16", "float32")
