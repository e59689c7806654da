"""Traces: one row per op that an LLM executes for a prefill or decode step.

Token convention (used everywhere in hwsim): each of `batch` sequences processes T new tokens
(prefill: T = seq; decode: T = 1) that attend over C + T keys, C = `context` tokens already in the
KV cache. New K/V are written to the cache once (by rope, or by k_proj/v_proj when the model has no
rotary embedding; an MLA without one, by kv_a_norm); attention reads all C + T keys and values from the cache, once per KV head (GQA).
Attention scores are counted over the full C + T span for every new token (what a dense kernel
executes; a causal mask does not shrink the work here). MoE routing is balanced: the batch's
token-expert assignments are spread as evenly as possible over the experts (the most distinct
experts, hence an upper bound on expert weights read). Sliding-window and chunked layers attend over
at most their window (the keys a windowed kernel visits); docs/workloads.md lists every block's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from hwsim.errors import HwsimError
from hwsim.kept import kept, kept_by
from hwsim.workload import kv
from hwsim.workload.config import ModelConfig, load_model
from hwsim.workload.layer_ops import ATTENTION_FORMS, VECTOR_OPS, Ops, Step, layer_template

if TYPE_CHECKING:  # pandas loads when a table is first asked for (Trace.ops), not with the trace builder
    import pandas as pd

PHASES = ("prefill", "decode")
LOGITS = ("last", "all")
DEFAULT_SEQ = 256  # prefill tokens; BitMoD's evaluation setting (REFERENCES.md)
DEFAULT_DECODE_CONTEXT = 256

# The documented Trace.ops columns (docs/interfaces.md): the op's identity, then its counts (int64).
INT_COLUMNS = (
    "m",
    "n",
    "k",
    "count",
    "macs",
    "vector_ops",
    "weight_elems",
    "act_in_elems",
    "act_out_elems",
    "kv_read_elems",
    "kv_write_elems",
)
COLUMNS = ["name", "layer", "kind", "op", *INT_COLUMNS]

# Op counts are int64 and sums of them are taken in float64: every count must stay exact there.
MAX_COUNT = 2**53
MAX_TOKENS = 2**31  # batch, seq and context (assumed bound: 1000x the longest published context)


class _OpsTable:
    """`Trace.ops`: a DataFrame. The trace builder hands over its column arrays (COLUMNS order) and the frame
    is built on first read, so a run that only costs the trace never loads pandas (a third of a cold
    `hwsim simulate`); a Trace given a DataFrame keeps it. `Trace.op_arrays` reads the columns either way."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}_table"

    def __get__(self, obj: "Trace | None", objtype: type | None = None) -> pd.DataFrame:
        if obj is None:
            raise AttributeError(self.slot)  # a required dataclass field: no default at class level
        value = obj.__dict__[self.slot]
        if isinstance(value, dict):
            value = _frame(value)
            obj.__dict__[self.slot] = value
        return value

    def __set__(self, obj: "Trace", value: "pd.DataFrame | dict[str, np.ndarray]") -> None:
        obj.__dict__[self.slot] = value


def _frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(columns, columns=COLUMNS)


