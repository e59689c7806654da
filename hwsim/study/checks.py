"""Name checks of a parsed study: presets, models, workload shapes and formats exist and agree.

Each failure is re-raised with the study file and the key path of the offending entry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hwsim.errors import HwsimError
from hwsim.study.serving import ServingWorkload
from hwsim.study.validate import At

if TYPE_CHECKING:
    from hwsim.study.params import Param
    from hwsim.study.schema import AnyWorkload, Design, Study


def _reraise(at: At, exc: HwsimError) -> HwsimError:
    return at.error(str(exc))


def check_names(study: Study, top: dict[str, At]) -> None:
    from hwsim.paths import resolve_preset

    for d, at in zip(study.designs, top["architectures"].list()):
        try:
            resolve_preset(d.preset, "archs", what="architecture preset")
        except HwsimError as exc:
            raise _reraise(at.child("preset", d.preset), exc) from None
        _check_arch(d, at)
    _check_workloads(study, top.get("workloads") or top["architectures"])
    _check_formats(study, top.get("precisions") or top["architectures"])
    _check_serving_fits(study, top)
    if study.accuracy.source == "checkpoint":
        import os

        given = study.accuracy.path
        assert given is not None, "the study schema requires path with source checkpoint"
        path = given.rpartition(":")[0] if not os.path.exists(given) and ":" in given else given
        if not os.path.exists(path):
            raise top["accuracy"].child("path", given).error("no such file or folder")
    if study.accuracy.source == "model":
        import os

        acc = study.accuracy
        assert acc.path is not None and acc.text is not None, (
            "the study schema requires path and text with source model"
        )
        for key, value, ok in (  # os.path: a name too long to be a file is none (Path.is_dir raised OSError)
            ("path", acc.path, os.path.isdir(acc.path)),
            ("text", acc.text, os.path.isfile(acc.text)),
            ("calibration", acc.calibration, acc.calibration is None or os.path.isfile(acc.calibration)),
        ):
            if not ok:
                raise top["accuracy"].child(key, value).error("no such " + ("folder" if key == "path" else "file"))


def _check_arch(d: Design, at: At) -> None:
    """load_arch with the fixed overrides and each swept path at one of its values."""
    try:
        from hwsim.arch import load_arch
    except ImportError:  # cost engine not in this build: the preset file exists, that is all we can say
        return
    overrides = dict(d.overrides)
    try:
        load_arch(d.preset, overrides)
    except HwsimError as exc:
        raise _reraise(at.child("set", None) if d.overrides else at, exc) from None
    for p in d.params:
        first = p.values[0] if p.values else (int(p.bounds[0]) if p.integer else p.bounds[0])
        try:
            load_arch(d.preset, {**overrides, p.path: first})
        except HwsimError as exc:
            raise _reraise(at.child("sweep", None).child(p.path, None), exc) from None
        if p.is_range and not p.integer and p.bounds[1] - p.bounds[0] >= 0.5:
            _check_integer_range(d, p, overrides, at.child("sweep", None).child(p.path, None))


def _check_integer_range(d: Design, p: Param, overrides: dict[str, object], at: At) -> None:
    """A range over an integer field needs `integer: true`, or its samples would be fractional."""
    from hwsim.arch import load_arch

    low, high = p.bounds
    probe = low + 0.5 if (low + 0.5) != int(low + 0.5) else low + 0.25
    try:
        load_arch(d.preset, {**overrides, p.path: probe})
    except HwsimError as exc:
        if "expected an integer" in str(exc):
            import math

            raise at.error(
                f"{p.path} takes integers: add `integer: true` to this range "
                f"({{min: {math.ceil(low)}, max: {math.floor(high)}, integer: true}})"
            ) from None


def _check_workloads(study: Study, at: At) -> None:
    from hwsim.workload import load_model, trace

    models = {}
    for w in study.workloads:
        entry = _entry_for(at, w)
        if w.model not in models:
            try:
                models[w.model] = load_model(w.model)
            except HwsimError as exc:
                raise _reraise(entry.child("model", w.model), exc) from None
        if isinstance(w, ServingWorkload):  # kind "serving"
            from hwsim.study.serving import check_serving

            check_serving(w, entry, models[w.model])
            continue
        try:
            trace(models[w.model], w.phase, batch=w.batch, seq=w.seq, context=w.context)
        except HwsimError as exc:
            raise _reraise(entry, exc) from None


def _entry_for(at: At, w: AnyWorkload) -> At:
    """The workloads[i] entry a workload came from (for error paths)."""
    if not isinstance(at.value, list):
        return at
    for e in at.list():
        v = e.value if isinstance(e.value, dict) else {}
        model, phase = v.get("model"), v.get("phase")
        models = model if isinstance(model, list) else [model]
        phases = phase if isinstance(phase, list) else [phase]
        if w.model in models and (w.phase in phases or (w.kind == "serving" and v.get("kind") == "serving")):
            return e
    return at


def _check_formats(study: Study, at: At) -> None:
    try:
        from hwsim.core.precision import operand_type
    except ImportError:
        return
    seen = set()
    for p in study.precisions:
        for operand in ("weights", "activations", "kv"):
            v = getattr(p, operand)
            if (operand, v) in seen or v == "model":
                continue
            seen.add((operand, v))
            try:
                operand_type(v, operand)
            except HwsimError as exc:
                raise at.error(f"{operand}: {exc.detail}") from None


def _check_serving_fits(study: Study, top: dict[str, At]) -> None:
    """Each design against each serving entry it runs: refused up front when no combination listed fits its
    memory (hwsim.study.serving.check_fits), unless the design sweeps its backing store (checked per point)."""
    from hwsim.study.serving import check_fits, serving_workloads

    for d, a in zip(study.designs, top["architectures"].list()):
        if not any(study.workloads[i].kind == "serving" for i in d.workloads):
            continue
        from hwsim.arch import load_arch

        arch = load_arch(d.preset, dict(d.overrides) or None)
        if any(p.path.startswith(f"memory.{arch.backing.name}.") for p in d.params):
            continue
        own = isinstance(a.value, dict) and "workloads" in a.value
        entries = a.child("workloads", a.value["workloads"]) if own else top["workloads"]
        for e in entries.list():
            if isinstance(e.value, dict) and e.value.get("kind") == "serving":
                check_fits(
                    f"{d.name} (architectures[{d.index}])",
                    arch,
                    e,
                    serving_workloads(e),
                    [study.precisions[i] for i in d.precisions],
                )
