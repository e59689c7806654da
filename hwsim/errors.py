"""One exception family for user errors: the CLI prints them as one line and exits 2."""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable, Mapping


MAX_MESSAGE = 600
# a message whose point is a list of every valid name (the supported model types) may run longer, still one line
MAX_LIST_MESSAGE = 2000


class HwsimError(Exception):
    """Bad user input (file, field or value). Message names where and what is allowed."""

    def __init__(self, message: str, *, file: object | None = None, field: str | None = None, limit: int = MAX_MESSAGE):
        self.file = None if file is None else str(file)
        self.field = field
        self.detail = message
        self.limit = limit
        where = ": ".join(p for p in (self.file, field) if p)
        text = f"{where}: {message}" if where else message
        # one readable line: a huge value (a pasted table, a long path) is cut, newlines are spaces
        text = " ".join(text.split("\n"))
        super().__init__(text if len(text) <= limit else text[: limit - 1] + "…")

    def renamed(self, names: Mapping[str, str], hints: Mapping[str, str] | None = None) -> HwsimError:
        """This error under the caller's names (a library parameter → the option that sets it): its field,
        plus that name's hint, and every parameter its message mentions as `name` (backquoted); itself
        when `names` renames none of them."""
        detail = _MENTION.sub(lambda m: names.get(m[1], m[0]), self.detail)
        new = names.get(self.field or "")
        if new is None and detail == self.detail:
            return self
        if new is not None:
            detail += (hints or {}).get(new, "")
        return HwsimError(detail, file=self.file, field=new or self.field, limit=self.limit)


# a library parameter named inside a message: `kv_blocks`, `precision.weights`
_MENTION = re.compile(r"`([A-Za-z_][\w.]*)`")


class HwsimWarning(UserWarning):
    """Input hwsim accepts but a reader should know about (the CLI prints it as one 'warning:' line)."""


def check_seed(seed: object, field: str = "seed") -> int:
    """A random seed as given by a user: a non-negative integer (numpy refuses negative ones mid-run)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise HwsimError(f"must be a non-negative integer, got {seed!r}", field=field)
    return int(seed)


def closest(name: str, choices: Iterable[object], n: int = 3) -> str:
    """A ' (did you mean …?)' suffix listing the closest valid names, or ''."""
    import difflib

    hits = difflib.get_close_matches(str(name), [str(c) for c in choices], n=n, cutoff=0.5)
    return f" (did you mean {', '.join(hits)}?)" if hits else ""
