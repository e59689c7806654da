"""A checkpoint's own per-op weight formats, and costing a trace whose ops store their weights in different
formats (a quantized checkpoint keeps lm_head and the embeddings in fp16/bf16; GPTQ `dynamic`, ignored layers or a
GGUF file mix formats per layer).

One mechanism for every command (simulate, roofline, allocate, sweep): `own_formats` gives each op's format,
`split` groups the ops by format (the format most ops use first), and each command costs every group at its
format with its own engine call and puts the rows back in trace order. Area and the family's point totals (a
design property, not a per-op one) are those at the main format. A format the design cannot run is costed at the
main format instead, with a warning that names the ops (never silently).
"""

from __future__ import annotations

import functools
import warnings
from collections import Counter
from dataclasses import dataclass, replace

from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, TypeVar

import numpy as np

from hwsim.engine.attention import as_run
from hwsim.engine.cost import CostTable, evaluate, ops_frame
from hwsim.core.precision import Precision, resolve_precision
from hwsim.errors import HwsimError, HwsimWarning

if TYPE_CHECKING:  # pandas loads with the first table, not with the engine
    import pandas as pd

    from hwsim.core.precision import ResolvedPrecision
    from hwsim.core.spec import Accelerator
    from hwsim.engine.cost import TraceLike
    from hwsim.workload.config import ModelConfig

T = TypeVar("T")


def own_formats(trace: TraceLike, model: ModelConfig | None = None, main: str | None = None) -> list[str] | None:
    """The weight format of each op of a quantized checkpoint's trace, as the checkpoint stores it (None: a plain
    model, whose weights take the precision the caller gives, or a bare ops table). Ops that read no weights
    (attention, elementwise) take the main format (`main`, else the format most weighted ops here use), so they
    never split a group. `model`: the checkpoint of a bare ops table (a step's rows, hwsim.serve.stepcost)."""
    model = model if model is not None else getattr(trace, "model", None)
    if model is None or model.weight_formats is None:  # a plain model: no table needed
        return None
    import pandas as pd

    ops = ops_frame(trace)
    codes, names = pd.factorize(ops["name"])  # each name once: a table of many steps repeats its rows' names
    named = model.op_weight_formats(names)
    if named is None:
        return None
    ruled = np.asarray(named, dtype=object)[codes]
    weighted = ops["weight_elems"].to_numpy() > 0
    if main is None:  # by the quantization_config's rules alone: a norm kept 16-bit moves no main format
        common = Counter(ruled[weighted].tolist()).most_common(1)
        main = common[0][0] if common else model.default_weight_format
    fmts = np.asarray(model.of_kinds(ruled.tolist(), ops["kind"]), dtype=object)
    return np.where(weighted, fmts, main).tolist()


@dataclass(frozen=True)
class Split:
    """Ops grouped by weight format: `main` (most ops) and a row mask for each other format, most ops first."""

    main: str
    others: tuple[tuple[str, np.ndarray], ...]

    def label(self) -> str:
        """'int4_g128' or 'int4_g128+fp16': the formats of a mixed series, main first."""
        return "+".join([self.main, *(f for f, _ in self.others)])


def split(formats: list[str], main: str | None = None) -> Split:
    """`formats` grouped: `main` (default: the format most ops use), then each other format, most ops first."""
    fmts = np.asarray(formats, dtype=object)
    counts = Counter(formats).most_common()  # ties: first seen first
    main = counts[0][0] if main is None else main
    return Split(main, tuple((f, fmts == f) for f, _ in counts if f != main))


def main_format(formats: Iterable[str] | None) -> str:
    """The one weight format `weights: model` stands for where a whole model is costed at one (a study's
    `weights` column, a serving replay): the format most of a checkpoint's ops use (`own_formats`); fp16 for a
    plain model (None)."""
    return "fp16" if formats is None else split(list(formats)).main


def leaves_weights(precision: object) -> bool:
    """Whether `precision` leaves each weight at the model's own format: a Precision whose weights are None (the
    serving commands' default, as `--weights` left out is simulate's)."""
    return isinstance(precision, Precision) and precision.weights is None


