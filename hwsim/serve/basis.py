"""Op rows of a model as exact polynomials of the step's shape, so thousands of step shapes are costed
in one engine call instead of one trace + evaluate each.

A step is split into three row classes, found by comparing traces (not by op names, so it follows the
workload module as it changes):

- token rows (embedding, linears, norms, …): functions of M, the tokens in the step, affine;
- sequence rows (lm_head with logits on the last token): functions of S, the sequences that emit a token;
- context rows (attention): functions of (b, t, s) = (sequences, new tokens each, keys attended each),
  multilinear in b, t, s. A context row whose columns grow only with terms that contain b is one op over
  the concatenated sequences of a step (`RowSet.batched`: MLA's kv_b_proj over the cached latents, q_absorb
  and v_up over the new tokens); the others (attention proper) run per sequence.

A model whose steps of one new token per sequence run ops of their own (MLA: the absorbed decode form) has
two sets of context rows, one per form (`Basis.one` for one token per sequence, `Basis.context` for several),
each fitted on traces of its own form.

Every fit is checked exactly (integer columns) on held-out shapes; `Basis.exact` is False when a column is
not of that form (MoE routing is piecewise in M) or a row runs at some shapes only (MoE's `experts_rest`), and callers
then build real traces per shape instead.
"""

from __future__ import annotations

import functools
import itertools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from hwsim.core.ops import INT_COLUMNS
from hwsim.errors import HwsimWarning
from hwsim.workload import kv, trace
from hwsim.workload.config import ModelConfig
from hwsim.workload.trace import MAX_COUNT, too_large_to_count

_INTS = list(INT_COLUMNS)


def _trace_form(model: ModelConfig, b: int, t: int, c: int, attention: str = "unfused") -> pd.DataFrame:
    # the fit's own probe shapes reach past every window (to w + 1000): beyond a model whose window is its trained
    # length (Phi-3.5-MoE: both 131072) trace's context warning would be about no context the caller asked for; the
    # caller's own span is warned about by generate / replay
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*context \+ new tokens = .* is beyond its", category=HwsimWarning)
        return trace(model, "prefill", batch=b, seq=t, context=c, attention=attention).ops.set_index("name")


