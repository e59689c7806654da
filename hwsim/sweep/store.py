"""The on-disk state of a sweep: one Parquet part per finished task, a manifest, and the final files.

Every file is written to a temporary name and os.replace'd, so a SIGKILL leaves either a whole
part or none. Resume trusts exactly the parts that exist; the manifest's fingerprint guards
against resuming with a different study.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hwsim.errors import HwsimError
from hwsim.fileio import TMP_MARK, atomic_write_table, atomic_write_text, os_reason

MANIFEST = "manifest.json"
LOCK = ".hwsim-sweep.lock"
_HELD: set[int] = set()  # lock fds this process holds (forked workers close their copies)
RESUME_HINT = "; the finished parts are kept: fix it and rerun with `resume`"
_PART = re.compile(r"^part-(\d{7})\.parquet$")


class Store:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.parts = self.root / "parts"

    # --- manifest ---------------------------------------------------------------------------
    def read_manifest(self) -> dict | None:
        try:
            manifest = json.loads((self.root / MANIFEST).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise HwsimError(
                f"unreadable sweep manifest ({exc}); run without `resume` to start over", file=self.root / MANIFEST
            ) from None
        if not isinstance(manifest, dict):  # a list there was an AttributeError traceback on resume
            raise HwsimError(
                "unreadable sweep manifest (not a JSON object); run without `resume` to start over",
                file=self.root / MANIFEST,
            )
        return manifest

    def write_manifest(self, manifest: dict) -> None:
        atomic_write_text(self.root / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n", hint=RESUME_HINT)

    # --- one sweep per folder -----------------------------------------------------------------
    def lock(self) -> None:
        """Hold an exclusive lock on the folder until this process exits; a second sweep there refuses."""
        import fcntl

        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise HwsimError(f"cannot create output folder: {os_reason(exc)}", file=self.root) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise HwsimError(
                "another hwsim sweep is writing to this folder; wait for it to finish or give another `out_dir`",
                file=self.root,
            ) from None
        self._lock_fd: int | None = fd  # released by unlock() or when the process ends
        _HELD.add(fd)

    def unlock(self) -> None:
        fd = getattr(self, "_lock_fd", None)
        if fd is not None:
            _HELD.discard(fd)
            os.close(fd)
            self._lock_fd = None

    # --- parts ------------------------------------------------------------------------------
    def prepare(self, *, fresh: bool) -> None:
        """Create the folders; drop half-written temporaries, and every old part unless resuming."""
        try:
            self.parts.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HwsimError(f"cannot create output folder: {os_reason(exc)}", file=self.root) from None
        self.drop_temporaries()
        if fresh:
            self.drop_parts(keep_folder=True)

    def drop_temporaries(self) -> None:
        """What a killed run was writing (a part, the results, the front, the plot, the manifest): never read."""
        for p in _entries(self.root) + _entries(self.parts):
            if TMP_MARK in p.name:
                p.unlink()

    def part_path(self, task_id: int) -> Path:
        return self.parts / f"part-{task_id:07d}.parquet"

    def done(self) -> set[int]:
        return {int(m.group(1)) for p in self.parts.iterdir() if (m := _PART.match(p.name))}

    def write_part(self, task_id: int, table: pd.DataFrame) -> None:
        atomic_write_table(table, self.part_path(task_id), hint=RESUME_HINT)

    def read_parts(self, ids: Iterable[int]) -> pd.DataFrame:
        """Parts in task order; columns are the union in order of first appearance (designs may
        sweep different parameters: a column a part lacks is null there)."""
        tables = [pq.read_table(self.part_path(i)) for i in sorted(ids)]
        if not tables:
            return pd.DataFrame()
        # permissive: one design may sweep compute.rows as [16, 32] (int64), another as [16.0, 32.0] (double)
        return pa.concat_tables(tables, promote_options="permissive").to_pandas()

    def drop_parts(self, *, keep_folder: bool = False) -> None:
        """Every part (once the results hold them, or to start over); the parts folder too unless `keep_folder`."""
        for p in _entries(self.parts):
            if _PART.match(p.name):
                p.unlink()
        if not keep_folder:
            try:
                self.parts.rmdir()
            except OSError:
                pass


def _entries(folder: Path) -> list[Path]:
    """The files in `folder`; none when it does not exist (the parts folder of a finished sweep)."""
    try:
        return list(folder.iterdir())
    except FileNotFoundError:
        return []


def release_inherited_locks() -> None:
    """In a forked worker: drop the copies of the parent's folder locks, so that a killed parent's lock
    dies with it rather than with its last worker."""
    while _HELD:
        try:
            os.close(_HELD.pop())
        except OSError:
            pass
