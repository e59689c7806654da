"""Reading user files (YAML or JSON) into a top-level mapping, with one-line errors."""
from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from hwsim.errors import HwsimError


def read_mapping(path: str | Path, *, what: str = "file") -> dict:
    """Parse a YAML (or, by suffix, JSON) file whose top level must be a mapping."""
    path = Path(path)
    is_json = path.suffix == ".json"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HwsimError(f"cannot read: {exc.strerror}", file=path) from None
    except UnicodeDecodeError:
        hint = " (for a checkpoint, give its folder with config.json)" if path.suffix == ".safetensors" else ""
        raise HwsimError(f"not a text file: {what} must be YAML or JSON{hint}", file=path) from None
    try:
        data = json.loads(text) if is_json else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise HwsimError(f"not valid JSON at line {exc.lineno}: {exc.msg}", file=path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise HwsimError(f"invalid YAML{f' at line {mark.line + 1}' if mark else ''}", file=path) from None
    if not isinstance(data, dict):
        raise HwsimError(f"{what} must be a {'JSON object' if is_json else 'YAML mapping'} at the top level",
                         file=path)
    return data


def os_reason(exc: OSError) -> str:
    """Why an OS call failed, in words ('No space left on device'), never 'None'."""
    return exc.strerror or str(exc) or type(exc).__name__


def prepare_output(path: str | Path, *, field: str | None = None) -> Path:
    """Make the parent folder of an output file (results/x.png works in a fresh clone); one-line errors."""
    path = Path(path)
    parent = path.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HwsimError(f"cannot create folder {parent}: {os_reason(exc)}", file=path, field=field) from None
    if not os.access(parent, os.W_OK):
        raise HwsimError(f"cannot write: folder {parent} is not writable", file=path, field=field)
    return path