@dataclass(frozen=True)
class Trace:
    model: ModelConfig
    phase: str
    batch: int
    seq: int  # new tokens per sequence in this step (1 for decode)
    context: int  # tokens already cached before this step
    logits: str
    ops: pd.DataFrame = _OpsTable()  # a descriptor: see _OpsTable
    attention: str = "unfused"  # ATTENTION_FORMS
    mla: str = "absorbed"  # kv.MLA_MODES

    def op_arrays(self) -> "Mapping[str, Any]":
        """The ops' columns by name as arrays (the builder's own, before any DataFrame exists; else the frame)."""
        value = self.__dict__["_ops_table"]
        return MappingProxyType(value) if isinstance(value, dict) else self.ops  # read-only, as its arrays

    @property
    def tokens(self) -> int:
        return self.seq

    @property
    def span(self) -> int:
        return self.context + self.seq

    def kv_cache_bytes(self, kv_bits: Any = 16) -> float:
        """KV cache (and SSM state) held after this step, every layer, every sequence (hwsim.workload.kv): at
        `kv_bits` bits, or at a KV format (OperandType: a row-scaled one priced on the cache's rows, kv.as_bytes)."""
        # counted once per trace: every engine call asks (footprint)
        elems = kept(self, "_kv_elems", lambda: kv.cache_elems(self.model.blocks, self.batch, self.span, self.mla))
        index = kept(self, "_kv_index_elems", lambda: kv.index_elems(self.model.blocks, self.batch, self.span))
        if not kv.row_scaled(kv_bits):
            return kv.as_bytes(elems, index, kv_bits)
        by_rows = kept(self, "_kv_row_elems", lambda: kv.row_elems(self.model.blocks, self.batch, self.span, self.mla))
        return kv.as_bytes(elems, index, kv_bits, by_rows)

    def with_attention(self, form: str) -> "Trace":
        """The same step with attention unfused (qk, softmax, av) or fused (one attn_fused row per layer).
        Only the attention rows change: rows a caller added (e.g. online Hadamards) or left out (e.g.
        `--only linear`) stay as they are."""
        if form == self.attention:
            return self
        return kept_by(self, "_other_forms", form, lambda: self._in_form(form))  # every engine call asks again

    def _in_form(self, form: str) -> "Trace":
        built = trace(
            self.model, self.phase, self.batch, self.seq, self.context, self.logits, attention=form, mla=self.mla
        )
        return replace(self, ops=splice_attention(self.ops, built.ops), attention=form)

    def totals(self, kv_bits: float = 16) -> dict:
        ops = self.ops
        return {
            "params": self.model.params,
            "active_params_per_token": self.model.active_params_per_token,
            "macs": int(ops["macs"].sum()),
            "vector_ops": int(ops["vector_ops"].sum()),
            "weight_elems_read": int(ops["weight_elems"].sum()),
            "kv_cache_bytes": self.kv_cache_bytes(kv_bits),
            "ops": len(ops),
        }

    def linear(self) -> pd.DataFrame:
        return self.ops[self.ops["kind"] == "linear"]


ATTENTION_ROLES = ("qk", "softmax", "av", "attn_fused")


def splice_attention(ops: pd.DataFrame, built: pd.DataFrame) -> pd.DataFrame:
    """`ops` with each layer's attention rows replaced by that layer's attention rows in `built` (the
    builder's other form), placed where the layer's first attention row was; layers without attention
    rows in `ops` get none."""
    import pandas as pd

    att = ops["op"].isin(ATTENTION_ROLES).to_numpy()
    if not att.any():
        return ops
    first = pd.Series(np.flatnonzero(att), index=ops["layer"].to_numpy()[att]).groupby(level=0).min()
    new = built[built["op"].isin(ATTENTION_ROLES) & built["layer"].isin(first.index)]
    within = new.groupby("layer").cumcount().to_numpy() + 1
    key = np.concatenate(
        [
            np.flatnonzero(~att).astype(np.float64),
            first.reindex(new["layer"]).to_numpy() + within / (within.max() + 1.0),
        ]
    )
    out = pd.concat([ops[~att], new], ignore_index=True)
    return out.iloc[np.argsort(key, kind="stable")].reset_index(drop=True)