def model_formats(model: ModelConfig) -> tuple[pd.DataFrame, list[str]] | None:
    """A quantized checkpoint's one-token decode trace (its ops table) and the format each op stores
    (own_formats); None for a plain model."""
    return None if model.weight_formats is None else _model_formats(model, model.weight_formats)


@functools.lru_cache(maxsize=32)
def _model_formats(model: ModelConfig, _formats: object) -> tuple[pd.DataFrame, list[str]]:
    from hwsim.workload import trace  # the formats (no part of a model's equality) are the cache's key too

    ops = trace(model, "decode", batch=1, context=1)
    formats = own_formats(ops)
    assert formats is not None
    return ops.ops, formats


def model_split(model: ModelConfig) -> Split | None:
    """The formats a quantized checkpoint's ops store, grouped (`split`: main first); None for a plain model."""
    got = model_formats(model)
    return None if got is None else split(got[1])


def for_model(
    model: ModelConfig, precision: Precision | ResolvedPrecision | None
) -> tuple[Precision | ResolvedPrecision, str | None]:
    """(`precision` with its weights, activations and KV made concrete, the main format when each op keeps the
    checkpoint's own format, else None: every weight at the precision's). Weights None (`leaves_weights`): a
    quantized checkpoint's main format, each op at its own (`own_formats`); fp16 for a plain model, as before there
    was a choice. Activations None: the checkpoint's (`model_activations`); KV None: its KV-cache format
    (`model_kv`). None: fp16 everywhere (Precision())."""
    precision = with_model_own(precision if precision is not None else Precision(), model)
    if not leaves_weights(precision):
        return precision, None
    groups = model_split(model)
    return with_weights(precision, "fp16" if groups is None else groups.main), None if groups is None else groups.main


def model_kv(model: ModelConfig | None, kv: object = None) -> object:
    """The KV-cache format `kv` stands for with `model`: `kv` as given, or when None (no `--kv`) the format the
    checkpoint's quantization_config states (ModelConfig.kv_format: ModelOpt's kv_cache_quant_algo,
    compressed-tensors' kv_cache_scheme), else fp16, the cache every command assumed before there was a choice."""
    if kv is not None:
        return kv
    got = getattr(model, "kv_format", None)
    return "fp16" if got is None else got


class CheckpointFormat(str):
    """A format name the checkpoint's quantization_config stated, not the caller (`model_activations` without
    `--activations`). It compares, hashes, prints and resolves as the plain name; the per-op costing reads it as
    the checkpoint's (`op_activations`): the layers the checkpoint leaves unquantized, and attention, take their
    own activations, as a serving engine runs them. `source`: (the file, the quantization_config field) that state
    it (ModelConfig.activation_source), which a refusal of these activations names (`checkpoint_refusal`)."""

    source: tuple[str | None, str] | None = None

    @classmethod
    def of(cls, name: str, source: tuple[str | None, str] | None) -> CheckpointFormat:
        got = cls(name)
        got.source = source
        return got


# checkpoint_dtype's names (hwsim.workload.quant): the weights of a module a checkpoint leaves unquantized (its
# ignore / exclude / modules_to_not_convert list, lm_head by default, a router its modelling code builds unquantized),
# each op's format from own_formats
_UNQUANTIZED = frozenset({"fp16", "bf16", "fp32"})
_ACTS_16 = "fp16"  # the model dtype's activations (bf16 costs the same 16 bits: shown_labels)


