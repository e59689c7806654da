"""The study YAML: what to sweep, on what, at which precisions, judged how. See docs/studies.md.

`load_study(path)` validates the whole file up front (presets, models, formats, key paths) so a
typo fails in a second with `file: key.path: message`, not an hour into a sweep.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path


from hwsim.errors import HwsimError
from hwsim.fileio import parse_text
from hwsim.pareto.objectives import Objective, parse_objectives
from hwsim.study.params import Param, parse_param, parse_value
from hwsim.study.serving import ServingWorkload, serving_workloads
from hwsim.study.validate import At
from hwsim.units import parse_quantity

TOP_KEYS = (
    "name",
    "description",
    "architectures",
    "workloads",
    "precisions",
    "accuracy",
    "constraints",
    "objectives",
    "sampler",
    "outputs",
    "recheck",
)
SAMPLERS = ("grid", "random", "lhs")
OUTPUT_FORMATS = ("parquet", "csv")
PHASES = ("prefill", "decode")
# op subsets a workload can restrict the costing to (papers often report linear layers only)
OP_SETS = ("all", "linear", "attention", "linear+attention")
# accuracy sources: `synthetic` is an alias of hwsim.accuracy's llm-weights; `checkpoint` needs `path`
ACCURACY_SOURCES = (
    "none",
    "synthetic",
    "checkpoint",
    "minilm",
    "model",
    "gaussian",
    "student-t",
    "llm-weights",
    "llm-activations",
)
# sources that run a model end to end: they measure methods, activations and KV (the others: weights only)
END_TO_END_SOURCES = ("minilm", "model")
DEFAULT_OBJECTIVES = "seconds:min,energy_j:min"
# step: one prefill/decode step costed by the engine; serving: a request stream replayed (hwsim.study.serving)
WORKLOAD_KINDS = ("step", "serving")
DEFAULT_CHUNK = 4096


@dataclass(frozen=True)
class Design:
    """One `architectures[i]` entry: a preset, fixed overrides and swept parameters."""

    index: int
    name: str
    preset: str
    overrides: tuple[tuple[str, object], ...] = ()
    params: tuple[Param, ...] = ()
    workloads: tuple[int, ...] = ()  # indices into Study.workloads this design runs
    precisions: tuple[int, ...] = ()  # indices into Study.precisions

    def override_columns(self) -> dict[str, object]:
        """Fixed overrides as table columns (SI numbers, or names)."""
        return {k: parse_value(At(v, "")) for k, v in self.overrides}


@dataclass(frozen=True)
class Workload:
    model: str
    phase: str
    batch: int = 1
    seq: int = 1  # new tokens per sequence (prefill length; 1 for decode)
    context: int = 0  # tokens already in the KV cache
    ops: str = "all"  # op kinds costed: all | linear | attention | linear+attention

    kind = "step"

    def columns(self) -> dict[str, object]:
        """The workload's columns in a results table."""
        return {k: getattr(self, k) for k in ("model", "phase", "batch", "seq", "context", "ops")}


AnyWorkload = Workload | ServingWorkload

MODEL_WEIGHTS = (
    "model"  # weights (and `activations`, `kv`) as the checkpoint states them (quantization_config), else fp16
)


@dataclass(frozen=True)
class PrecisionChoice:
    weights: object = MODEL_WEIGHTS
    activations: object = MODEL_WEIGHTS  # the checkpoint's (hwsim.engine.per_op.model_activations), else fp16
    kv: object = MODEL_WEIGHTS  # the checkpoint's KV-cache format (hwsim.engine.per_op.model_kv), else fp16
    method: str = "rtn"  # quantization method (hwsim.accuracy.methods): changes accuracy, not cost
    # set when `weights: model` was resolved to a checkpoint's main format: its ops keep their own formats
    per_op: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Accuracy:
    source: str = "none"
    path: str | None = None
    seed: int = 0
    text: str | None = None  # source model: the evaluation text file
    calibration: str | None = None  # source model: text a method is fitted on (default: the evaluation text)
    max_tokens: int | None = None

    @property
    def compare_source(self) -> str | None:
        """The source name hwsim.accuracy.compare understands (None: no accuracy columns)."""
        return {"none": None, "synthetic": "llm-weights", "checkpoint": self.path}.get(self.source, self.source)

    @property
    def label(self) -> str:
        """What the acc_* columns measure, written beside them (acc_source)."""
        if self.source == "minilm":
            return "minilm end to end: sentence-embedding cosine vs fp32"
        if self.source == "model":
            return f"{self.path} end to end: perplexity and KL vs fp on {self.text}"
        what = (
            "real weights of " + str(self.path)
            if self.source == "checkpoint"
            else f"synthetic {self.compare_source} tensors"
        )
        return f"{what}: weight quantization error only (a proxy, not model accuracy)"


