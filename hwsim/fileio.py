"""Reading user files (YAML or JSON) into a top-level mapping, with one-line errors; where output files go."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
from pathlib import Path
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import yaml

from hwsim.errors import HwsimError

if TYPE_CHECKING:  # pandas is imported by whoever has a table to write; only its type here
    import pandas as pd

# libyaml's safe loader when PyYAML was built with it (same documents, ~10× faster), else the pure-Python one
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _SAFE_LOADER(_FAST_LOADER):  # type: ignore[valid-type,misc]
    """The safe loader, refusing a key given twice in one mapping: YAML keeps the last silently, so a second
    `sweep:` or `clock:` would drop the first without a word. Merge keys (<<) may still be overridden."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[tuple[str, str], int] = {}
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                if (key.tag, key.value) in seen:
                    line = seen[key.tag, key.value] + 1
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key.value!r} given twice (also at line {line}): keep one", key.start_mark
                    )
                seen[key.tag, key.value] = key.start_mark.line
        return super().construct_mapping(node, deep=deep)


def read_mapping(path: str | Path, *, what: str = "file") -> dict:
    """Parse a YAML (or, by suffix, JSON) file whose top level must be a mapping."""
    path = Path(path)
    is_json = path.suffix == ".json"
    text = read_text(path, what=what)
    data = parse_text(text, path, is_json=is_json)
    if not isinstance(data, dict):
        raise HwsimError(f"{what} must be a {'JSON object' if is_json else 'YAML mapping'} at the top level", file=path)
    return data


def read_text(path: str | Path, *, what: str = "file", form: str = "YAML or JSON") -> str:
    """A user's text file as UTF-8, with one-line errors (missing, unreadable, not UTF-8); `form` is what the
    file should hold, as the not-UTF-8 error says it."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HwsimError("no such file", file=path) from None
    except OSError as exc:
        raise HwsimError(f"cannot read: {os_reason(exc)}", file=path) from None
    except UnicodeDecodeError as exc:
        hint = " (for a checkpoint, give its folder with config.json)" if path.suffix == ".safetensors" else ""
        raise HwsimError(
            f"not a text file (not UTF-8 at byte {exc.start}): {what} must be {form} saved as UTF-8{hint}",
            file=path,
        ) from None


# a user file bigger than this once YAML aliases are expanded is refused (an alias "bomb": a few lines that
# expand to billions of values, which validation or an error message would otherwise try to walk or print)
MAX_VALUES = 1_000_000
MAX_DEPTH = 200  # parsers recurse per level; real configs nest fewer than 10 levels


class KeyTwice(Exception):
    """A JSON object gives `key` twice (json_object)."""

    def __init__(self, key: str) -> None:
        self.key = key


def json_object(pairs: list[tuple[str, Any]]) -> dict:
    """A JSON object, refusing a key given twice: json keeps the last silently (a config.json edited by hand with a
    second "hidden_size" costed that one), as the YAML loader refuses it."""
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise KeyTwice(k)
        out[k] = v
    return out


def parse_text(text: str, path: str | Path, *, is_json: bool = False) -> Any:
    """YAML (or JSON) text → Python data, with one-line errors for syntax, nesting depth and alias bombs."""
    if text.count("[") + text.count("{") > MAX_DEPTH and _flow_depth(text) > MAX_DEPTH:
        raise HwsimError(f"nested too deeply (more than {MAX_DEPTH} lists or mappings inside each other)", file=path)
    try:
        data = json.loads(text, object_pairs_hook=json_object) if is_json else yaml.load(text, Loader=_SAFE_LOADER)
    except json.JSONDecodeError as exc:
        raise HwsimError(f"not valid JSON at line {exc.lineno}: {exc.msg}", file=path) from None
    except KeyTwice as exc:
        raise HwsimError(f"key {exc.key!r} given twice in one object: keep one", file=path, field=exc.key) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None)
        if problem and "nesting depth" in problem:  # libyaml's own depth limit (the C loader)
            raise HwsimError(
                "nested too deeply (lists or mappings inside each other thousands of levels down)", file=path
            ) from None
        raise HwsimError(
            f"invalid YAML{f' at line {mark.line + 1}' if mark else ''}{f': {problem}' if problem else ''}", file=path
        ) from None
    except RecursionError:
        raise HwsimError(
            "nested too deeply (lists or mappings inside each other thousands of levels down)", file=path
        ) from None
    except ValueError as exc:  # a value the parser matched but Python cannot build: 2024-13-45, a 5000-digit integer
        raise HwsimError(f"cannot read a value: {value_error(exc)}", file=path) from None
    check_size(data, path)
    return data


def value_error(exc: ValueError) -> str:
    """A parser's ValueError in a user's words (Python's integer-digits limit names sys.set_int_max_str_digits)."""
    if "integer string conversion" in str(exc):
        return f"an integer of more than {sys.get_int_max_str_digits()} digits"
    return str(exc)


def parse_scalar(text: str) -> object:
    """A command-line value read as a YAML scalar would be ('64' → 64, 'true' → True, '[1, 2]' → a list);
    text that is no such scalar ('1 GHz', bad YAML) stays text."""
    try:
        out = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError):  # ValueError: 2024-13-45, an integer of over 4300 digits
        return text
    return out if isinstance(out, (int, float, bool, str, list)) and out is not None else text