def op_activations(
    trace: TraceLike, own: list[str] | None, precision: Precision | ResolvedPrecision
) -> list[object] | None:
    """The activation format of each op of `trace` where the precision's activations are the checkpoint's (a
    CheckpointFormat), else None (every op at the precision's, an explicit `--activations` as it always was).
    `own`: the checkpoint's own weight format of each op (own_formats), whatever weights the ops are costed at (an
    explicit `--weights` changes the weights, not where the checkpoint quantizes activations); None: a table
    without its checkpoint, every linear taken as quantized. With the checkpoint's, as vLLM runs a quantized
    checkpoint, the activations are quantized at a quantized linear layer's input and nowhere else:
    - a linear whose weights the checkpoint quantizes takes the checkpoint's format;
    - a linear whose weights it leaves unquantized (a 16-bit float format: its skip list, through the same per-op
      weight formats) runs UnquantizedLinearMethod, 16-bit activations;
    - attention (qk, av, a fused kernel) is no linear layer: its query and output in the model dtype, except
      with an 8-bit float KV cache, where vLLM's FlashAttention-3 backend quantizes the query to FP8 too (vLLM
      docs, Quantized KV Cache: "queries are quantized to FP8 in addition to keys and values"): fp8_e4m3;
    - every other op (norms, rotary, the MLP's activation, residual adds, the embedding lookup) reads and writes
      the model dtype's 16-bit tensors: vLLM's RMSNorm / SiluAndMul / rotary run on the bf16 residual stream and
      GEMM outputs (a quantized linear's apply quantizes its own input)."""
    if not acts_per_op(precision):
        return None
    acts = precision.activations
    ops = ops_frame(trace)
    kv = resolve_precision(Precision(kv=precision.kv)).kv
    attention_acts = "fp8_e4m3" if kv.is_float and kv.element_bits == 8 else _ACTS_16
    kind = ops["kind"].astype(str).to_numpy()
    out = np.full(len(kind), _ACTS_16, dtype=object)
    quantized = kind == "linear"
    if own is not None:
        quantized &= ~np.isin(np.asarray(own, dtype=object), list(_UNQUANTIZED))
    out[quantized] = acts
    out[kind == "attention"] = attention_acts
    return out.tolist()


def acts_per_op(precision: object) -> bool:
    """Whether `precision`'s activations go op by op (the checkpoint's: `op_activations`), so costing it does even
    where every op's weights are the caller's."""
    return isinstance(getattr(precision, "activations", None), CheckpointFormat)


def precision_groups(
    groups: Split, formats: list[str], acts: list[object] | None, precision: Precision | ResolvedPrecision
) -> list[tuple[str, Precision, np.ndarray]]:
    """(weight format, precision, row mask) of each group of ops costed apart from the main one (every op at
    `groups.main` and the precision's activations): a weight format of `groups.others`, and where `acts`
    (op_activations) differs from the precision's, each (weights, activations) pair it makes."""
    if acts is None:
        return [(f, with_weights(precision, f), m) for f, m in groups.others]
    fmts, act = np.asarray(formats, dtype=object), np.asarray(acts, dtype=object)
    out = []
    for fmt in [groups.main, *(f for f, _ in groups.others)]:
        at = fmts == fmt
        for a in dict.fromkeys(act[at].tolist()):
            if fmt == groups.main and a == precision.activations:
                continue
            mask = at & (act == a)
            out.append((fmt, Precision(weights=fmt, activations=a, kv=precision.kv), mask))
    return out


def model_activations(model: ModelConfig | None, activations: object = None) -> object:
    """The activation format `activations` stands for with `model`, as `model_kv` is the KV cache's: `activations`
    as given, or when None (no `--activations`) the format the checkpoint's quantization_config states for its
    linear layers' inputs (ModelConfig.activation_format: nvfp4 for a ModelOpt NVFP4 W4A4 export, fp8_e4m3 for an
    FP8 W8A8 one), as a CheckpointFormat, else fp16, the activations every command assumed before there was a
    choice. The checkpoint's format costs its quantized linears; per-op costing gives the modules it leaves
    unquantized and attention their own (`op_activations`); a given format costs every op, as `--activations F`."""
    if activations is not None:
        return activations
    got = getattr(model, "activation_format", None)
    return "fp16" if got is None else CheckpointFormat.of(got, getattr(model, "activation_source", None))


def with_model_own(
    precision: Precision | ResolvedPrecision, model: ModelConfig | None
) -> Precision | ResolvedPrecision:
    """`precision` with activations or a KV format of None made concrete (`model_activations`, `model_kv`); itself
    otherwise (a ResolvedPrecision's are always concrete)."""
    if isinstance(precision, Precision) and (precision.kv is None or precision.activations is None):
        return replace(
            precision, activations=model_activations(model, precision.activations), kv=model_kv(model, precision.kv)
        )
    return precision