@dataclass(frozen=True)
class Constraint:
    column: str
    min: float | None = None
    max: float | None = None
    true: bool = False  # a boolean column that must hold (e.g. fits_memory: true)


@dataclass(frozen=True)
class Sampler:
    kind: str = "grid"
    samples: int | None = None
    seed: int = 0

    @property
    def draws(self) -> int:
        """Points per design of a random or Latin-hypercube sampler (the schema requires `samples`)."""
        assert self.samples is not None, f"the {self.kind} sampler needs samples"
        return int(self.samples)


@dataclass(frozen=True)
class Recheck:
    """Re-evaluate `sample` seeded result rows with the cycle-level engine after the sweep."""

    sample: int
    seed: int = 0


@dataclass(frozen=True)
class Outputs:
    dir: str
    dir_error: HwsimError | None = field(default=None, compare=False)  # raised when `dir` (results/NAME) is used
    format: str = "parquet"
    plot: str | None = "front.png"
    chunk_size: int = DEFAULT_CHUNK
    color_by: str | None = None


@dataclass(frozen=True)
class Study:
    name: str
    file: str
    designs: tuple[Design, ...]
    workloads: tuple[AnyWorkload, ...]
    precisions: tuple[PrecisionChoice, ...]
    objectives: tuple[Objective, ...]
    outputs: Outputs
    sampler: Sampler = Sampler()
    accuracy: Accuracy = Accuracy()
    constraints: tuple[Constraint, ...] = ()
    description: str = ""
    recheck: Recheck | None = None
    extra: dict = field(default_factory=dict, compare=False)

    def fingerprint(self) -> str:
        """Hash of everything that decides the rows (not where they are written): resume checks it."""
        d = asdict(self)
        d.pop("file"), d.pop("extra"), d.pop("recheck")  # recheck reads the rows, it does not decide them
        d["outputs"] = {"format": self.outputs.format, "chunk_size": self.outputs.chunk_size}
        blob = json.dumps(d, sort_keys=True, default=repr).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


# --- loading -----------------------------------------------------------------------------------


def load_study(path: str | os.PathLike[str], *, check_names: bool = True) -> Study:
    """Parse and validate a study file. `check_names=False` skips preset/model/format look-ups."""
    from hwsim.fileio import read_text

    text_path = os.fspath(path)
    raw = parse_text(read_text(text_path, what="a study"), text_path)
    return parse_study(raw, text_path, check_names=check_names)


def parse_study(raw: object, file: str, *, check_names: bool = True) -> Study:
    top = At(raw, file).mapping(TOP_KEYS, required=("architectures",))
    name = top["name"].str() if "name" in top else Path(file).stem
    sampler = _sampler(top.get("sampler"))
    # each design runs the global workloads and precisions unless it names its own
    arch_entries = top["architectures"].list()
    all_w: dict[AnyWorkload, int] = {}
    all_p: dict[PrecisionChoice, int] = {}
    designs = []
    for i, a in enumerate(arch_entries):
        keys = a.value if isinstance(a.value, dict) else {}
        w_at = a.child("workloads", keys["workloads"]) if "workloads" in keys else top.get("workloads")
        p_at = a.child("precisions", keys["precisions"]) if "precisions" in keys else top.get("precisions")
        if w_at is None:
            raise a.error("no workloads: give a top-level `workloads` list or one in this entry")
        ws = list(dict.fromkeys(w for e in w_at.list() for w in _workloads(e)))
        ps = _precisions(p_at) if p_at is not None else (PrecisionChoice(),)
        d = _design(i, a, sampler.kind)
        designs.append(
            replace(
                d,
                workloads=tuple(all_w.setdefault(w, len(all_w)) for w in ws),
                precisions=tuple(all_p.setdefault(p, len(all_p)) for p in ps),
            )
        )
    workloads, precisions = tuple(all_w), tuple(all_p)
    _check_column_kinds(designs, arch_entries)
    seen: set[str] = set()
    for d, a in zip(designs, top["architectures"].list()):
        if d.name in seen:
            raise a.error(f"design name {d.name!r} is used twice; give each entry a distinct `name`")
        seen.add(d.name)
    objectives = tuple(
        parse_objectives(
            top["objectives"].value if "objectives" in top else DEFAULT_OBJECTIVES, file=file, field="objectives"
        )
    )
    study = Study(
        name=name,
        file=file,
        designs=tuple(designs),
        workloads=workloads,
        precisions=precisions,
        objectives=objectives,
        sampler=sampler,
        outputs=_outputs(top.get("outputs"), name, top.get("name")),
        accuracy=_accuracy(top["accuracy"]) if "accuracy" in top else Accuracy(),
        constraints=_constraints(top["constraints"]) if "constraints" in top else (),
        description=top["description"].str() if "description" in top else "",
        recheck=_recheck(top["recheck"]) if "recheck" in top else None,
    )
    if study.recheck is not None and all(w.kind == "serving" for w in workloads):
        raise top["recheck"].error(
            "re-checks cost step workloads with the cycle engine; this study has serving "
            "workloads only (drop `recheck`)"
        )
    if "objectives" not in top and all(w.kind == "serving" for w in workloads):
        raise HwsimError(
            f"missing: the default objectives ({DEFAULT_OBJECTIVES.replace(',', ', ')}) need the `seconds` of step "
            "workloads, and this study serves request streams only: give `objectives`, e.g. "
            "[tpot_p99_s:min, energy_per_token_j:min] (docs/studies.md, Serving workloads)",
            file=file,
            field="objectives",
        )
    if check_names:
        from hwsim.study.checks import check_names as _check

        _check(study, top)
    return study