def _flow_depth(text: str) -> int:
    """Deepest nesting of [ ] and { } (quotes ignored: an over-estimate is only ever a few levels)."""
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(0, depth - 1)
    return deepest


def check_size(data: object, path: str | Path) -> None:
    """Refuse data that expands (through shared YAML aliases) to more than MAX_VALUES values, or refers to
    itself. Counts each shared node once per use without expanding it, so the check itself is cheap."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()
    if not isinstance(data, (dict, list)):
        return
    stack: list[tuple[dict | list, bool]] = [(data, False)]
    while stack:
        node, closing = stack.pop()
        kids: list = [*node.values(), *node.keys()] if isinstance(node, dict) else node
        if closing:
            open_.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes.get(id(k), 1) for k in kids)
            if sizes[id(node)] > MAX_VALUES:
                raise HwsimError(
                    f"expands to more than {MAX_VALUES:,} values (YAML aliases &/* used over and over?)", file=path
                )
            continue
        if id(node) in sizes:
            continue
        open_.add(id(node))
        stack.append((node, True))
        for k in kids:
            if isinstance(k, (dict, list)):
                if id(k) in open_:
                    raise HwsimError("a YAML alias refers to a value that contains it (a loop)", file=path)
                stack.append((k, False))


def input_path(path: str | os.PathLike[str], *, field: str | None = None) -> Path:
    """A file or folder a command reads. An empty name (an unset shell variable) is refused here: Path('') is
    the current folder, and the errors it led to ('.: cannot read: Is a directory') named neither."""
    if not str(path).strip():
        raise HwsimError("an empty file or folder name, got ''", field=field)
    try:
        os.stat(path)
    except OSError as exc:  # a missing or unreadable file is the reader's to say; Path.exists/is_dir raise on this one
        if exc.errno == errno.ENAMETOOLONG:
            raise HwsimError(
                "name too long to be a file (file systems allow 255 bytes a name, 4096 a path)", file=path, field=field
            ) from None
    except ValueError:  # an embedded NUL byte
        raise HwsimError("a file name cannot contain a NUL character", field=field) from None
    return Path(path)


def os_reason(exc: OSError) -> str:
    """Why an OS call failed, in words ('No space left on device'), never 'None'."""
    return exc.strerror or str(exc) or type(exc).__name__


TMP_MARK = ".tmp-"  # in the name of every temporary an atomic write makes (a sweep's next run removes leftovers)


def temporary_sibling(path: str | os.PathLike[str], suffix: str = "") -> str:
    """Where an atomic write of `path` goes before its os.replace: `<path>.tmp-<pid><suffix>` beside it (same
    file system), so that what a killed writer leaves is recognisable by TMP_MARK."""
    return f"{os.fspath(path)}{TMP_MARK}{os.getpid()}{suffix}"


def atomic_write(
    path: str | os.PathLike[str],
    write: Callable[[str], object],
    *,
    suffix: str = "",
    what: str = "",
    hint: str = "",
    field: str | None = None,
) -> None:
    """`write(tmp)` into a temporary sibling of `path`, then os.replace it there: neither a reader nor a writer
    killed at any moment leaves half a file at `path` (a killed one leaves its temporary, TMP_MARK in its name).
    A full disk or a read-only folder is one HwsimError line, "cannot write{what}: reason{hint}", and leaves no
    temporary."""
    path = os.fspath(path)
    tmp = temporary_sibling(path, suffix)
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise HwsimError(f"cannot write{what}: {os_reason(exc)}{hint}", file=path, field=field) from None
    finally:
        try:
            os.remove(tmp)
        except OSError:
            pass


def atomic_write_text(path: str | os.PathLike[str], text: str, *, hint: str = "", field: str | None = None) -> None:
    """A UTF-8 text file, written whole or not at all (atomic_write)."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), hint=hint, field=field)