def weights_label(model: ModelConfig, precision: Precision | ResolvedPrecision | None) -> str:
    """The weight formats `precision` costs `model` at, as a command reports them: every format its ops store,
    main first ('int4_g128+fp16': a GPTQ checkpoint as it ships), else the one format of every weight."""
    concrete, main = for_model(model, precision)
    groups = model_split(model)
    if main is not None and groups is not None:
        return groups.label()
    return resolve_precision(concrete).weights.name


def kv_label(model: ModelConfig, precision: Precision | ResolvedPrecision | None) -> str:
    """The KV-cache format `precision` costs `model`'s cache at, as a command reports it beside `weights_label`:
    the precision's own, or for a KV format of None the checkpoint's (`model_kv`: 'fp8_e4m3' for a ModelOpt
    export with kv_cache_quant_algo FP8), else fp16."""
    return resolve_precision(for_model(model, precision)[0]).kv.name


def activations_label(model: ModelConfig, precision: Precision | ResolvedPrecision | None) -> str:
    """The activation format `precision` costs `model` at, as a command reports it beside `kv_label`: the
    precision's own, or for activations None the checkpoint's (`model_activations`: 'nvfp4' for a ModelOpt NVFP4
    W4A4 export), else fp16."""
    return resolve_precision(for_model(model, precision)[0]).activations.name


def shown_labels(model: ModelConfig, precision: Precision | ResolvedPrecision | None) -> tuple[str, str, str]:
    """(weights, activations, KV cache) as a command's text prints them: `weights_label`, `activations_label` and
    `kv_label`, except that what is left to a plain bf16 checkpoint (weights without --weights, activations without
    --activations and the cache without --kv where the checkpoint states no format), which hwsim costs at fp16,
    prints as the checkpoint's bf16 (ModelConfig.dtype): the same 16 bits an element, so the same bytes; only the
    name was fp16's. --json keeps the costed formats under weights / activations / kv and gives the checkpoint's
    dtype apart."""
    weights, acts, kv = weights_label(model, precision), activations_label(model, precision), kv_label(model, precision)
    if getattr(model, "dtype", "fp16") != "bf16" or not isinstance(precision, Precision):
        return weights, acts, kv
    if precision.weights is None and model.weight_formats is None and weights == "fp16":
        weights = "bf16"
    if precision.activations is None and model.activation_format is None and acts == "fp16":
        acts = "bf16"
    if precision.kv is None and model.kv_format is None and kv == "fp16":
        kv = "bf16"
    return weights, acts, kv


def align(formats: list[str], source: TraceLike, ran: TraceLike) -> list[str]:
    """`formats` (one per op of `source`, a Trace or ops table) for the ops of `ran`, the same trace as a
    machine runs it (hwsim.engine.attention.as_run re-expresses only weight-free attention rows): by op
    name, rows `source` does not have at the main format."""
    src, dst = ops_frame(source), ops_frame(ran)
    listed = list(formats) if isinstance(formats, Iterable) and not isinstance(formats, str) else None
    if listed is None or len(listed) != len(src):
        got = f"{len(listed)}" if listed is not None else repr(formats)
        raise HwsimError(f"expected one weight format per op ({len(src)} ops), got {got:.60}", field="weight_formats")
    formats = listed
    if len(src) == len(dst) and src["name"].to_numpy().tolist() == dst["name"].to_numpy().tolist():
        return list(formats)
    by_name = dict(zip(src["name"].astype(str), formats))
    main = split(formats).main
    return [by_name.get(str(n), main) for n in dst["name"]]


def as_run_formats(arch: Accelerator, trace: TraceLike, formats: list[str]) -> tuple[TraceLike, list[str]]:
    """(`trace` as `arch` runs it, the weight format of each of its ops)."""
    ran = as_run(arch, trace)
    return ran, align(formats, trace, ran)