def _check_column_kinds(designs: list[Design], entries: list[At]) -> None:
    """A results column holds numbers or text, not both (the parts of a sweep would not merge, after every point
    ran): a fixed value is recorded in SI under its path, a list swept with units as written there (its SI
    values beside it), so one design fixing a path that another sweeps with units is refused here."""
    import numpy as np

    seen: dict[str, tuple[bool, At]] = {}
    for d, a in zip(designs, entries):
        cols = {k: (isinstance(v, str), a.child("set", None).child(k, v)) for k, v in d.override_columns().items()}
        for p in d.params:
            probe = np.asarray(p.values if p.values else [p.low])
            for col, arr in p.result_columns(probe).items():
                cols[col] = (np.asarray(arr).dtype.kind in "OUS", a.child("sweep", None).child(p.path, None))
        for col, (text, at) in cols.items():
            first = seen.setdefault(col, (text, at))
            if first[0] != text:
                kinds = ("text", "numbers") if text else ("numbers", "text")
                raise at.error(
                    f"the results column {col!r} would hold {kinds[0]} here and {kinds[1]} from {first[1].path} "
                    "(a fixed value is recorded in SI, a list swept with units as written); write both alike, "
                    "e.g. the fixed value as a one-value sweep with units"
                )


def _sampler(at: At | None) -> Sampler:
    if at is None:
        return Sampler()
    keys = at.mapping(("kind", "samples", "seed"))
    kind = keys["kind"].str(SAMPLERS) if "kind" in keys else "grid"
    samples = keys["samples"].int(minimum=1) if "samples" in keys else None
    if kind != "grid" and samples is None:
        raise at.error(f"sampler kind {kind} needs samples (how many design points per architecture)")
    if kind == "grid" and samples is not None:
        raise keys["samples"].error("the grid sampler takes every combination; samples applies to random/lhs")
    seed = keys["seed"].int(minimum=0) if "seed" in keys else 0
    return Sampler(kind, samples, seed)


def _recheck(at: At) -> Recheck | None:
    if at.value is False:  # `recheck: false` switches it off explicitly
        return None
    keys = at.mapping(("sample", "seed"), required=("sample",))
    seed = keys["seed"].int(minimum=0) if "seed" in keys else 0
    return Recheck(keys["sample"].int(minimum=1), seed)