def atomic_write_table(
    df: pd.DataFrame, path: str | os.PathLike[str], fmt: str = "parquet", *, hint: str = "", field: str | None = None
) -> None:
    """A table as Parquet or CSV, written whole or not at all (atomic_write).

    Bytes depend only on the table: no index, no timestamps, fixed compression.
    """

    def write(tmp: str) -> None:
        if fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(df, preserve_index=False)
            pq.write_table(table, tmp, compression="zstd", write_statistics=False)
        elif fmt == "csv":
            df.to_csv(tmp, index=False, lineterminator="\n", float_format=None)
        else:  # pragma: no cover - validated earlier
            raise ValueError(fmt)

    atomic_write(path, write, hint=hint, field=field)


def prepare_output(path: str | Path, *, field: str | None = None, inputs: Iterable[str | Path] = ()) -> Path:
    """Make the parent folder of an output file (results/x.png works in a fresh clone), and drop what killed
    writes of it left there; one-line errors. `inputs`: files the command reads, which the output must not
    replace (`calibrate --out` naming its own measurements CSV overwrote it with a YAML preset)."""
    if not str(path).strip():
        raise HwsimError("an output file name is needed, got ''", field=field)
    path = Path(path)
    parent = path.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HwsimError(f"cannot create folder {parent}: {os_reason(exc)}", file=path, field=field) from None
    if not os.access(parent, os.W_OK):
        raise HwsimError(f"cannot write: folder {parent} is not writable", file=path, field=field)
    special = os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path)
    if special or parent == Path("/dev"):  # /dev/stdout is a link to a file when the shell redirects it
        # a device or pipe (/dev/stdout, /dev/full): the atomic write's rename would replace it with a file (as root)
        raise HwsimError(
            "is a device, a pipe or in /dev: an output is written beside its path and renamed onto it, which would "
            "replace the device; give a file name",
            file=path,
            field=field,
        )
    for src in inputs:  # after the mkdir: 'new/../x.csv' names x.csv only once new/ exists
        if os.path.exists(src) and os.path.exists(path) and os.path.samefile(src, path):  # a name too long: False
            raise HwsimError(
                f"is the input {src}: writing it would destroy it; give another file", file=path, field=field
            )
    _drop_left_temporaries(path)
    return path


def _drop_left_temporaries(path: Path) -> None:
    """The temporaries of `path` that writers killed mid-write left (their process is gone), so that a rerun
    leaves the folder an uninterrupted run would; a live writer's temporary stays."""
    import glob

    for tmp in path.parent.glob(f"{glob.escape(path.name)}{TMP_MARK}*"):
        pid = tmp.name[len(path.name) + len(TMP_MARK) :].split(".")[0]
        if pid.isdigit() and not _running(int(pid)):
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def scratch_folder(prefix: str) -> Iterator[str]:
    """A new folder `<prefix><pid>-<random>` in the system's temp folder, removed with what it holds when the
    block ends. Folders of `prefix` whose process is gone (SIGKILL skips the removal) are removed first, as
    prepare_output drops killed writers' temporaries; a live process's folder stays."""
    import shutil
    import tempfile

    for left in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        pid = left.name[len(prefix) :].split("-")[0]
        if pid.isdigit() and not _running(int(pid)) and left.is_dir():
            shutil.rmtree(left, ignore_errors=True)  # another user's stays where its rights say so
    with tempfile.TemporaryDirectory(prefix=f"{prefix}{os.getpid()}-") as folder:
        yield folder


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # exists, another user's
        return True
    return True