def with_weights(precision: Precision | ResolvedPrecision | None, fmt: str) -> Precision:
    """`precision` (a Precision, a ResolvedPrecision or None: fp16) with its weights replaced by `fmt`."""
    precision = precision or Precision()
    return Precision(weights=fmt, activations=precision.activations, kv=precision.kv)


def part(trace: TraceLike, mask: np.ndarray) -> TraceLike:
    """The ops of `trace` (a Trace or its ops table) selected by `mask`, as the same kind of object."""
    sub = ops_frame(trace)[mask].reset_index(drop=True)
    return replace(trace, ops=sub) if hasattr(trace, "ops") else sub


def try_format(
    arch: Accelerator,
    fmt: str,
    main: str,
    names: Iterable[object] | Callable[[], Iterable[object]],
    cost: Callable[..., T],
    *args: Any,
    **kwargs: Any,
) -> T | None:
    """`cost(*args, **kwargs)` at `fmt`, or None (with a warning naming the ops: `names`, or what it returns, asked
    only then) when the design cannot run it."""
    try:
        return cost(*args, **kwargs)
    except HwsimError as exc:
        shown = ", ".join(list(map(str, names() if callable(names) else names))[:3])
        warnings.warn(
            HwsimWarning(
                f"{arch.name} cannot run {fmt} weights ({shown}): costed at {main} "
                f"instead ({exc.detail}); one weight format for the whole model "
                "costs every op at it"
            ),
            stacklevel=3,
        )
        return None


def checkpoint_refusal(exc: HwsimError, activations: object) -> HwsimError:
    """`exc` as the user should read it where a design refuses activations the checkpoint chose (`activations` a
    CheckpointFormat): naming the checkpoint file and the quantization_config field that state them, not the
    precision's activations (a CLI would name --activations, which the user never gave), the design's file at the
    end; `exc` itself otherwise."""
    source = getattr(activations, "source", None)
    if exc.field != "precision.activations" or not isinstance(activations, CheckpointFormat) or source is None:
        return exc
    on = f" (the checkpoint's activations, on {exc.file})" if exc.file else " (the checkpoint's activations)"
    return HwsimError(exc.detail + on, file=source[0], field=source[1])


def main_format_cost(
    fmt: str, names: Callable[[], Iterable[object]], cost: Callable[..., T], *args: Any, **kwargs: Any
) -> T:
    """`cost(*args, **kwargs)` at the checkpoint's main format `fmt`. A refusal of the weights names the
    checkpoint's ops that store `fmt`, not the precision's weights: the checkpoint gave that format, the caller
    did not (a CLI would otherwise name an option the user never passed). `names` lists them, asked only then."""
    try:
        return cost(*args, **kwargs)
    except HwsimError as exc:
        if exc.field != "precision.weights":
            refused = checkpoint_refusal(exc, getattr(args[-1] if args else None, "activations", None))
            if refused is exc:
                raise
            raise refused from None
        listed = list(map(str, names()))
        shown = ", ".join(listed[:3]) + (f" and {len(listed) - 3} more" if len(listed) > 3 else "")
        raise HwsimError(exc.detail, file=exc.file, field=f"the checkpoint's {fmt} weights ({shown})") from None


def weighted_names(names: np.ndarray, linear: np.ndarray | bool, at: np.ndarray) -> list[object]:
    """The `names` of the ops `at` a format: its linear layers (the tensors a checkpoint quantizes), else all."""
    pick = at & linear
    return list(names[pick if pick.any() else at])


def _named_at(ops: pd.DataFrame, formats: list[str], fmt: str) -> pd.Series:
    """The names of the ops of `ops` stored in `fmt`."""
    return ops.loc[np.asarray(formats, dtype=object) == fmt, "name"]


def _frame_names(ops: pd.DataFrame, formats: list[str], fmt: str) -> list[object]:
    linear = ops["kind"].to_numpy() == "linear" if "kind" in ops else True
    return weighted_names(ops["name"].to_numpy(), linear, np.asarray(formats, dtype=object) == fmt)


def weights_name(precision: Precision | ResolvedPrecision) -> str:
    """The name of `precision`'s one weight format (a name as given, a resolved format's own name)."""
    w = precision.weights
    return w if isinstance(w, str) else resolve_precision(precision).weights.name