def check_count(value: object, field: str, *, allow_zero: bool = False) -> int:
    """`value` as a token count (batch, sequence, context): an integer in 1..2^31 (0 allowed with `allow_zero`)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if allow_zero else 1):
        allowed = "a non-negative integer" if allow_zero else "a positive integer"
        raise HwsimError(f"must be {allowed}, got {value!r}", field=field)
    if value > MAX_TOKENS:
        raise HwsimError(f"must be at most {MAX_TOKENS:,} (2^31), got {value:.3g}", field=field)
    return int(value)


def check_magnitudes(rows: list[tuple], repeat: int = 1, *, field: str | None = None) -> None:
    """Refuse a workload whose op counts (over `repeat` layers) leave the exact range of int64/float64,
    naming the op and the count, instead of overflowing into negative or wrong numbers."""
    for row in rows:
        for col, value in zip(INT_COLUMNS, row[3:]):  # rows: name, kind, op, then the counts
            if value * repeat > MAX_COUNT:
                raise too_large_to_count(col, row[0], value * repeat, field)


def too_large_to_count(column: str, op: str, value: float, field: str | None = None) -> HwsimError:
    """The error of an op count beyond MAX_COUNT (exact in int64 and in float64 sums)."""
    return HwsimError(
        f"too large to count: {column} of {op} reaches {value:.3g} (limit 2^53); "
        "use a smaller batch, sequence, context or model",
        field=field,
    )


def _check_choice(value: str, allowed: tuple, field: str) -> str:
    if value not in allowed:
        raise HwsimError(f"must be one of {', '.join(allowed)}, got {value!r}", field=field)
    return value


def warn_beyond_trained_context(model: ModelConfig, span: int) -> None:
    # GPT-2-style configs (gpt2, and the readers that alias it) name the trained length n_positions
    key = "max_position_embeddings" if "max_position_embeddings" in model.extra else "n_positions"
    limit = model.extra.get(key)
    if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < span:
        import warnings

        from hwsim.errors import HwsimWarning

        warnings.warn(
            HwsimWarning(
                f"{model.name}: context + new tokens = {span:,} is beyond its "
                f"{key} ({limit:,}); the figures are for a context the model "
                "was not built for"
            ),
            stacklevel=3,
        )


def _edges(model: ModelConfig, s: Step, logits: str) -> tuple[Ops, Ops]:
    """Rows before the first layer (embeddings) and after the last (final norm, LM head or pooler)."""
    head, tail = Ops(), Ops()
    M, h, emb = s.M, s.hidden, model.embedding
    tables = 1 + (emb.positions > 0) + (emb.token_types > 0)  # rows gathered per token, then summed
    head.add(
        "embed_tokens",
        "embedding",
        "embed",
        M,
        h,
        1,
        1,
        vector_ops=(tables - 1) * M * h,
        weight=tables * M * h,
        act_out=M * h,
    )
    if emb.scale:  # Gemma: embeddings × sqrt(hidden)
        head.elementwise("embed_scale", "scale", M, h, VECTOR_OPS["scale"])
    if emb.per_layer:  # Gemma-4's per-layer embeddings: a gathered row of every layer's slice, and the projection
        width = model.layers * emb.per_layer
        head.add("embed_tokens_per_layer", "embedding", "embed", M, width, 1, 1, weight=M * width, act_out=M * width)
        head.linear("per_layer_model_projection", "per_layer_model_projection", M, h, width)
        head.elementwise(
            "per_layer_projection_norm",
            "norm",
            M * model.layers,
            emb.per_layer,
            VECTOR_OPS[s.norm],
            weight=emb.per_layer,
        )
        # the table's sqrt(d) scale, the projection's 1/sqrt(hidden), the sum and its 1/sqrt(2)
        head.elementwise("per_layer_combine", "scale", M, width, 4, inputs=2)
    if model.encoder or emb.norm:  # BERT, BLOOM: LayerNorm on the embeddings
        s.norm_op(head, "embed_norm", M)
    if model.encoder:  # BERT: the pooler reads the first token of each sequence
        tail.linear("pooler", "pooler", s.batch, h, h, bias=True)
        return head, tail
    if emb.final_norm:
        s.norm_op(tail, "final_norm", M)
    rows = M if logits == "all" else s.batch
    tail.linear("lm_head", "lm_head", rows, h, model.vocab, bias=emb.head_bias)
    if emb.logit_softcap:  # Gemma-2: tanh soft-capping of the logits
        tail.elementwise("logit_softcap", "softcap", rows, model.vocab, VECTOR_OPS["softcap"])
    return head, tail


def trace(
    model: "ModelConfig | str",
    phase: str,
    batch: int = 1,
    seq: int | None = None,
    context: int | None = None,
    logits: str = "last",
    *,
    attention: str = "unfused",
    mla: str = "absorbed",
) -> Trace:
    """Build the op table for one prefill (seq new tokens) or decode (one new token) step.
    `attention`: "unfused" (qk, softmax, av rows) or "fused" (one attn_fused row per layer);
    `mla`: "absorbed" (serving kernels' MLA decode, latent cache), "latent" (transformers 5: latent cache
    up-projected every step) or "expanded" (per-head K/V cache, transformers 4). `model` is a
    ModelConfig, or anything load_model takes (a preset name, a config.json, a checkpoint folder, a .gguf)."""
    if not isinstance(model, ModelConfig):
        model = load_model(model)
    _check_choice(phase, PHASES, "phase")
    _check_choice(logits, LOGITS, "logits")
    _check_choice(attention, ATTENTION_FORMS, "attention")
    _check_choice(mla, kv.MLA_MODES, "mla")
    batch = check_count(batch, "batch")
    if model.encoder and phase != "prefill":
        raise HwsimError(f"{model.name} is an encoder-only model: it has a prefill (encode) phase only", field="phase")
    if phase == "prefill":
        t = check_count(DEFAULT_SEQ if seq is None else seq, "seq")
        c = check_count(0 if context is None else context, "context", allow_zero=True)
    else:
        if seq not in (None, 1):
            raise HwsimError(
                f"decode generates one token per sequence; use context for the cached length, got seq={seq!r}",
                field="seq",
            )
        t = 1
        c = check_count(DEFAULT_DECODE_CONTEXT if context is None else context, "context", allow_zero=True)
    step = Step(batch=batch, t=t, span=c + t, hidden=model.hidden, norm=model.norm, attention=attention, mla=mla)
    head, tail = _edges(model, step, logits)

    # each distinct layer is built once; layers are assembled in order from their template's columns
    kinds = list(dict.fromkeys(model.blocks))
    templates = [layer_template(layer, step).rows for layer in kinds]
    which = [kinds.index(layer) for layer in model.blocks] if len(kinds) > 1 else [0] * len(model.blocks)
    check_magnitudes(head.rows + tail.rows)
    for rows, layer in zip(templates, kinds):
        check_magnitudes(rows, model.blocks.count(layer))
    warn_beyond_trained_context(model, step.span)  # after the checks: an error stays the only line
    cols = [list(zip(*rows)) for rows in templates]
    names = [r[0] for r in head.rows]
    for i, w in enumerate(which):
        names += [f"layers.{i}.{r[0]}" for r in templates[w]]
    names += [r[0] for r in tail.rows]
    sizes = np.asarray([len(templates[w]) for w in which], dtype=np.int64)
    layer_idx = np.repeat(np.arange(len(which), dtype=np.int64), sizes)

    def column(j: int) -> np.ndarray:
        dtype = object if j < 3 else np.int64
        per_kind = [np.asarray(c[j], dtype=dtype) for c in cols]
        if len(per_kind) == 1:
            body = np.tile(per_kind[0], len(which))
        else:
            body = np.concatenate([per_kind[w] for w in which]) if which else np.empty(0, dtype)
        edge = lambda rows: np.asarray([r[j] for r in rows], dtype=dtype)  # noqa: E731
        return np.concatenate([edge(head.rows), body, edge(tail.rows)])

    data = {
        "name": np.asarray(names, dtype=object),
        "layer": np.concatenate([np.full(len(head.rows), -1), layer_idx, np.full(len(tail.rows), -1)]).astype(np.int64),
    }
    for j, col in enumerate(COLUMNS[2:], start=1):
        data[col] = column(j)
    for col in INT_COLUMNS:
        data[col] = data[col].astype(np.int64)
    for arr in data.values():
        arr.flags.writeable = False  # the Trace's own columns: its table (built from them) never changes
    return Trace(
        model=model, phase=phase, batch=batch, seq=t, context=c, logits=logits, ops=data, attention=attention, mla=mla
    )
