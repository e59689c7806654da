"""Where presets live: hwsim/presets/{archs,workloads,studies}, shipped as package data (so a wheel finds
them), optionally shadowed by $HWSIM_HOME/{archs,workloads,studies}. A clone also has archs/, workloads/ and
studies/ at its root: links to the same folders, so `hwsim sweep studies/quickstart.yaml` works there."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from hwsim.errors import HwsimError, closest

REPO_ROOT = Path(__file__).resolve().parents[1]
KINDS = ("archs", "workloads", "studies", "links")
_SUFFIXES = (".yaml", ".yml")


def packaged_dir(kind: str) -> Path:
    """The folder of shipped presets of a kind (a real folder: wheels install package data as files)."""
    return Path(str(resources.files("hwsim.presets") / kind))


def preset_dirs(kind: str) -> list[Path]:
    """Folders searched for presets of a kind ('archs', 'workloads', 'studies'), first match wins."""
    dirs = []
    if os.environ.get("HWSIM_HOME"):
        dirs.append(Path(os.environ["HWSIM_HOME"]) / kind)
    dirs.append(packaged_dir(kind))
    return [d for d in dirs if d.is_dir()]


def preset_names(kind: str) -> list[str]:
    names: set[str] = set()
    for d in preset_dirs(kind):
        names.update(p.stem for p in d.iterdir() if p.suffix in _SUFFIXES)
    return sorted(names)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long for a path, or with a NUL: not a file either way
        return False


def require_name(name_or_path: str | os.PathLike, kind: str, *, what: str) -> str:
    """The text of a preset name or path; an empty one (`--arch ""`, an unset shell variable) is refused
    before Path('') reads as the current folder."""
    text = str(name_or_path)
    if not text.strip():
        raise HwsimError(f"empty {what} name: give a preset ({', '.join(preset_names(kind))}) or a file path")
    return text


def resolve_preset(name_or_path: str | os.PathLike, kind: str, *, what: str) -> Path:
    """A preset name (`llama-2-7b`) or a path to a file. Unknown names list the closest presets."""
    text = require_name(name_or_path, kind, what=what)
    path = Path(text)
    if path.suffix in (*_SUFFIXES, ".json") or os.sep in text or "/" in text or _exists(path):
        if not _exists(path):
            shipped = path.stem in preset_names(kind) and path.parent.name == kind
            hint = f" (a shipped preset has that name: give just `{path.stem}`)" if shipped else ""
            raise HwsimError("no such file" + hint, file=text)
        return path
    for d in preset_dirs(kind):
        for suf in _SUFFIXES:
            cand = d / f"{text}{suf}"
            if _exists(cand):
                return cand
    names = preset_names(kind)
    hint = closest(text, names) or (f" (presets: {', '.join(names)})" if names else "")
    raise HwsimError(f"unknown {what} {text!r}{hint}")
