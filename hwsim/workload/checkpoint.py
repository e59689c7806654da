"""Real tensor names, shapes and dtypes of a checkpoint folder, read from safetensors headers only."""

from __future__ import annotations

import json
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from hwsim.errors import HwsimError

if TYPE_CHECKING:  # pandas loads with the first table (a trace alone does not need it)
    import pandas as pd

# safetensors dtype codes → the usual names
_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
}


def shard_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.exists():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (ValueError, KeyError, TypeError):  # ValueError: not JSON, not UTF-8 (UnicodeDecodeError) too
            weight_map = None
        # tensor name → shard file name (a list or a number there was an AttributeError or TypeError traceback)
        if not isinstance(weight_map, dict) or not all(isinstance(f, str) and f for f in weight_map.values()):
            raise HwsimError(
                "expected a JSON object with a 'weight_map' of tensor names to shard file names",
                file=index,
                field="weight_map",
            )
        files = sorted({folder / f for f in weight_map.values()})
        missing = [f.name for f in files if not f.exists()]
        if missing:
            raise HwsimError(f"shards listed but not present: {', '.join(missing[:3])}", file=index, field="weight_map")
        return files
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise HwsimError("no *.safetensors files and no model.safetensors.index.json", file=folder)
    return files


def checkpoint_tensors(path: str | Path) -> pd.DataFrame:
    """One row per tensor: name, shape, dtype, numel, file. Opens headers with safe_open (no data read)."""
    from safetensors import SafetensorError, safe_open

    folder = Path(path)
    if folder.is_file():
        files, folder = [folder], folder.parent
    elif folder.is_dir():
        files = shard_files(folder)
    else:
        raise HwsimError("no such checkpoint file or folder", file=path)
    rows = []
    for f in files:
        try:
            with safe_open(str(f), framework="numpy") as handle:
                for name in handle.keys():
                    sl = handle.get_slice(name)
                    shape = tuple(int(s) for s in sl.get_shape())
                    code = sl.get_dtype()
                    rows.append(
                        (name, shape, _DTYPES.get(code, code.lower()), int(np.prod(shape, dtype=np.int64)), f.name)
                    )
        except (OSError, ValueError, SafetensorError) as exc:
            raise HwsimError(f"not a readable safetensors file: {exc}", file=f) from None
    import pandas as pd

    return pd.DataFrame(rows, columns=["name", "shape", "dtype", "numel", "file"])
