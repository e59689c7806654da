"""Stream tensors out of safetensors checkpoints one at a time.

A 7B checkpoint is ~14 GB in bf16; we never hold more than one tensor in memory. A path is a
`.safetensors` file, a folder with a `*.safetensors.index.json` (sharded Hugging Face layout) or a
folder of `.safetensors` files. Tensors come back as float32 numpy arrays (float64 stays float64):
numpy has no bfloat16, so BF16 tensors are read as raw 16-bit words straight from the file
(offsets from the header) and widened — bf16 is the top half of an IEEE float32.
"""

from __future__ import annotations

import fnmatch
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from hwsim.errors import HwsimError, closest
from hwsim.workload.checkpoint import shard_files

# safetensors dtype codes that widen exactly to float32 (or stay float64)
_FLOAT_DTYPES = {"F64", "F32", "F16", "BF16"}
# bytes per element of safetensors dtype codes (a code not listed is not size-checked)
_ITEMSIZE = {
    **{f"F{b}": b // 8 for b in (64, 32, 16)},
    **{f"{k}{b}": b // 8 for k in "IU" for b in (64, 32, 16, 8)},
    "BF16": 2,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "BOOL": 1,
}
# a header larger than this is not a safetensors file (the format caps it at 100 MB)
_MAX_HEADER = 100_000_000


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str  # safetensors code: F32, BF16, I64, …
    file: Path
    data_start: int  # absolute byte offset of the tensor's data in `file`

    @property
    def is_float(self) -> bool:
        return self.dtype in _FLOAT_DTYPES

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def _read_header(file: Path) -> list[TensorInfo]:
    try:
        with open(file, "rb") as fh:
            raw = fh.read(8)
            if len(raw) < 8:
                raise HwsimError("not a safetensors file (shorter than its 8-byte header length)", file=file)
            (n,) = struct.unpack("<Q", raw)
            if n > _MAX_HEADER:
                raise HwsimError("not a safetensors file (implausible header length)", file=file)
            header = json.loads(fh.read(n))
            size = fh.seek(0, 2)
    except FileNotFoundError:
        raise HwsimError("no such file", file=file) from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HwsimError("not a safetensors file (header is not JSON)", file=file) from None
    if not isinstance(header, dict):
        raise HwsimError("not a safetensors file (header is not a JSON object)", file=file)
    return [_info(name, meta, file, 8 + n, size) for name, meta in header.items() if name != "__metadata__"]


def _info(name: str, meta: object, file: Path, base: int, size: int) -> TensorInfo:
    """One header entry, checked against the file: a damaged or truncated file is one line here, not a
    reshape error (or a read past its end) when the tensor is read."""
    try:
        assert isinstance(meta, dict)
        dtype, shape, (start, end) = str(meta["dtype"]), tuple(int(d) for d in meta["shape"]), meta["data_offsets"]
        start, end = int(start), int(end)
    except (AssertionError, KeyError, TypeError, ValueError):
        raise HwsimError(
            f"not a safetensors file (tensor {name!r} needs dtype, shape and data_offsets [start, end])", file=file
        ) from None
    info = TensorInfo(name, shape, dtype, file, base + start)
    width = _ITEMSIZE.get(dtype)
    if min(shape, default=0) < 0 or not 0 <= start <= end or (width is not None and end - start != info.size * width):
        raise HwsimError(
            f"not a safetensors file (tensor {name!r}: {dtype} {list(shape)} does not fit data_offsets "
            f"[{start}, {end}])",
            file=file,
        )
    if base + end > size:
        raise HwsimError(f"truncated: tensor {name!r} ends at byte {base + end}, the file has {size} bytes", file=file)
    return info


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise HwsimError("no such file or folder", file=path)
    return shard_files(path)  # shared with the workload reader: index json or *.safetensors


def list_tensors(path: str | Path) -> list[TensorInfo]:
    """Names, shapes and dtypes of every tensor (headers only: no tensor data is read)."""
    return [info for f in _files(Path(path)) for info in _read_header(f)]


def read_tensor(info: TensorInfo) -> np.ndarray:
    """Load one tensor as float32 (float64 kept); integer tensors keep their dtype."""
    if info.dtype == "BF16":
        words = np.fromfile(info.file, dtype="<u2", count=info.size, offset=info.data_start)
        return (words.astype(np.uint32) << 16).view(np.float32).reshape(info.shape)
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(info.file), framework="numpy") as f:
            arr = f.get_tensor(info.name)
    except TypeError:  # numpy lacks the dtype (float8 …)
        raise HwsimError(
            f"tensor dtype {info.dtype} is not supported (supported: F64, F32, F16, BF16, integers)",
            file=info.file,
            field=info.name,
        ) from None
    except SafetensorError as exc:  # what the header check above does not catch
        raise HwsimError(f"not a readable safetensors file ({exc})", file=info.file) from None
    return arr.astype(np.float32) if arr.dtype == np.float16 else arr


def require_float(info: TensorInfo) -> None:
    """One line when a tensor that must hold weights is not a float tensor (an int32 `qweight` packing, …)."""
    if not info.is_float:
        raise HwsimError(
            f"tensor {info.name!r} has dtype {info.dtype}; weights must be F64, F32, F16 or BF16", file=info.file
        )


def require_finite(info: TensorInfo, arr: np.ndarray) -> np.ndarray:
    """`arr` (read from `info`), or one line naming the tensor when it holds NaN or Inf: one such value would
    turn every error, perplexity or cost computed from it into NaN."""
    finite = np.isfinite(arr)
    if not finite.all():
        bad = int(arr.size - np.count_nonzero(finite))
        raise HwsimError(f"tensor {info.name!r} holds {bad} NaN/Inf values", file=info.file)
    return arr


def read_float(info: TensorInfo) -> np.ndarray:
    """A float tensor as read_tensor gives it, refused in one line when it is not a float tensor or is not
    finite: what every reader of weights (accuracy, formats compare, allocate) reads through."""
    require_float(info)
    return require_finite(info, read_tensor(info))


def _matcher(names: str | Iterable[str] | Callable[[str], bool] | None) -> Callable[[str], bool]:
    if names is None:
        return lambda n: True
    if callable(names):
        return names
    if isinstance(names, str):
        names = [names]
    pats = list(names)
    return lambda n: any(fnmatch.fnmatchcase(n, p) for p in pats)


def iter_tensors(
    path: str | Path, names: str | Iterable[str] | Callable[[str], bool] | None = None, *, floats_only: bool = True
) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (name, array) one tensor at a time.

    `names`: None (all), a glob or list of globs (`"*.q_proj.weight"`), or a predicate on the name.
    An exact name (no glob characters) that is absent raises HwsimError with the closest names.
    Integer tensors (position ids, …) are skipped unless `floats_only=False`; a float tensor holding NaN/Inf
    is refused (read_float).
    """
    infos = list_tensors(path)
    if isinstance(names, str) and not any(c in names for c in "*?["):
        if names not in {i.name for i in infos}:
            raise HwsimError(
                f"no tensor named {names!r}" + closest(names, [i.name for i in infos]), file=path, field="tensor"
            )
    match = _matcher(names)
    for info in infos:
        if match(info.name) and (info.is_float or not floats_only):
            yield info.name, read_float(info) if info.is_float else read_tensor(info)
