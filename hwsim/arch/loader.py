"""Load accelerator specs from YAML: units, sources, `--set` overrides and validation.

Every hardware constant carries a source, in one of two shapes:

    clock: {value: "1 GHz", source: "BitMoD (HPCA 2025) §V"}      # per constant
    compute:
      source: "BitMoD (HPCA 2025) Table III"                      # covers the sibling constants
      rows: 32                                                    # that have no source of their own

A constant with neither is an error. Overrides (`--set compute.rows=64`) apply to the YAML tree
before validation, so they are checked exactly like the file; their source reads "--set override".
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from collections.abc import Hashable
from typing import Any, Mapping, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from hwsim.core.schema import MEMORY_LEVEL, TECH, TOP, Field, SIValues, SpecPath, parse_bandwidth, spec_path
from hwsim.core.spec import Accelerator, MemoryLevel, TechSpec
from hwsim.errors import HwsimError, closest
from hwsim.fileio import parse_scalar, read_mapping
from hwsim.families import family_names, get_family
from hwsim.paths import resolve_preset

OVERRIDE_SOURCE = "--set override"


def _unwrap(node: object) -> tuple[object, str | None]:
    """(value, source) of a YAML leaf written plainly or as {value: …, source: …}."""
    if isinstance(node, dict) and "value" in node:
        extra = set(node) - {"value", "source"}
        if extra:
            raise HwsimError(f"a constant takes only 'value' and 'source', not {sorted(extra)}")
        src = node.get("source")
        return node["value"], (str(src) if src else None)
    return node, None


def _unwrap_quiet(node: object) -> object:
    """The value of a leaf written plainly or as {value: …}, without checking its other keys."""
    return node.get("value") if isinstance(node, dict) else node


#: parsed spec trees by (file, modification time, size): a preset is parsed once per process, not on every
#: load_arch (YAML parsing took longer than a whole roofline). Trees are shared: nothing writes to them
#: (apply_overrides copies before it sets a path).
_PARSED: dict[tuple[str, int, int], dict] = {}
#: Accelerators built without overrides, by (file version, path as shown, family model): a preset named on
#: every call is validated once. Accelerators are frozen and shared; nothing writes to them.
_BUILT: dict[tuple, Accelerator] = {}
_MAX_CACHED = 256  # a sweep over generated files: keep the caches bounded


def _version(path: Path) -> tuple[str, int, int] | None:
    """(file, modification time, size), or None when it cannot be read (read_mapping words the error)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return str(path.resolve()), st.st_mtime_ns, st.st_size


_V = TypeVar("_V")


def _remember(cache: dict[Any, _V], key: Hashable, value: _V) -> _V:
    if len(cache) >= _MAX_CACHED:
        cache.clear()
    cache[key] = value
    return value


def read_yaml(path: Path) -> dict:
    key = _version(path)
    if key is None:
        return read_mapping(path, what="an accelerator spec")
    raw = _PARSED.get(key)
    return raw if raw is not None else _remember(_PARSED, key, read_mapping(path, what="an accelerator spec"))


def _family_fields(raw: dict, file: object) -> dict[str, Field]:
    name, _ = _unwrap(raw.get("family"))
    if name is None:
        raise HwsimError("missing field", file=file, field="family")
    try:
        return get_family(str(name)).params
    except KeyError:
        raise HwsimError(
            f"unknown family {name!r}{closest(str(name), family_names())}; families: {', '.join(family_names())}",
            file=file,
            field="family",
        ) from None


def field_for(raw: dict, path: str, file: object) -> Field:
    """The schema Field at a dotted path of a spec (raw YAML tree); an unknown path is an error
    that names the path and the valid keys where it went wrong."""
    at = _locate(raw, path, file)
    return at.field(_family_fields(raw, file) if at.section == "compute" else {})


def _locate(raw: dict, path: str, file: object) -> SpecPath:
    return spec_path(path, lambda: _family_fields(raw, file), list((raw.get("memory") or {}).keys()), file=file)