def _design(i: int, at: At, sampler: str) -> Design:
    keys = at.mapping(("preset", "name", "set", "sweep", "workloads", "precisions"), required=("preset",))
    preset = keys["preset"].str()
    # overrides keep their YAML form for load_arch, which knows each field's unit; parse_value only
    # checks them here (the table records them in SI via override_columns)
    overrides = (
        tuple((k, v.value) for k, v in keys["set"].items() if parse_value(v) is not None) if "set" in keys else ()
    )
    params: tuple[Param, ...] = ()
    if "sweep" in keys:
        items = keys["sweep"].items()
        if not items:
            raise keys["sweep"].error("must not be empty (leave `sweep` out for a single design point)")
        params = tuple(parse_param(k, v, sampler) for k, v in items)
        fixed = {k for k, _ in overrides}
        for p, (_, v) in zip(params, items):
            if p.path in fixed:
                raise v.error("is both fixed under `set` and swept under `sweep`")
    name = keys["name"].str() if "name" in keys else Path(preset).stem
    return Design(i, name, preset, overrides, params)


def _ints(at: At | None, minimum: int) -> list:
    if at is None:
        return [None]
    return [i.int(minimum=minimum) for i in at.list(allow_scalar=True)]


def _workloads(at: At) -> list[AnyWorkload]:
    kind = at.value.get("kind", "step") if isinstance(at.value, dict) else "step"
    if kind not in WORKLOAD_KINDS:
        raise at.child("kind", kind).error(f"must be one of {', '.join(WORKLOAD_KINDS)}, got {kind!r}")
    if kind == "serving":
        return list(serving_workloads(at))
    keys = at.mapping(("kind", "model", "phase", "batch", "seq", "context", "ops"), required=("model", "phase"))
    ops = keys["ops"].str(OP_SETS) if "ops" in keys else "all"
    models = [m.str() for m in keys["model"].list(allow_scalar=True)]
    phases = [p.str(PHASES) for p in keys["phase"].list(allow_scalar=True)]
    if "seq" in keys and "prefill" not in phases:
        raise keys["seq"].error(
            "seq is the prefill length; decode makes one token per sequence: give the cached length as context"
        )
    batches = _ints(keys.get("batch"), 1)
    seqs = _ints(keys.get("seq"), 1)
    contexts = _ints(keys.get("context"), 0)
    from hwsim.workload.trace import DEFAULT_DECODE_CONTEXT, DEFAULT_SEQ

    out: list[AnyWorkload] = []
    for m, ph, b, s, c in itertools.product(models, phases, batches, seqs, contexts):
        # seq is the prefill length; decode always makes one token per sequence. Defaults are the
        # trace's own, written out so that every row records the real shape.
        if ph == "prefill":
            s, c = DEFAULT_SEQ if s is None else s, 0 if c is None else c
        else:
            s, c = 1, DEFAULT_DECODE_CONTEXT if c is None else c
        out.append(Workload(m, ph, 1 if b is None else b, s, c, ops))
    return list(dict.fromkeys(out))


def _precision_values(at: At) -> list:
    out = []
    for item in at.list(allow_scalar=True):
        v = item.value
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise item.error(f"expected a format name or a number of bits, got {v!r}")
        out.append(v)
    return out


def _precisions(at: At) -> tuple[PrecisionChoice, ...]:
    """A mapping of lists (every combination) or a list of such mappings (concatenated)."""
    entries = at.list() if isinstance(at.value, list) else [at]
    out: list[PrecisionChoice] = []
    for e in entries:
        keys = e.mapping(("weights", "activations", "kv", "method"))
        if not keys:
            raise e.error("must not be empty (leave `precisions` out for the defaults)")
        lists = [
            _precision_values(keys[k]) if k in keys else [PrecisionChoice.__dataclass_fields__[k].default]
            for k in ("weights", "activations", "kv")
        ]
        lists.append(_methods(keys["method"]) if "method" in keys else ["rtn"])
        out.extend(PrecisionChoice(*combo) for combo in itertools.product(*lists))
    return tuple(dict.fromkeys(out))


def _methods(at: At) -> list[str]:
    from hwsim.accuracy.methods import parse_method

    out = []
    for item in at.list(allow_scalar=True):
        try:
            out.append(parse_method(item.str()).name)
        except HwsimError as exc:
            raise item.error(exc.detail) from None
    return out


def _accuracy(at: At) -> Accuracy:
    keys = at.mapping(("source", "path", "seed", "text", "calibration", "max_tokens"), required=("source",))
    source = keys["source"].str(ACCURACY_SOURCES)
    path = keys["path"].str() if "path" in keys else None
    if source == "checkpoint" and path is None:
        raise at.error("source checkpoint needs path (a .safetensors file or folder, optionally :TENSOR)")
    if source == "model" and (path is None or "text" not in keys):
        raise at.error("source model needs path (a decoder checkpoint folder) and text (a text file)")
    if source not in ("checkpoint", "model") and path is not None:
        raise keys["path"].error("path applies to sources checkpoint and model only")
    for k in ("text", "calibration", "max_tokens"):
        if k in keys and source != "model":
            raise keys[k].error(f"{k} applies to source model only")
    seed = keys["seed"].int(minimum=0) if "seed" in keys else 0
    return Accuracy(
        source,
        path,
        seed,
        keys["text"].str() if "text" in keys else None,
        keys["calibration"].str() if "calibration" in keys else None,
        keys["max_tokens"].int(minimum=2) if "max_tokens" in keys else None,
    )


