"""Allocation units: which trace ops share one format.

Weight units cover the linear ops inside layers (embeddings and lm_head stay at the fixed weight
format, as is usual for quantized LLMs); granularity `op` gives one unit per op, `layer` one per
layer, and user groups fuse roles within a layer (q/k/v computed by one fused GEMM share a format).
A unit STORES the model's full parameters of its (layer, role) pairs — for an MoE expert role, all
num_experts experts, not just those the step's routing touches — so memory and average bits do not
depend on batch; its latency and energy still come from the trace ops (the experts actually read).
When a role's experts are split over several trace ops (balanced routing with an uneven share), its
stored parameters are split between those ops in proportion to the weights each reads.
KV units (one per layer, optional) choose the KV-cache format of that layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hwsim.errors import HwsimError, closest
from hwsim.workload import kv

if TYPE_CHECKING:
    from hwsim.workload.config import ModelConfig
    from hwsim.workload.trace import Trace

GRANULARITIES = ("op", "layer")
KV_ROLE = "kv"


@dataclass(frozen=True)
class Unit:
    name: str
    kind: str  # "weights" | "kv"
    rows: tuple[int, ...]  # positions in trace.ops of the ops this unit's format prices
    ops: tuple[str, ...]  # names written in the assignment (op names; "layers.<i>.kv" for a KV unit)
    params: int  # weight parameters stored (weigh avg_bits; batch-independent); 0 for KV
    storage: int  # elements stored (weights, or the layer's KV cache), at the unit's format but own_elems
    own_elems: int = 0  # of storage, those at a format of their own (DeepSeek-V3.2's index key: kv.as_bytes)
    # KV: the attention elements of storage by their (key row, value row) (kv.row_elems: priced on those rows)
    by_rows: tuple[tuple[tuple[int, int], int], ...] = ()
    # weights: the elements of storage a group-scaled format groups along rows, by row length K (biases left out;
    # priced on those rows by hwsim.engine.cost.row_scale_bytes, as the footprint prices them)
    weight_rows: tuple[tuple[int, float], ...] = ()


def role_params(model: ModelConfig, role: str, layer: int) -> int | None:
    """Parameters of `role` in `layer`, every expert included; None for a role the layer does not list."""
    return model.role_params(role, int(layer))


def stored_params(trace: Trace, rows: np.ndarray) -> np.ndarray:
    """Stored parameters of each op in `rows` (linear ops in layers): its (layer, role)'s full count,
    split over that pair's ops in proportion to weight_elems (remainder to the last, so sums are exact).
    A role missing from the config falls back to the elements the op reads."""
    ops = trace.ops
    layers, roles = ops["layer"].to_numpy()[rows], ops["op"].to_numpy()[rows]
    read = ops["weight_elems"].to_numpy()[rows].astype(np.int64)
    out = read.copy()
    for role in np.unique(roles):
        for layer in np.unique(layers[roles == role]):
            full = role_params(trace.model, str(role), layer)
            if full is None:
                continue
            at = np.flatnonzero((roles == role) & (layers == layer))
            total = max(int(read[at].sum()), 1)
            share = [full * int(r) // total for r in read[at][:-1]]  # Python ints: full × read can pass 2**63
            out[at] = share + [full - sum(share)]
    return out


def parse_groups(groups: Mapping[str, Iterable[str]] | Iterable[str] | None) -> dict[str, tuple[str, ...]]:
    """{group name: roles} from a dict or from "name=role,role" strings."""
    if not groups:
        return {}
    if isinstance(groups, dict):
        return {str(k): tuple(v) for k, v in groups.items()}
    out = {}
    for text in groups:
        name, sep, roles = str(text).partition("=")
        if not sep or not name or not roles:
            raise HwsimError(f"expected NAME=ROLE,ROLE,… (e.g. qkv=q_proj,k_proj,v_proj), got {text!r}", field="group")
        members = tuple(r.strip() for r in roles.split(","))
        if "" in members:  # `qkv=q_proj,,v_proj`: a role left out (it was dropped silently)
            raise HwsimError(f"an empty role name in {text!r}: write one role between each comma", field="group")
        out[name] = members
    return out


def weight_units(
    trace: Trace, granularity: str = "op", groups: Mapping[str, Iterable[str]] | Iterable[str] | None = None
) -> list[Unit]:
    if granularity not in GRANULARITIES:
        raise HwsimError(f"must be one of {', '.join(GRANULARITIES)}, got {granularity!r}", field="granularity")
    ops = trace.ops
    sel = np.flatnonzero((ops["kind"].to_numpy() == "linear") & (ops["layer"].to_numpy() >= 0))
    if sel.size == 0:
        raise HwsimError("the trace has no linear ops inside layers to allocate", field="model")
    names, roles = ops["name"].to_numpy(), ops["op"].to_numpy()
    layers = ops["layer"].to_numpy()
    elems = np.zeros(len(ops), dtype=np.int64)
    elems[sel] = stored_params(trace, sel)
    role_group: dict[str, str] = {}  # role → its group
    for g, members in parse_groups(groups).items():
        for r in members:
            if r not in set(roles[sel]):
                raise HwsimError(
                    f"group {g!r}: no linear op with role {r!r}" + closest(r, sorted(set(roles[sel]))), field="group"
                )
            if r in role_group:
                raise HwsimError(f"role {r!r} is in two groups ({role_group[r]!r}, {g!r})", field="group")
            role_group[r] = g
    if role_group and granularity == "layer":  # each layer is one unit already: the groups were ignored
        raise HwsimError(
            "groups share a format among roles at `granularity` op; at layer granularity each layer is one unit "
            "already: drop `groups` or the layer granularity",
            field="group",
        )
    keys: dict[str, list[int]] = {}  # unit name → rows, in trace order
    for i in sel:
        if granularity == "layer":
            key = f"layers.{layers[i]}"
        elif roles[i] in role_group:
            key = f"layers.{layers[i]}.{role_group[roles[i]]}"
        else:
            key = str(names[i])
        keys.setdefault(key, []).append(int(i))
    # of each op's stored parameters, those of its k × n weight (not its bias) on rows of its K
    k, n, count, read = (ops[c].to_numpy(np.float64) for c in ("k", "n", "count", "weight_elems"))
    grouped = np.where(read > 0, elems * (k * n * count / np.maximum(read, 1.0)), 0.0)
    return [
        Unit(
            key,
            "weights",
            tuple(r),
            tuple(str(names[i]) for i in r),
            int(elems[r].sum()),
            int(elems[r].sum()),
            weight_rows=_by_row(k[r], grouped[r]),
        )
        for key, r in keys.items()
    ]


def _by_row(rows: np.ndarray, elems: np.ndarray) -> tuple[tuple[int, float], ...]:
    """(row length, elements) pairs summed by row length, in order of first appearance."""
    out: dict[int, float] = {}
    for row, e in zip(rows.astype(np.int64).tolist(), elems.tolist()):
        out[row] = out.get(row, 0.0) + e
    return tuple(out.items())


def kv_units(trace: Trace) -> list[Unit]:
    """One unit per layer: the ops that read or write its KV cache (or SSM state), storing what
    hwsim.workload.kv says that layer holds after the step."""
    ops = trace.ops
    touches = (ops["kv_read_elems"].to_numpy() > 0) | (ops["kv_write_elems"].to_numpy() > 0)
    layer = ops["layer"].to_numpy()
    return [
        Unit(
            f"layers.{i}.{KV_ROLE}",
            "kv",
            tuple(int(r) for r in np.flatnonzero(touches & (layer == i))),
            (f"layers.{i}.{KV_ROLE}",),
            0,
            kv.layer_elems(block, trace.batch, trace.span, trace.mla),
            kv.layer_index_elems(block, trace.batch, trace.span),
            tuple(kv.row_elems((block,), trace.batch, trace.span, trace.mla).items()),
        )
        for i, block in enumerate(trace.model.blocks)
    ]