def apply_overrides(raw: dict, overrides: Mapping[str, object] | None, file: object) -> dict:
    """Set dotted paths in a copy of the raw spec tree (family first: it decides the compute keys)."""
    if not overrides:
        return raw
    if not isinstance(overrides, Mapping) or not all(isinstance(p, str) for p in overrides):
        raise HwsimError(
            f"expected a mapping of dotted path → value ({{'compute.rows': 64}}), got {type(overrides).__name__} "
            f"({overrides!r:.60})",
            field="overrides",
        )
    raw = copy.deepcopy(raw)
    items = sorted(overrides.items(), key=lambda kv: kv[0] != "family")
    for path, value in items:
        fld = field_for(raw, path, file)
        value = parse_scalar(value) if isinstance(value, str) else value  # CLI text reads as in a YAML file
        set_path(raw, path, value, OVERRIDE_SOURCE if fld.is_constant else None)
    return raw


def set_path(raw: dict, path: str, value: object, source: str | None = None) -> None:
    """Set a dotted path in a raw spec tree (in place, making mappings on the way); with a source the
    leaf is written as a sourced constant {value, source}."""
    *parents, leaf = _locate(raw, path, None).keys
    node = raw
    for p in parents:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    node[leaf] = value if source is None else {"value": value, "source": source}


def parse_overrides(items: list[str] | None) -> dict[str, str]:
    """['compute.rows=64', …] → {'compute.rows': '64'} (one '=' splits path from value)."""
    out: dict[str, str] = {}
    for item in items or []:
        path, sep, value = item.partition("=")
        if not sep or not path.strip():
            raise HwsimError(f"expected dotted.key=value, got {item!r}", field="overrides")
        if path.strip() in out:
            raise HwsimError(
                f"{path.strip()} is set twice ({out[path.strip()]!r}, {value.strip()!r}): keep one", field="overrides"
            )
        out[path.strip()] = value.strip()
    return out


class _Reader:
    """Parses fields of one mapping, recording each constant's source."""

    def __init__(self, file: object, sources: dict[str, str]):
        self.file, self.sources = file, sources

    def mapping(self, node: object, path: str, schema: Mapping[str, Field]) -> dict[str, Any]:
        if node is None:
            node = {}
        if not isinstance(node, dict):
            raise HwsimError("expected a mapping", file=self.file, field=path)
        unknown = [k for k in node if k not in schema and k != "source"]
        if unknown:
            raise HwsimError(
                f"unknown field {unknown[0]!r}{closest(unknown[0], schema)}; valid keys: {', '.join(schema)}",
                file=self.file,
                field=f"{path}.{unknown[0]}" if path else unknown[0],
            )
        shared = node.get("source")
        out = {}
        for key, fld in schema.items():
            if fld.kind == "mapping":
                continue
            fpath = f"{path}.{key}" if path else key
            if key in node and fld.unbounded_when_omitted and _unwrap_quiet(node[key]) in (None, ""):
                raise HwsimError(
                    "empty value: write one, or delete the key for no limit (omitted = unbounded)",
                    file=self.file,
                    field=fpath,
                )
            if key not in node or node[key] is None:
                if fld.required:
                    raise HwsimError(
                        "missing field" + (f" ({fld.doc})" if fld.doc else ""), file=self.file, field=fpath
                    )
                out[key] = fld.default
                continue
            try:
                value, src = _unwrap(node[key])
            except HwsimError as exc:
                raise HwsimError(exc.detail, file=self.file, field=fpath) from None
            src = src or (str(shared) if shared else None)
            if fld.is_constant:
                if not src:
                    raise HwsimError(
                        "constant has no source: write {value: ..., source: '...'} or a "
                        "'source:' key beside it (paper, datasheet, or 'assumed: why')",
                        file=self.file,
                        field=fpath,
                    )
                self.sources[fpath] = src
            if fld.kind == "bandwidth":
                self.check_bandwidth(value, fpath, out)
            out[key] = fld.parse(value, file=self.file, field=fpath)
        return out

    def check_bandwidth(self, value: object, fpath: str, out: dict[str, Any]) -> None:
        v, per_cycle = parse_bandwidth(value, file=self.file, field=fpath)
        out["_per_cycle"] = per_cycle


def _check_link(name: str, file: object) -> None:
    """The `link:` preset or YAML must exist when the arch loads: only multi-device runs read it, so a misspelt
    name passed every single-device run and failed, away from its file, on the first --tp 2."""
    try:
        resolve_preset(name, "links", what="link")
    except HwsimError as exc:
        where = f" ({exc.file})" if exc.file else ""
        raise HwsimError(f"{exc.detail}{where}", file=file, field="link") from None


