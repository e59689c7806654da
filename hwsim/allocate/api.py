"""`allocate()`: arch × model × candidate formats → an optimal per-unit format assignment."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hwsim.allocate.costs import hardware_costs
from hwsim.allocate.errors import accuracy_costs, load_sensitivity
from hwsim.allocate.problem import Problem
from hwsim.allocate.solve import Solution, solve
from hwsim.allocate.tensors import DEFAULT_SAMPLE_ELEMS, DEFAULT_TOKENS, is_minilm, minilm_model, tensor_source
from hwsim.allocate.units import kv_units, weight_units
from hwsim.engine.per_op import own_formats
from hwsim.errors import HwsimError
from hwsim.fileio import input_path

if TYPE_CHECKING:
    from hwsim.accuracy.methods import Method
    from hwsim.allocate.units import Unit
    from hwsim.core.spec import Accelerator
    from hwsim.workload.config import ModelConfig
    from hwsim.workload.trace import Trace


def _names(formats: str | Iterable[object], field: str) -> tuple[str, ...]:
    if isinstance(formats, str):
        formats = formats.split(",") if formats.strip() else []
    given = [str(f).strip() for f in formats]
    if "" in given:  # `a,,b` or a trailing comma: a name was left out, not meant away (it was dropped silently)
        raise HwsimError(f"an empty format name in {','.join(given)!r}: write one name between each comma", field=field)
    names = tuple(dict.fromkeys(given))
    if not names:
        raise HwsimError("give at least one candidate format", field=field)
    from hwsim.formats import get_format

    for n in names:
        try:
            get_format(n)
        except HwsimError as exc:
            raise HwsimError(exc.detail, field=field) from None
    return names


def resolve_trace(
    model: Trace | ModelConfig | str | None,
    phase: str = "decode",
    *,
    batch: int = 1,
    seq: int | None = None,
    context: int | None = None,
    checkpoint: str | Path | None = None,
) -> Trace:
    """A Trace from a Trace, a ModelConfig, a preset/path — or MiniLM's own config when the
    checkpoint is MiniLM and no model is given. MiniLM has no LM head: its lm_head row is dropped."""
    from hwsim.workload import load_model, trace
    from hwsim.workload.trace import Trace

    if isinstance(model, Trace):
        return model
    if checkpoint is not None:
        input_path(checkpoint, field="checkpoint")
    minilm = is_minilm(checkpoint)
    if checkpoint is not None and not minilm:
        from hwsim.accuracy.checkpoint import list_tensors

        # headers only: a broken checkpoint is refused before the trace is built, so the trace's warnings
        # (a context beyond max_position_embeddings) never precede the one-line error of a run that fails
        list_tensors(checkpoint)
    if model is None:
        if minilm:
            model = minilm_model()
        elif checkpoint is not None and (Path(checkpoint) / "config.json").is_file():
            model = load_model(checkpoint)  # the checkpoint folder's own config
        else:
            raise HwsimError(
                "give a model (or `checkpoint` minilm, or a checkpoint folder with config.json)", field="model"
            )
    elif isinstance(model, str):
        model = load_model(model)
    t = trace(model, phase, batch=batch, seq=seq, context=context)
    if model.model_type == "bert":
        t = dataclasses.replace(t, ops=t.ops[t.ops["op"] != "lm_head"].reset_index(drop=True))
    return t


def stored_choice(
    trace: Trace, units: list[Unit], cols: tuple[str, ...], allowed: np.ndarray, kv: object
) -> tuple[tuple[int, ...] | None, str]:
    """(the format index of each unit as a quantized checkpoint stores it, or None; the checkpoint's formats
    that are not candidates of their units, '' when none). KV units count as stored at the base `kv` format."""
    own = own_formats(trace)
    if own is None:
        return None, ""
    choice, missing = [], []
    for i, u in enumerate(units):
        fmts = {str(kv) if u.kind == "kv" else own[r] for r in u.rows} or {str(kv)}
        fmt = next(iter(fmts)) if len(fmts) == 1 else None
        if fmt is None or fmt not in cols or not allowed[i, cols.index(fmt)]:
            missing += sorted(fmts)
            continue
        choice.append(cols.index(fmt))
    return (None, ",".join(dict.fromkeys(missing))) if missing else (tuple(choice), "")


def build_problem(
    arch: Accelerator | str,
    trace: Trace,
    formats: str | Iterable[object],
    *,
    granularity: str = "op",
    groups: Mapping[str, Iterable[str]] | Iterable[str] | None = None,
    kv_formats: str | Iterable[object] | None = None,
    checkpoint: str | Path | None = None,
    proxy: str | None = None,
    sensitivity: dict | str | os.PathLike[str] | None = None,
    activations: object = None,
    kv: object = None,
    fixed_weights: str | None = None,
    seed: int = 0,
    method: Method | str | None = None,
    sample_elems: int = DEFAULT_SAMPLE_ELEMS,
    tokens: int = DEFAULT_TOKENS,
    text: str | Path | None = None,
    calibration: str | Path | None = None,
    max_tokens: int | None = None,
    window: int | None = None,
) -> Problem:
    """The units × formats Problem: hardware costs from `arch.cost`, accuracy costs from tensors.
    `text` / `calibration` (files) run a decoder checkpoint folder end to end (`measured`: KL per unit and
    format on `text`; `hessian`, `output`: real inputs from `calibration`, else `text`).
    `fixed_weights` None: the weights outside the units (embeddings, lm_head) as a quantized checkpoint stores
    them, else fp16; the checkpoint's own assignment is `Problem.stored` when its formats are all candidates.
    `activations` / `kv` None: the checkpoint's own activation / KV-cache format, else fp16
    (hwsim.engine.per_op.model_activations, model_kv)."""
    from hwsim.engine.per_op import model_activations, model_kv

    own = getattr(trace, "model", None)
    activations, kv = model_activations(own, activations), model_kv(own, kv)
    if isinstance(arch, str):
        from hwsim.arch import load_arch

        arch = load_arch(arch)
    w_names = _names(formats, "formats")
    kv_names = _names(kv_formats, "kv_formats") if isinstance(kv_formats, str) or kv_formats else ()  # '': refused
    units = weight_units(trace, granularity, groups) + (kv_units(trace) if kv_names else [])
    cols = tuple(dict.fromkeys(w_names + kv_names))
    allowed = np.array([[c in (w_names if u.kind == "weights" else kv_names) for c in cols] for u in units])
    costs, fixed = hardware_costs(
        arch, trace, units, cols, allowed, activations=activations, kv=kv, fixed_weights=fixed_weights
    )
    if isinstance(sensitivity, (str, os.PathLike)):  # a file to read (bytes paths were never readable: Path(bytes))
        sensitivity = load_sensitivity(sensitivity)
    if sensitivity is not None:
        proxy = proxy or "table"
    source = tensor_source(
        checkpoint,
        seed=seed,
        sample_elems=sample_elems,
        tokens=tokens,
        text=text,
        calibration=calibration,
        max_tokens=max_tokens,
        window=window,
    )
    if proxy is None:  # measured when the model runs end to end here (MiniLM, a decoder with text), else output
        proxy = "measured" if hasattr(source, "loss") or getattr(source, "can_measure", False) else "output"
    costs["error"] = accuracy_costs(
        trace, units, cols, allowed, source, proxy=proxy, sensitivity=sensitivity, seed=seed, method=method
    )
    stored = stored_choice(trace, units, cols, allowed, kv)[0] if fixed_weights is None else None
    return Problem(
        units=tuple(u.name for u in units),
        formats=cols,
        allowed=allowed,
        costs=costs,
        elems=np.array([u.params for u in units]),
        fixed=fixed,
        members=tuple(u.ops for u in units),
        stored=stored,
    )


def allocate(
    arch: Accelerator | str,
    model: Trace | ModelConfig | str | None,
    formats: str | Iterable[object],
    objective: str = "error",
    budgets: dict | None = None,
    *,
    phase: str = "decode",
    batch: int = 1,
    seq: int | None = None,
    context: int | None = None,
    **options: Any,
) -> Solution:
    """Choose one format per allocation unit, minimising `objective` subject to `budgets`
    ({"seconds" | "energy_j" | "memory_bytes" | "avg_bits" | "error": max total}); options as in
    `build_problem`. Raises InfeasibleBudget with the tightest feasible values."""
    t = resolve_trace(model, phase, batch=batch, seq=seq, context=context, checkpoint=options.get("checkpoint"))
    return solve(build_problem(arch, t, formats, **options), objective, budgets)
