"""The format-comparison table: quantize one source of tensors with several formats, one row each.

Sources (`SOURCES`, or a checkpoint path):
  gaussian          N(0,1), 512 × 1024, seeded
  student-t         Student-t ν = 5 rescaled to unit std, 512 × 1024 (heavier tails)
  llm-weights       one synthetic Llama-style block (seven matrices, Wq/Wk heavy-tailed), aggregated
  llm-activations   256 tokens × 512 channels with outlier channels and massive first-token values
  PATH[:TENSOR]     a .safetensors file or checkpoint folder: every float tensor (aggregated) or one
  minilm            MiniLM-L6's 36 linear weights, plus `cosine` of sentence embeddings vs fp32

Every tensor is quantized along its last axis (the input dimension of an out × in weight; the
channel dimension of tokens × channels activations). Metrics over several tensors are aggregated
as if the tensors were concatenated (total squared error / total elements, …).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np
import pandas as pd

from hwsim.accuracy import synthetic
from hwsim.accuracy.checkpoint import iter_tensors, list_tensors
from hwsim.accuracy.metrics import combine_sums, error_sums, metrics_from_sums
from hwsim.errors import HwsimError, check_seed, closest
from hwsim.fileio import input_path

if TYPE_CHECKING:
    from hwsim.accuracy.methods import Method
    from hwsim.formats import Format

SYNTHETIC = ("gaussian", "student-t", "llm-weights", "llm-activations")
SOURCES = SYNTHETIC + ("minilm",)
_SHAPE = (512, 1024)  # synthetic weight-like tensors: 512 Ki elements keeps a comparison sub-second

COLUMNS = ["format", "family", "bits_per_element", "method", "mse", "sqnr_db", "max_abs_err"]


def _synthetic(source: str, seed: int) -> Iterator[tuple[str, np.ndarray]]:
    if source == "gaussian":
        yield source, synthetic.gaussian(_SHAPE, seed)
    elif source == "student-t":
        yield source, synthetic.student_t(_SHAPE, seed)
    elif source == "llm-weights":
        yield from synthetic.llm_weights(seed).items()
    else:
        yield source, synthetic.llm_activations(seed)


def _split_path(source: str) -> tuple[Path, str | None]:
    """`ckpt.safetensors:tensor.name` → (path, name). The path may itself contain ':'."""
    p = Path(source)
    if p.exists() or ":" not in source:
        return p, None
    head, _, name = source.rpartition(":")
    if not head.strip():  # ':name' names no file (Path('') is the current folder, which the error then named)
        return p, None
    return Path(head), name or None


def tensors(source: str, seed: int = 0) -> Iterator[tuple[str, np.ndarray]]:
    """The (name, array) pairs a source stands for (not `minilm`, which is a model, not tensors)."""
    seed = check_seed(seed)
    if source in SYNTHETIC:
        return _synthetic(source, seed)
    path, name = _split_path(str(input_path(source, field="tensor")))
    if name is not None and str(path) in SOURCES:
        raise HwsimError(
            f"{path} is a built-in source, not a file: it takes no ':{name}' (its seed is `seed`)", field="tensor"
        )
    if not path.exists():
        raise HwsimError(
            f"no such file or folder; a source is one of {', '.join(SOURCES)}"
            + closest(source, SOURCES)
            + " or a .safetensors path[:tensor]",
            file=path,
            field="tensor",
        )
    if name is not None:
        info = {i.name: i for i in list_tensors(path)}.get(name)
        if info is not None and not info.is_float:
            raise HwsimError(
                f"tensor {name!r} has dtype {info.dtype}; only float tensors can be quantized",
                file=path,
                field="tensor",
            )
    return iter_tensors(path, name)


def _resolve_formats(formats: Iterable[str | Format] | str) -> list[Format]:
    from hwsim.formats import get_format

    if isinstance(formats, str):
        formats = [f for f in formats.split(",") if f.strip()]
    out = [get_format(f.strip()) if isinstance(f, str) else f for f in formats]
    if not out:
        raise HwsimError("give at least one format", field="formats")
    return out


def _row(fmt: Format, sums: dict, method: str = "rtn") -> dict:
    return {
        "format": fmt.name,
        "family": fmt.family,
        "bits_per_element": float(fmt.bits_per_element),
        "method": method,
        **metrics_from_sums(sums),
    }


def compare(
    formats: Iterable[str | Format] | str,
    source: str,
    seed: int = 0,
    *,
    act_format: str | Format | None = None,
    method: Method | str | None = None,
    kv_format: str | Format | None = None,
) -> pd.DataFrame:
    """One row per format (in the order given): format, family, bits_per_element, method, mse,
    sqnr_db, max_abs_err, and `cosine` (mean over the fixed sentences, vs fp32) for `minilm`.

    minilm only: `act_format` also quantizes the input of every linear layer (per token with a `_pc`
    format), `kv_format` keys and values (per token and head), `method` (hwsim.accuracy.methods:
    rtn, gptq, awq, smoothquant, rotate, joined by '+') transforms every layer before it is measured."""
    from hwsim.accuracy.methods import check_applies, parse_method

    fmts = _resolve_formats(formats)
    seed = check_seed(seed)
    meth = parse_method(method)
    if source == "minilm":
        from hwsim.accuracy import minilm

        for f in fmts:
            check_applies(meth, f)
        rows = []
        for f in fmts:
            res = minilm.evaluate(f, act_format, method=meth, kv_format=kv_format, seed=seed)
            rows.append({**_row(f, res["weight_sums"], meth.name), "cosine": res["cosine"]})
        return pd.DataFrame(rows, columns=COLUMNS + ["cosine"])
    for field, what, value in (
        ("act_format", "an activation format", act_format),
        ("kv_format", "a KV format", kv_format),
    ):
        if value is not None:
            raise HwsimError(f"{what} applies to the minilm source only", field=field)
    if meth.name != "rtn":
        raise HwsimError(
            f"method {meth.name} needs calibration activations: use `source` minilm "
            "(or `hwsim.accuracy.llm.evaluate` for a decoder checkpoint)",
            field="method",
        )
    # stream the tensors once; every format sees each tensor while it is in memory
    parts: list[list[dict]] = [[] for _ in fmts]
    n_tensors = 0
    for _name, x in tensors(source, seed):  # a tensor holding NaN/Inf is refused by name (read_float)
        if x.size == 0:  # no elements: nothing to measure (alone, it gave mse NaN)
            continue
        n_tensors += 1
        for acc, f in zip(parts, fmts):
            acc.append(error_sums(x, f.quantize(x, axis=-1, seed=seed)))
    if n_tensors == 0:
        raise HwsimError("holds no float tensor (with elements) to quantize", file=source, field="tensor")
    return pd.DataFrame([_row(f, combine_sums(p)) for f, p in zip(fmts, parts)], columns=COLUMNS)