def build_arch(raw: dict, file: object = None) -> Accelerator:
    """Validate a raw spec tree (after overrides) into an Accelerator."""
    sources: dict[str, str] = {}
    rd = _Reader(file, sources)
    top = rd.mapping(raw, "", TOP)
    if top["link"] is not None:
        _check_link(top["link"], file)
    fields = _family_fields(raw, file)
    compute = rd.mapping(raw.get("compute"), "compute", fields)
    mem_raw = raw.get("memory")
    if not isinstance(mem_raw, dict) or not mem_raw:
        raise HwsimError(
            "missing field: a mapping of memory levels, the backing store (DRAM) first", file=file, field="memory"
        )
    levels = []
    for lname, lnode in mem_raw.items():
        v = rd.mapping(lnode, f"memory.{lname}", MEMORY_LEVEL)
        levels.append(
            MemoryLevel(
                name=str(lname),
                holds=v["holds"],
                capacity=v["capacity"],
                bandwidth=v["bandwidth"],
                per_cycle=v.get("_per_cycle", True),
                energy=v["energy"],
                efficiency=v["efficiency"],
            )
        )
    tech = None
    if raw.get("tech") is not None:
        t = rd.mapping(raw["tech"], "tech", TECH)
        tech = TechSpec(node_nm=t["node"], voltage=t["voltage"])
    arch = Accelerator(
        name=top["name"],
        family=top["family"],
        clock_hz=top["clock"],
        compute=compute,
        memory=tuple(levels),
        tech=tech,
        static_power_w=top["static_power"],
        price_usd=top["price"],
        description=top["description"],
        link=top["link"],
        attention=top.get("attention"),
        file=None if file is None else str(file),
        sources=sources,
    )
    get_family(arch.family).validate(arch)
    return arch


def load_arch(name_or_path: str | os.PathLike[str], overrides: Mapping[str, object] | None = None) -> Accelerator:
    """A preset name (archs/<name>.yaml) or a YAML path, with optional dotted-path overrides."""
    path = resolve_preset(name_or_path, "archs", what="arch")
    raw = read_yaml(path)
    try:
        shown = path.relative_to(Path.cwd())
    except ValueError:
        shown = path
    if overrides:
        return build_arch(apply_overrides(raw, overrides, shown), shown)
    try:
        key = (_version(path), str(shown), get_family(str(_unwrap(raw.get("family"))[0])))
    except (KeyError, HwsimError):  # no or an unknown family: build_arch words the error
        return build_arch(raw, shown)
    arch = _BUILT.get(key)
    return arch if arch is not None else _remember(_BUILT, key, build_arch(raw, shown))


def as_accelerator(arch: object) -> Accelerator:
    """`arch` as given when it is an Accelerator, else loaded from a preset name or YAML path."""
    if isinstance(arch, Accelerator):
        return arch
    if isinstance(arch, (str, os.PathLike)):
        return load_arch(arch)
    raise HwsimError(
        f"expected an Accelerator, a preset name or a YAML path, got {type(arch).__name__} ({arch!r:.60})",
        field="arch",
    )


def parse_values(arch: Accelerator, path: str, values: SIValues | ArrayLike) -> tuple[np.ndarray, bool | None]:
    """Parse sweep values for one dotted path of an arch: each unique value once → SI float array,
    validated like the YAML. Returns (array, per_cycle flag for bandwidths else None). SIValues (parsed
    once by a study) are only checked against the field's limits."""
    file = arch.file
    raw = {"family": arch.family, "memory": {lv.name: {} for lv in arch.memory}}
    fld = field_for(raw, path, file)
    if not fld.is_constant:
        raise HwsimError("only numeric fields can be swept", file=file, field=path)
    if isinstance(values, SIValues):
        per_cycle = values.check(fld, file=file, field=path)
        return np.asarray(values.values, dtype=np.float64).ravel(), per_cycle
    arr = np.asarray(values, dtype=object).ravel()
    uniq = {}
    flags = set()
    for v in arr:
        key = v.item() if hasattr(v, "item") else v
        if key not in uniq:
            uniq[key] = fld.parse(key, file=file, field=path)
            if fld.kind == "bandwidth":
                flags.add(parse_bandwidth(key, file=file, field=path)[1])
    if len(flags) > 1:
        raise HwsimError("mix of per-cycle and per-second bandwidths in one sweep axis", file=file, field=path)
    out = np.array([uniq[v.item() if hasattr(v, "item") else v] for v in arr], dtype=np.float64)
    return out, (flags.pop() if flags else None)
