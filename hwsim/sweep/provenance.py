"""What a results folder records about how it was made (manifest.json `provenance`): the hwsim version, the
git commit of a clone (with a dirty flag), the command line, a SHA-256 of every input file (the study, the
arch presets and model files it names) and the machine. Result tables stay byte-identical across machines:
only the manifest carries this."""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hwsim.study.schema import Study


def _sha256(path: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def git_commit() -> str | None:
    """HEAD of the clone hwsim runs from (None for an installed wheel), '+dirty' with uncommitted changes."""
    from hwsim.paths import REPO_ROOT

    if not (REPO_ROOT / ".git").exists():
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def input_files(study: Study) -> dict[str, Path]:
    """The files a study reads: itself, each arch preset, each file a model is read from (hwsim.workload.config.
    model_files, the loader's own rule: a checkpoint folder's config.json and its ModelOpt hf_quant_config.json)."""
    from hwsim.errors import HwsimError
    from hwsim.paths import resolve_preset
    from hwsim.workload.config import model_files

    files = {"study": Path(study.file)}
    for d in study.designs:
        try:
            files[f"arch:{d.preset}"] = resolve_preset(d.preset, "archs", what="arch")
        except HwsimError:
            continue
    for w in study.workloads:
        try:
            main, *more = model_files(w.model)  # the loader's own list: a checkpoint's hf_quant_config.json too
        except (HwsimError, OSError):
            continue
        files[f"model:{w.model}"] = main
        files.update({f"model:{w.model}:{f.name}": f for f in more})
    return files


def provenance(study: Study) -> dict:
    from hwsim import __version__

    return {
        "hwsim_version": __version__,
        "git_commit": git_commit(),
        "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else None,
        "inputs": {k: {"path": str(p), "sha256": _sha256(p)} for k, p in input_files(study).items()},
        "machine": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
    }