@dataclass(frozen=True)
class RowSet:
    """Unique rows of one class: their text columns, multiplicity (identical layers) and polynomial
    coefficients of every integer column over `terms` (e.g. 1, M)."""

    frame: pd.DataFrame  # text columns of the unique rows (name, layer, kind, op, …)
    mult: np.ndarray  # (R,) occurrences of each unique row in the model
    coef: np.ndarray  # (R, n_terms, n_int_columns) exact rationals stored as float64
    exact: bool
    member: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (N,) unique row of each model row
    where: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (N,) layer; −1 before, L after
    names: tuple = ()  # (N,) op name of each model row
    terms: tuple = ()  # context rows: the product of shape variables ("b", "t", "s") each coefficient multiplies
    # windowed layers (sliding window, chunked attention): keys attended = min(s, window) (see `rows_at`)
    window: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (R,) keys limit; 0: none
    beyond: np.ndarray | None = None  # (2, R, n_terms, C) coefficients over (b, t, s − window): see `rows_at`

    def mult_of(self, keep: np.ndarray) -> np.ndarray:
        """Multiplicities counting only the model rows where `keep` (bool over `where`) holds: one
        pipeline stage's share of every unique row."""
        return np.bincount(self.member[keep], minlength=len(self.frame)).astype(np.float64)

    def rows(self, terms: np.ndarray) -> pd.DataFrame:
        """Rows for K shapes: `terms` is (K, n_terms); returns K × R rows, shape-major (every row within its
        window, if any: `rows_at` costs shapes beyond it)."""
        return self._frame(np.einsum("kt,rtc->krc", terms, self.coef))

    def rows_at(self, b: ArrayLike, t: ArrayLike, s: ArrayLike) -> pd.DataFrame:
        """Rows for K groups of b sequences, t new tokens each, over s keys each (arrays), K × R rows."""
        return self._frame(self.values(b, t, s))

    def values(self, b: ArrayLike, t: ArrayLike, s: ArrayLike) -> np.ndarray:
        """(K, R, C) integer columns (as floats) of K shapes. A row of a windowed layer (window W) is piecewise:
        its polynomial in (b, t, s) while s ≤ W (every key in the window); beyond, each query sees W keys while
        the step's queries between them read min(s, W + t − 1) (hwsim.workload.layer_ops.attention_core), two
        pieces each fitted as a polynomial in (b, t, s − W): `beyond[0]` while W < s < W + t − 1, `beyond[1]`
        from s ≥ W + t − 1 on (for one new token, s > W)."""
        b, t, s = (np.atleast_1d(np.asarray(x, dtype=np.float64)) for x in (b, t, s))
        vals = np.einsum("kt,rtc->krc", self.at(b, t, s), self.coef)
        if self.beyond is None:
            return vals
        for w in np.unique(self.window[self.window > 0]):
            far = s > w
            if not far.any():
                continue
            rows = self.window == w
            shifted = self.at(b[far], t[far], s[far] - w)
            piece = np.where(s[far] < w + t[far] - 1, 0, 1)[:, None, None]
            mid, end = (np.einsum("kt,rtc->krc", shifted, self.beyond[i][rows]) for i in (0, 1))
            vals[np.ix_(far, rows)] = np.where(piece == 0, mid, end)
        return vals

    def _frame(self, vals: np.ndarray) -> pd.DataFrame:
        k = len(vals)
        vals = np.rint(vals).reshape(-1, len(_INTS))
        within = vals <= MAX_COUNT  # as trace() refuses a count it cannot hold exactly (not one cast to garbage)
        if not within.all():
            row, col = (int(i) for i in np.argwhere(~within)[0])
            raise too_large_to_count(_INTS[col], str(self.frame["name"].iloc[row % len(self)]), float(vals[row, col]))
        vals = vals.astype(np.int64)
        take = np.tile(np.arange(len(self)), k)  # text columns taken as they are stored (no re-conversion)
        cols = {c: self.frame[c].array.take(take) for c in self.frame.columns}
        cols.update({c: vals[:, j] for j, c in enumerate(_INTS)})
        return pd.DataFrame(cols)

    def __len__(self) -> int:
        return len(self.frame)

    def at(self, b: ArrayLike, t: ArrayLike, s: ArrayLike) -> np.ndarray:
        """(K, n_terms) values of `terms` for K groups of b sequences, t new tokens each, over s keys each."""
        return _term_values(self.terms, b, t, s)

    def batched(self) -> np.ndarray:
        """(R,) rows that are one op over all the sequences of a step: every column is a constant plus terms that
        contain b (a linear over their concatenated tokens, as MLA's kv_b_proj), so the rows of sequences
        1…n are the rows at the sum of their terms (`summed`). Attention itself is not (its m is t, its keys s)."""
        per_seq = np.array([bool(term) and "b" not in term for term in self.terms], dtype=bool)
        windowed = self.window > 0 if len(self.window) else np.zeros(len(self), dtype=bool)
        return np.asarray(~np.round(self.coef[:, per_seq, :], 9).any(axis=(1, 2)) & ~windowed)

    def summed(self, t: np.ndarray, s: np.ndarray) -> np.ndarray:
        """(1, n_terms) terms of sequences with t[i] new tokens over s[i] keys each as one group: the sum of
        their terms where a term contains b, 1 for the constant, 0 elsewhere (what `batched` rows use)."""
        own = self.at(np.ones_like(t), t, s).sum(axis=0)
        keep = np.array([term == () or "b" in term for term in self.terms], dtype=bool)
        return np.where(keep, np.where([term == () for term in self.terms], 1.0, own), 0.0)[None, :]

    def subset(self, keep: np.ndarray) -> "RowSet":
        """The unique rows where `keep` (bool over R), with the model rows they stand for."""
        number = np.cumsum(keep) - 1
        rows = keep[self.member]
        return replace(
            self,
            frame=self.frame[keep].reset_index(drop=True),
            mult=self.mult[keep],
            coef=self.coef[keep],
            window=self.window[keep] if len(self.window) else self.window,
            beyond=self.beyond[:, keep] if self.beyond is not None else None,
            member=number[self.member[rows]],
            where=self.where[rows],
            names=tuple(n for n, r in zip(self.names, rows) if r),
        )