def _caller_weights(
    trace: TraceLike, precision: Precision | ResolvedPrecision, model: ModelConfig | None
) -> tuple[list[str], list[str] | None]:
    """(every op's weight format: the precision's, the caller's; the checkpoint's own format of each op, which
    decides its activations: own_formats of `model`, else of the trace's)."""
    return [weights_name(precision)] * len(ops_frame(trace)), own_formats(trace, model)


def caller_cost(cost: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`cost(*args, **kwargs)` at the caller's weights (every op at one format): a refusal of the activations the
    checkpoint chose names its field (`checkpoint_refusal`), any other refusal as it is."""
    try:
        return cost(*args, **kwargs)
    except HwsimError as exc:
        refused = checkpoint_refusal(exc, getattr(args[-1] if args else None, "activations", None))
        if refused is exc:
            raise
        raise refused from None


def _costs_by_format(
    arch: Accelerator,
    trace: TraceLike,
    precision: Precision | ResolvedPrecision,
    formats: list[str] | None,
    engine: Callable[..., CostTable],
    main: str | None = None,
    quoted: tuple[pd.DataFrame, list[str]] | None = None,
    model: ModelConfig | None = None,
) -> tuple[list[str], Split, CostTable, list[tuple[np.ndarray, CostTable]]]:
    """The engine's costs of `trace` (as `arch` runs it) with op i's weights at `formats[i]` (None: every op at the
    precision's, the caller's) and its activations per op where they are the checkpoint's (`op_activations`): (the
    formats of the ops as run, their groups, every op at the main format and the precision's activations, (row
    mask, those rows' costs) of each other (weights, activations) pair the design runs). `main`: the main format
    (default: the one most ops here use); `quoted`: the ops (and their formats) a refusal names (default: these);
    `model`: the checkpoint of a bare ops table."""
    if formats is not None and len(formats) != len(ops_frame(trace)):
        raise ValueError("one weight format per op")
    if formats is None:
        trace = as_run(arch, trace)
        costed, own = _caller_weights(trace, precision, model)
        groups = Split(costed[0], ())
        base = caller_cost(engine, arch, trace, precision)
    else:
        trace, costed = as_run_formats(arch, trace, formats)
        own = costed
        groups = split(costed, main)
        ops = ops_frame(trace)
        q_ops, q_formats = quoted if quoted is not None else (ops, costed)
        base = main_format_cost(
            groups.main,
            lambda: _frame_names(q_ops, q_formats, groups.main),
            engine,
            arch,
            trace,
            with_weights(precision, groups.main),
        )
    ops = ops_frame(trace)
    parts = []
    for fmt, prec, mask in precision_groups(groups, costed, op_activations(trace, own, precision), precision):
        sub = part(trace, mask)
        names = (
            ops.loc[mask, "name"]
            if quoted is None or formats is None
            else functools.partial(_named_at, quoted[0], quoted[1], fmt)
        )
        got = try_format(arch, fmt, groups.main, names, engine, arch, sub, prec)
        if got is not None:
            parts.append((mask, got))
    return costed, groups, base, parts


def evaluate_per_op(
    arch: Accelerator,
    trace: TraceLike,
    precision: Precision,
    formats: list[str] | None,
    engine: Callable[..., CostTable] = evaluate,
    model: ModelConfig | None = None,
) -> CostTable:
    """`formats[i]` is the weight format of op i (None: every op at the precision's weights, as `--weights` gives
    them); KV from `precision`, activations from it too, per op where they are the checkpoint's (`op_activations`;
    `model`: the checkpoint of a bare ops table). Without either it is `engine(arch, trace, precision)` itself."""
    if formats is None and not acts_per_op(precision):
        return engine(arch, trace, precision)
    got, groups, base, parts = _costs_by_format(arch, trace, precision, formats, engine, model=model)
    if not parts:
        return base
    frame = base.ops.copy()
    for mask, cost in parts:
        for col in cost.ops.columns:
            frame.loc[mask, col] = cost.ops[col].to_numpy()
    import pandas as pd

    if formats is not None:  # the caller's weights (one format) add no column
        frame.insert(2, "weights", np.asarray(got, dtype=object))
    additive = [k for k in base.totals if k in frame.columns]
    totals = {**base.totals, **{k: float(pd.to_numeric(frame[k]).sum()) for k in additive}}
    return CostTable(arch=base.arch, ops=frame, totals=totals, extra_keys=base.extra_keys)


def per_op_columns(
    arch: Accelerator,
    trace: TraceLike,
    precision: Precision | ResolvedPrecision,
    formats: list[str] | None,
    columns: Iterable[str],
    model: ModelConfig | None = None,
) -> dict[str, np.ndarray]:
    """`columns` of evaluate_per_op's ops table (the analytical engine's), without building a table: each row
    costed at `formats[i]` (None: the precision's weights; a serving step's rows, hwsim.serve.stepcost). With the
    checkpoint `model`, its main format is the main one (`model_split`) and a refusal names its ops, as simulate's
    (rows of many steps would otherwise name one op thrice, or an lm_head as the main format of a table of lm_head
    rows); it also decides each row's activations where they are its own (`op_activations`)."""
    if formats is None and not acts_per_op(precision):
        cost = evaluate(arch, trace, precision)
        return {c: cost.column(c) for c in columns}
    quoted = model_formats(model) if model is not None and formats is not None else None
    main = split(quoted[1]).main if quoted is not None else None
    _, _, base, parts = _costs_by_format(arch, trace, precision, formats, evaluate, main, quoted, model)
    out = {c: base.column(c).copy() for c in columns}
    for mask, got in parts:
        for c in out:
            out[c][mask] = got.column(c)
    return out