def _constraints(at: At) -> tuple[Constraint, ...]:
    out = []
    for col, c in at.items():
        if isinstance(c.value, bool):
            if not c.value:
                raise c.error("write `true` to require a boolean column (false constrains nothing)")
            out.append(Constraint(col, true=True))
            continue
        keys = c.mapping(("min", "max"))
        if not keys:
            raise c.error("give min and/or max (in the column's own units)")
        lo = _bound(keys["min"], col) if "min" in keys else None
        hi = _bound(keys["max"], col) if "max" in keys else None
        if lo is not None and hi is not None and hi < lo:
            raise c.error(f"max ({hi:g}) is below min ({lo:g})")
        out.append(Constraint(col, lo, hi))
    return tuple(out)


def column_unit(column: str) -> tuple[str, float] | None:
    """(quantity kind, SI → column unit) of a result column from its name (docs/studies.md: seconds and `_s` in
    seconds, `_j` joules, `_w` watts, `_bytes` and `bytes_` bytes, `_mm2` mm², `_hz` hertz), or None (a count, a
    ratio or a rate per unit: its bounds are plain numbers)."""
    name = column.lower()
    if name.split("_")[-2:-1] == ["per"]:  # a rate per unit (tokens_per_s, tops_per_mm2); energy_per_token_j is J
        return None
    if name == "seconds" or name.endswith("_s"):
        return "time", 1.0
    for suffix, kind, scale in (
        ("_j", "energy", 1.0),
        ("_w", "power", 1.0),
        ("_mm2", "area", 1e6),
        ("_hz", "frequency", 1.0),
    ):
        if name.endswith(suffix):
            return kind, scale
    if name.endswith("_bytes") or name.startswith("bytes_"):
        return "bytes", 1.0
    return None


def _bound(at: At, column: str) -> float:
    """A constraint bound in the column's own units: a number, or a quantity with units ('5 ms' for seconds,
    '4 GiB' for a bytes column) when the column's name says its unit."""
    if not isinstance(at.value, str):
        return at.number()
    unit = column_unit(column)
    if unit is None:
        raise at.error(f"{column!r} has no unit hwsim reads from its name: give a plain number, got {at.value!r}")
    kind, scale = unit
    return parse_quantity(at.value, kind, file=at.file, field=at.path) * scale


def _outputs(at: At | None, name: str, name_at: At | None = None) -> Outputs:
    default_dir = os.path.join("results", name)
    # the default folder results/NAME must stay inside results/; refused when it is used (a run without
    # outputs.dir nor --out), not when the name is only a label
    unsafe = name_at is not None and (name in (".", "..") or "/" in name or "\\" in name)
    dir_error = (
        name_at.error("names the output folder results/NAME: no '/', '\\', '.' or '..' (or give outputs.dir or --out)")
        if unsafe and name_at is not None
        else None
    )
    if at is None:
        return Outputs(default_dir, dir_error=dir_error)
    keys = at.mapping(("dir", "format", "plot", "chunk_size", "color_by"))
    plot: str | None = "front.png"
    if "plot" in keys:
        v = keys["plot"].value
        if v is False or v is None:
            plot = None
        elif v is True:
            plot = "front.png"
        else:
            plot = keys["plot"].str()
            if os.path.splitext(plot)[1].lower() not in (".png", ".pdf", ".svg"):
                raise keys["plot"].error("must end in .png, .pdf or .svg (or be false)")
    return Outputs(
        dir=keys["dir"].str() if "dir" in keys else default_dir,
        dir_error=None if "dir" in keys else dir_error,
        format=keys["format"].str(OUTPUT_FORMATS) if "format" in keys else "parquet",
        plot=plot,
        chunk_size=keys["chunk_size"].int(minimum=1) if "chunk_size" in keys else DEFAULT_CHUNK,
        color_by=keys["color_by"].str() if "color_by" in keys else None,
    )