def _solve(
    samples: list[tuple[tuple, pd.DataFrame]], names: pd.Index, term_fn: Callable[..., Sequence[float] | np.ndarray]
) -> np.ndarray:
    """(R, n_terms, C): the integer columns of every row of `names` as a linear combination of term_fn(shape)."""
    X = np.array([term_fn(*s) for s, _ in samples], dtype=np.float64)  # (n_samples, n_terms)
    Y = np.stack([df.loc[names, _INTS].to_numpy(np.float64) for _, df in samples])  # (n_samples, R, C)
    sol = (
        np.linalg.solve(X, Y.reshape(len(samples), -1))
        if X.shape[0] == X.shape[1]
        else np.linalg.lstsq(X, Y.reshape(len(samples), -1), rcond=None)[0]
    )
    return sol.reshape(X.shape[1], len(names), len(_INTS)).transpose(1, 0, 2)


Beyond = Callable[[int], tuple[list[tuple[tuple, pd.DataFrame]], list[tuple[tuple, pd.DataFrame]]]]


def _fit(
    samples: list[tuple[tuple, pd.DataFrame]],
    checks: list[tuple[tuple, pd.DataFrame]],
    term_fn: Callable[..., Sequence[float] | np.ndarray],
    terms: tuple = (),
    limits: Sequence[int] = (),
    beyond: Beyond | None = None,
    formats: Callable[[Sequence[str]], list[str] | None] | None = None,
) -> RowSet:
    """Solve the integer columns of every row as a linear combination of term_fn(shape); check the
    fit on `checks`. Rows are deduplicated on their coefficients (identical layers → one row), and on the weight
    format `formats` gives each row that reads weights (a checkpoint's layers stored in different formats).
    Context rows (`terms`, term_fn = their values at (b, t, s)) of windowed layers (`limits`: the window of
    each layer, 0 for none) are fitted beyond each window w on beyond(w)'s samples too: (w < s < w + t − 1,
    s ≥ w + t − 1), as polynomials in (b, t, s − w) (RowSet.values)."""
    # the rows of every sample, in order of first appearance: a row absent from a shape is one whose presence
    # depends on the shape (MoE's `experts_rest` exists only where the top-k assignments split unevenly over the
    # experts), no polynomial of the shape, so the fit is marked inexact below (its columns are fitted as zeros there)
    names = functools.reduce(lambda a, b: a.union(b, sort=False), (df.index for _, df in samples))
    varies = any(not df.index.equals(names) for _, df in samples)
    filled = [(s, df[_INTS].reindex(names, fill_value=0) if varies else df) for s, df in samples]
    coef = _solve(filled, names, term_fn)
    text = pd.concat([df.drop(columns=_INTS) for _, df in samples])
    text = text[~text.index.duplicated()].loc[names].reset_index()
    key = pd.DataFrame(np.round(coef.reshape(len(names), -1), 9)).astype(str).agg("|".join, axis=1)
    layer = text["layer"].to_numpy(np.int64)
    window = np.array([limits[i] if 0 <= i < len(limits) else 0 for i in layer], dtype=np.int64)
    window[text["name"].astype(str).str.contains(kv.UNBOUNDED_ROWS).to_numpy(bool)] = 0  # they read every key
    far = None
    if beyond is not None and (window > 0).any():
        far = np.stack([coef, coef])
        for w in np.unique(window[window > 0]).tolist():
            mid, end = beyond(w)
            shifted = functools.partial(_shifted, term_fn, w)
            far[1, window == w] = _solve(end, names, shifted)[window == w]
            # no new-token term (one token per sequence): s > w is all in the second piece
            far[0, window == w] = _solve(mid, names, shifted)[window == w] if mid else far[1, window == w]
        pieces = np.round(far.transpose(1, 0, 2, 3).reshape(len(names), -1), 9)
        key = key + "|" + pd.Series(window).astype(str) + "|" + pd.DataFrame(pieces).astype(str).agg("|".join, axis=1)
    else:
        window = np.zeros(0, np.int64)
    key = key + "|" + text["kind"].astype(str)
    own = formats(text["name"].astype(str).tolist()) if formats is not None else None
    if own is not None:
        weighted = np.round(coef[:, :, _INTS.index("weight_elems")], 9).any(axis=1)
        key = key + "|" + pd.Series(np.where(weighted, np.asarray(own, dtype=object), ""), index=key.index)
    first = ~key.duplicated()
    member = pd.factorize(key)[0].astype(np.int64)  # unique rows numbered in order of first appearance
    mult = np.bincount(member).astype(np.float64)
    keep = first.to_numpy()
    rs = RowSet(
        frame=text[keep].reset_index(drop=True),
        mult=mult,
        coef=coef[keep],
        exact=True,
        member=member,
        where=layer,
        names=tuple(text["name"]),
        terms=terms,
        window=window[keep] if len(window) else window,
        beyond=far[:, keep] if far is not None else None,
    )
    if varies:
        return replace(rs, exact=False)
    for s, df in checks:
        if not df.index.equals(names):
            return replace(rs, exact=False)
        if terms:
            pred = rs.values(*s)[0]
        else:
            pred = np.einsum("t,rtc->rc", np.asarray(term_fn(*s), dtype=np.float64), rs.coef)
        if not np.array_equal(np.rint(pred)[member], df.loc[names, _INTS].to_numpy(np.float64)):
            return replace(rs, exact=False)
    return rs