def sweep_cost_per_op(
    arch: Accelerator,
    grid: Mapping[str, object],
    trace: TraceLike,
    precision: Precision,
    formats: list[str] | None,
    *,
    product: bool = True,
    model: ModelConfig | None = None,
) -> pd.DataFrame:
    """hwsim.engine.sweep_cost with `formats[i]` the weight format of op i (None: every op at the precision's
    weights) and the activations per op where they are the checkpoint's (`op_activations`; `model`: the checkpoint
    of a bare ops table): the whole trace at the main format and the precision's activations, plus, for each other
    (weights, activations) pair, (its ops at that pair − the same ops at the main one) on every summed column; area
    and the family's point totals stay those of the main format."""
    from hwsim.engine.sweep import sweep_cost

    if formats is None:
        if not acts_per_op(precision):
            return sweep_cost(arch, grid, trace, precision, product=product)
        trace = as_run(arch, trace)
        costed, own = _caller_weights(trace, precision, model)
        groups = Split(costed[0], ())
        out = caller_cost(sweep_cost, arch, grid, trace, precision, product=product)
    else:
        trace, costed = as_run_formats(arch, trace, formats)
        own = costed
        groups = split(costed)
        ops = ops_frame(trace)
        out = main_format_cost(
            groups.main,
            lambda: _frame_names(ops, costed, groups.main),
            sweep_cost,
            arch,
            grid,
            trace,
            with_weights(precision, groups.main),
            product=product,
        )
    ops = ops_frame(trace)
    for fmt, prec, mask in precision_groups(groups, costed, op_activations(trace, own, precision), precision):
        sub = part(trace, mask)
        got = try_format(
            arch, fmt, groups.main, ops.loc[mask, "name"], sweep_cost, arch, grid, sub, prec, product=product
        )
        if got is None:
            continue
        at_main = sweep_cost(arch, grid, sub, with_weights(precision, groups.main), product=product)
        for col in summed_columns(out):
            out[col] = out[col].to_numpy() + got[col].to_numpy() - at_main[col].to_numpy()
    return out


def summed_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of a sweep_cost table that are sums over ops (cycles, seconds, energy, bytes per level)."""
    from hwsim.engine.cost import TOTAL_KEYS

    return [c for c in frame.columns if (c in TOTAL_KEYS and c != "area_mm2") or c.startswith(("bytes_", "energy_"))]