def _shifted(term_fn: Callable[..., Sequence[float] | np.ndarray], w: int, b: float, t: float, s: float) -> np.ndarray:
    return np.asarray(term_fn(b, t, s - w), dtype=np.float64)


def _token_terms(m: float) -> tuple[float, float]:
    return (1.0, m)


CTX_TERMS = tuple(c for r in range(4) for c in itertools.combinations("bts", r))  # multilinear in b, t, s
ONE_TERMS = ((), ("b",), ("s",), ("b", "s"))  # one new token per sequence (t = 1)


def _term_values(terms: tuple, b: ArrayLike, t: ArrayLike, s: ArrayLike) -> np.ndarray:
    """Products of the shape variables named by `terms`, at one shape (scalars) or K (arrays, → (K, n_terms))."""
    v = {
        "b": np.asarray(b, dtype=np.float64),
        "t": np.asarray(t, dtype=np.float64),
        "s": np.asarray(s, dtype=np.float64),
    }
    return np.stack(
        [functools.reduce(np.multiply, [v[x] for x in term]) if term else np.ones_like(v["b"]) for term in terms],
        axis=-1,
    )


@dataclass(frozen=True)
class Basis:
    """The three row classes of one model (see the module docstring)."""

    model: ModelConfig
    token: RowSet
    seq: RowSet
    context: RowSet  # with `one`: the context rows of steps of several new tokens per sequence
    names: dict  # class → frozenset of op names in a real trace (for costing real traces by class)
    head: frozenset = frozenset()  # names of the rows before the first layer (embeddings)
    one: RowSet | None = None  # context rows of one-token steps when those run ops of their own (MLA's absorbed decode)

    @property
    def forms(self) -> bool:
        """Steps of one new token per sequence run ops of their own (rows in `one`)."""
        return self.one is not None

    @property
    def exact(self) -> bool:
        return self.token.exact and self.seq.exact and self.context.exact and (self.one is None or self.one.exact)

    def form(self, one: bool) -> RowSet:
        """The context rows of steps of one new token per sequence (`one`) or of several."""
        return self.one if one and self.one is not None else self.context

    def token_rows(self, m: np.ndarray) -> pd.DataFrame:
        m = np.asarray(m, dtype=np.float64)
        return self.token.rows(np.stack([np.ones_like(m), m], axis=1))

    def seq_rows(self, s: np.ndarray) -> pd.DataFrame:
        s = np.asarray(s, dtype=np.float64)
        return self.seq.rows(np.stack([np.ones_like(s), s], axis=1))

    def context_rows(self, b: np.ndarray, t: np.ndarray, s: np.ndarray) -> pd.DataFrame:
        """Attention rows for K groups of b sequences with t new tokens attending over s keys each (`context`:
        with forms, the form of several new tokens)."""
        return self.context.rows_at(b, t, s)


def build_basis(model: ModelConfig, attention: str = "unfused") -> Basis:
    """Classify and fit the rows of `model` (a dozen small traces), attention in the form the machine runs it
    (hwsim.engine.attention). A pure function of its (frozen) inputs, memoised: a sweep replays one model on
    many machines, and the basis was most of each replay's setup. A quantized checkpoint's rows of ops stored
    in different formats stay apart (each is costed at its own: hwsim.serve.stepcost)."""
    return _build_basis(model, attention, model.weight_formats)  # the formats are no part of a model's equality


@functools.lru_cache(maxsize=16)
def _build_basis(model: ModelConfig, attention: str, _formats: object) -> Basis:
    _trace = functools.partial(_trace_form, attention=attention)
    fmts = model.op_weight_formats if model.weight_formats is not None else None
    base = _trace(model, 1, 2, 0)
    other_ctx = _trace(model, 1, 2, 5)
    other_split = _trace(model, 2, 1, 0)

    def diff(other: pd.DataFrame) -> np.ndarray:  # rows of base that differ in `other`, or that it lacks
        both = base.index.isin(other.index)
        out = np.ones(len(base), dtype=bool)
        out[both] = (base.loc[both, _INTS] != other.loc[base.index[both], _INTS]).any(axis=1).to_numpy()
        return out

    # a step form with ops of its own (MLA decode absorbs W_UK when every sequence adds one token): rows that
    # only some shapes run are context rows, and each form's are fitted on its own shapes (no polynomial spans both)
    own = other_split.index.union(other_ctx.index, sort=False).difference(base.index, sort=False)
    varies = len(own) > 0 or not (base.index.isin(other_split.index).all() and base.index.isin(other_ctx.index).all())
    ctx_mask = diff(other_ctx) | ~base.index.isin(other_split.index)
    seq_mask = ~ctx_mask & diff(other_split)
    tok_mask = ~ctx_mask & ~seq_mask
    ctx_names, seq_names, tok_names = (base.index[m] for m in (ctx_mask, seq_mask, tok_mask))

    # a class's rows in a probe trace: sequence and context rows by name, token rows every row the other two do not
    # name (as StepCost splits a real trace). A row that only some shapes run (MoE's `experts_rest`, only where the
    # top-k assignments split unevenly over the experts) is then in its class's fit, and its absence from the other
    # shapes marks that fit inexact (`_fit`); one the base shapes lack is a token row, as StepCost costs it
    ctx_all = ctx_names.append(own)
    seen: set[str] = set()

    def pick(df: pd.DataFrame, cls: str) -> pd.DataFrame:
        seen.update(df.index)
        if cls == "token":
            return df[~df.index.isin(seq_names.append(ctx_all))]
        return df[df.index.isin(seq_names if cls == "seq" else ctx_all)]

    tok = _fit(
        [((m,), pick(_trace(model, 1, m, 0), "token")) for m in (1, 2)],
        [((m,), pick(_trace(model, 1, m, 0), "token")) for m in (3, 29, 301)],
        _token_terms,
        formats=fmts,
    )
    # sequence rows: S sequences of one token each (decode), where token rows are M = S as well
    seq = _fit(
        [((s,), pick(_trace(model, s, 1, 0), "seq")) for s in (1, 2)],
        [((s,), pick(_trace(model, s, 1, 0), "seq")) for s in (3, 17)],
        _token_terms,
        formats=fmts,
    )

    # the window of each layer's attention (sliding window or chunk; 0: every key): rows of windowed layers are
    # piecewise in s (RowSet.values), each piece fitted and checked on shapes of its own
    limits = [getattr(layer.attention, "limit", None) or 0 for layer in model.blocks]

    def traced(pts: list[tuple[int, int, int]]) -> list[tuple[tuple, pd.DataFrame]]:
        return [(p, pick(_trace(model, p[0], p[1], p[2] - p[1]), "context")) for p in pts]

    def fit_context(terms: tuple, ts: tuple, checks: tuple) -> RowSet:
        pts = [(b, t, t + c) for b in (1, 2) for t in ts for c in (0, 1)]
        several = any("t" in term for term in terms)

        def beyond(w: int) -> tuple[list, list]:  # shapes of the two pieces past window w (RowSet.values)
            mid = [(b, t, w + 1 + e) for b in (1, 2) for t in (4, 5) for e in (0, 1)] if several else []
            end = [(b, t, w + t - 1 + e) for b in (1, 2) for t in ts for e in (0, 1)]
            return traced(mid), traced(end)

        held = list(checks)
        for w in sorted({x for x in limits if x}):  # both sides of every window, each piece, far beyond
            # one new token is the one-token form's when it has its own (MLA decode), not this fit's
            news = tuple(t for t in (1, 4, 64, 300) if t > 1 or not varies) if several else (1,)
            held += [(3, t, w + d) for t in news for d in (0, 1, t - 1, t, 1000) if w + d >= t]
        return _fit(
            traced(pts),
            traced(held),
            lambda b, t, s: _term_values(terms, b, t, s),
            terms=terms,
            limits=limits,
            beyond=beyond,
            formats=fmts,
        )

    # with a one-token form of its own, each form's context rows are fitted on shapes of that form
    ctx = fit_context(CTX_TERMS, (2, 3) if varies else (1, 2), ((3, 5, 40), (1, 64, 1000)))
    one = None
    if varies:
        one = fit_context(ONE_TERMS, (1,), ((3, 1, 40), (1, 1, 1000), (5, 1, 77)))
    # a row some context or sequence probe ran that no class names (nor the token probes saw): a shape-dependent row
    # the token polynomial lacks, so token rows are costed from real traces (where StepCost counts it as a token row)
    if not seen <= set(tok.names).union(seq_names, ctx_all):
        tok = replace(tok, exact=False)
    names = {"token": frozenset(tok_names), "seq": frozenset(seq_names), "context": frozenset(ctx_all)}
    layer = base["layer"].to_numpy()
    inner = np.flatnonzero(layer >= 0)
    first_layer = int(inner[0]) if len(inner) else len(layer)
    head = frozenset(base.index[:first_layer][layer[:first_layer] < 0])

    def placed(rs: RowSet) -> RowSet:  # edge rows: −1 before the layers (embeddings), L after (lm_head)
        edge = np.array([n in head for n in rs.names], dtype=bool)
        where = np.where(rs.where >= 0, rs.where, np.where(edge, -1, model.layers))
        return replace(rs, where=where)

    return Basis(
        model=model,
        token=placed(tok),
        seq=placed(seq),
        context=placed(ctx),
        names=names,
        head=head,
        one=placed(one) if one is not None else None,
    )
