"""Seconds and joules of one model step of any shape, from the analytical engine, cached by shape.

A step's cost is the sum of its ops' costs (the engine costs ops independently), so it splits into
token rows at M = all new tokens, sequence rows (lm_head) at S = sequences emitting a token, and
attention rows per group of sequences sharing (new tokens, context). Shapes are costed in blocks, one
`hwsim.engine.evaluate` call per block of hundreds of shapes, from the exact row polynomials of
hwsim.serve.basis. A batch of sequences with different contexts runs its attention as one varlen
kernel (as paged-attention serving stacks do), with one op's fixed latency (the engine's cost of an empty op:
the launch overhead on GPUs, 0 elsewhere) instead of one per sequence. The sequences adding one token
(decode) are one op whose work is all of theirs and whose thread blocks share the machine (`decode_batch`):
the engine's op of n sequences at their mean context, exact when the contexts are equal (the real batch-n
decode trace), and otherwise each sequence's own cost scaled by what batching saves at the mean. Prompt
chunks and speculative verifications are each costed as their own sequence's attention. Context rows that
are one op over the concatenated sequences (every column a constant plus terms in b: MLA's kv_b_proj,
q_absorb, v_up; hwsim.serve.basis.RowSet.batched) run once per iteration at the sum of the sequences'
terms, not per sequence.

A model whose one-token steps run ops of their own (MLA's absorbed decode) runs each iteration in both forms,
as vLLM's MLA does: the sequences adding one token in the one-token form (absorbed: q_absorb and v_up batched
over their tokens, one varlen attention kernel over the latent cache), the others in the form of several
tokens (kv_b_proj batched over all their cached and new tokens, one varlen attention kernel); the rows both
forms share (token rows, lm_head) run once over all the iteration's tokens.

The composition is checked against a direct evaluation of real traces at construction. A family whose
op costs depend on the whole trace (PIM arrays keep every weight resident only when all of them fit),
or a row class that is not polynomial in the shape (MoE routing is piecewise in M), is costed from
real traces per shape instead: exact, slower. A class that is not polynomial has its rows alone evaluated
(`_traced_rows`: the trace built in the machine's attention form); when op costs depend on the whole trace,
every class is costed from whole traces (`whole`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from hwsim.core.spec import Accelerator

from hwsim.engine import Precision
from hwsim.engine.attention import attention_form
from hwsim.engine.per_op import for_model, own_formats, per_op_columns
from hwsim.serve.basis import Basis, RowSet, build_basis
from hwsim.workload import trace
from hwsim.workload.trace import COLUMNS, Trace
from hwsim.workload.config import ModelConfig

BLOCK = 512  # shapes per engine call when filling a dense cost table
DECODE_BLOCK = 128  # mean contexts per engine call when filling the batched-decode table of one batch size
DECODE_NEAR = 8  # … and of the batch sizes within this many of it, in the same call
DENSE_MAX = 1 << 20  # a dense table fills every index below the largest asked for, up to this many (16 MB)
CHECK_RTOL = 1e-9
CLASSES = ("token", "seq", "context")
_COLUMNS = ("name", "seconds", "energy_j")  # what a step's cost reads of the engine's per-op columns


@dataclass(frozen=True)
class Cost:
    seconds: np.ndarray | float
    energy_j: np.ndarray | float

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.seconds + other.seconds, self.energy_j + other.energy_j)


@dataclass(frozen=True)
class _Rows:
    rows: RowSet
    mult: np.ndarray  # multiplicities of its unique rows in this stage


@dataclass(frozen=True)
class _Form:
    """Context rows of one step form: all of them (a step of identical sequences), those run per sequence (one
    varlen kernel), and those run once over the iteration's sequences of this form (None: none)."""

    whole: _Rows
    per_seq: _Rows
    batched: _Rows | None
    used: np.ndarray  # (n_terms,) terms the batched rows depend on


class _Table:
    """Cost of a one-parameter family of shapes (index 0, 1, 2, …). Dense: filled block by block
    (one engine call each); sparse: only the indices asked for (one real trace each)."""

    def __init__(self, fill: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], dense: bool) -> None:
        self._fill, self.dense = fill, dense  # fill(indices ndarray) -> (seconds, joules) arrays
        self.sec, self.j = np.zeros(0), np.zeros(0)
        self._memo: dict[int, tuple[float, float]] = {}

    def __call__(self, idx: ArrayLike) -> Cost:
        idx = np.asarray(idx, dtype=np.int64)
        top = int(idx.max(initial=0))
        # dense while the indices asked for are a fair share of the range filled (a prompt of 2^31 tokens would
        # otherwise fill 2^31 entries to read one)
        if self.dense and top < max(DENSE_MAX, 4 * idx.size):
            if top >= len(self.sec):
                lo, hi = len(self.sec), (top // BLOCK + 1) * BLOCK
                s, j = self._fill(np.arange(lo, hi))
                self.sec, self.j = np.concatenate([self.sec, s]), np.concatenate([self.j, j])
            return Cost(self.sec[idx], self.j[idx])
        missing = sorted({int(i) for i in idx.ravel()} - self._memo.keys())
        if missing:
            s, j = self._fill(np.array(missing, dtype=np.int64))
            self._memo.update({m: (s[i], j[i]) for i, m in enumerate(missing)})
        vals = np.array([self._memo[int(i)] for i in idx.ravel()], dtype=np.float64).reshape(*idx.shape, 2)
        return Cost(vals[..., 0], vals[..., 1])


def _scaled(own: float, alone: tuple, batch: tuple, fixed: float, n: int, r: int) -> float:
    """The per-sequence rule `own` (each sequence's cost summed, one launch for all n) × what one op of n
    sequences saves at their mean keys: batch / per-sequence rule at the two whole means around it (`alone`:
    one sequence's cost at each), interpolated at r / n of the way between them."""
    gain = [b / (n * a - (n - 1) * fixed) if n * a - (n - 1) * fixed > 0 else 1.0 for a, b in zip(alone, batch)]
    return (gain[0] + r / n * (gain[1] - gain[0])) * (own - (n - 1) * fixed)


class StepCost:
    """Costs of steps of `model` on `arch` at `precision` (hwsim.engine.evaluate underneath; weights None: each op at
    the checkpoint's own format, hwsim.engine.per_op)."""

    def __init__(
        self,
        arch: Accelerator,
        model: ModelConfig,
        precision: Precision | None = None,
        *,
        stage: tuple[int, int] | None = None,
        basis: Basis | None = None,
        batched_decode: bool = True,
    ) -> None:
        """`stage` = (first layer, end layer): cost only those layers, plus the embeddings when the stage
        starts at layer 0 and the final norm / lm_head when it ends at the last (one pipeline stage).
        `batched_decode=False`: an iteration's one-token sequences run their attention as if each ran alone
        (one launch less per extra sequence), the rule before the batched one (see `iteration`)."""
        self.arch, self.model = arch, model
        self.batched_decode = batched_decode
        # weights None: each op at the checkpoint's own format, `_main` the format most of its ops store
        self.precision, self._main = for_model(model, precision)
        self.basis: Basis = basis if basis is not None else build_basis(model, attention_form(arch))
        a, b = stage if stage is not None else (0, model.layers)
        self.stage = (a, b)
        self._lo, self._hi = (-1 if a == 0 else a), (model.layers + 1 if b == model.layers else b)
        self._mult = {c: getattr(self.basis, c).mult_of(self._keeps(getattr(self.basis, c).where)) for c in CLASSES}
        # context rows per step form, keyed by "one new token per sequence" (one key without forms)
        self._forms = {
            one: self._form(self.basis.form(one)) for one in ((False, True) if self.basis.forms else (False,))
        }
        self.evaluations = 0
        exact = {c: getattr(self.basis, c).exact for c in CLASSES}
        exact["context"] = all(f.whole.rows.exact for f in self._forms.values())
        self._setup(exact)
        # one varlen attention kernel per form and iteration: the fixed cost (launch) of its per-sequence rows
        self.fixed = self._zero_cost(self._forms[False].per_seq)
        self.fixed_one = self._zero_cost(self._forms[True].per_seq) if self.basis.forms else self.fixed
        # the attention rows one-token sequences run per sequence, by window (0: none): each window class is
        # costed at its own mean keys (a windowed layer's decode keys are min(s, window))
        per = self._forms[self.basis.forms].per_seq
        window = per.rows.window if len(per.rows.window) else np.zeros(len(per.rows), dtype=np.int64)
        self._windows = np.unique(window)
        self._class_mult = np.where(window[:, None] == self._windows[None, :], per.mult[:, None], 0.0)
        self._class_fixed = [
            (float(f.seconds), float(f.energy_j))
            for f in (self._zero_cost(_Rows(per.rows, m)) for m in self._class_mult.T)
        ]
        self._window_list = self._windows.tolist()
        # each sequence alone, per window class (one class: the decode_attention table itself)
        self._single = (
            [self.decode_attention]
            if self._window_list == [0]
            else [_Table(functools.partial(self._fill_single, c), True) for c in range(len(self._windows))]
        )
        self.check_error = self._check()
        if self.check_error > CHECK_RTOL and (any(self.polynomial.values()) or not self.whole):
            self._setup({c: False for c in CLASSES}, whole=True)  # op costs depend on the whole trace: real traces
            self.check_error = self._check()

    def _form(self, rows: RowSet) -> _Form:
        whole = _Rows(rows, rows.mult_of(self._keeps(rows.where)))
        batched = rows.batched()
        if not batched.any():
            return _Form(whole, whole, None, np.zeros(len(rows.terms), dtype=bool))
        per_seq, once = (_Rows(r, r.mult_of(self._keeps(r.where))) for r in map(rows.subset, (~batched, batched)))
        return _Form(whole, per_seq, once, np.asarray(np.round(once.rows.coef, 9).any(axis=(0, 2))))

    def _keeps(self, where: np.ndarray) -> np.ndarray:
        return (where >= self._lo) & (where < self._hi)

    def _in_stage(self, ops: pd.DataFrame) -> np.ndarray:
        """Rows of a costed trace that belong to this stage (layer rows are named `layers.<i>.…`)."""
        names = ops["name"].astype(str)
        layer = pd.to_numeric(names.str.extract(r"^layers\.(\d+)\.", expand=False), errors="coerce").to_numpy()
        edge = np.where(names.isin(self.basis.head), -1, self.model.layers)
        where = np.where(np.isnan(layer), edge, np.nan_to_num(layer)).astype(np.int64)
        return self._keeps(where)

    def _setup(self, polynomial: dict[str, bool], whole: bool = False) -> None:
        """`polynomial`: the classes costed from their row polynomials; the others from real traces per shape,
        each class's own rows evaluated alone (`_traced_rows`), or, with `whole`, the whole trace evaluated (op
        costs that depend on the whole trace)."""
        self.polynomial, self.whole = polynomial, whole
        self._stage_of: dict[str, str] = {}  # op name → its class, "" outside this stage (names recur across shapes)
        self._memo: dict[tuple[int, int, int], tuple[float, float]] = {}
        self._seq_memo: dict[tuple[int, int, int], tuple[float, float]] = {}
        self._batched_memo: dict[tuple, tuple[float, float]] = {}
        # rows run once over the iteration's sequences are costed apart only from their polynomials
        self._split = polynomial["context"] and any(f.batched is not None for f in self._forms.values())
        self._trace_memo: dict[tuple[int, int, int], dict[str, tuple[float, float]]] = {}
        self.token = _Table(lambda m: self._fill("token", m), polynomial["token"])
        self.seq = _Table(lambda s: self._fill("seq", s), polynomial["seq"])
        self.decode_attention = _Table(self._fill_decode_attention, True)
        # batched decode attention: batch size → block → (seconds, joules) per mean context and window class
        self._decode_table: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    # --- engine calls ------------------------------------------------------------------------------
    def _evaluate(self, ops: Trace | pd.DataFrame) -> dict[str, np.ndarray]:
        """Name, seconds and joules of each op of `ops` (a trace, or rows of steps) as the engine costs them at this
        coster's precision: every engine call of the coster. A quantized checkpoint whose precision leaves the
        weights to it has each op at its own format (hwsim.engine.per_op, as hwsim simulate costs it)."""
        self.evaluations += 1
        with np.errstate(divide="ignore", invalid="ignore"):
            # formats None: every op at the precision's weights, the checkpoint's own activations still per op
            formats = own_formats(ops, self.model, self._main) if self._main is not None else None
            return per_op_columns(self.arch, ops, self.precision, formats, _COLUMNS, self.model)

    def _evaluate_rows(self, rows: pd.DataFrame, mult: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Seconds and joules of k shapes' rows (shape-major) weighted by `mult` ((R,) → (k,); (R, C) → (k, C))."""
        cost = self._evaluate(rows)
        return (cost["seconds"].reshape(k, -1) @ mult, cost["energy_j"].reshape(k, -1) @ mult)

    def _fill(self, cls: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xs = np.maximum(x, 1)  # index 0 (no tokens / no emitting sequence) costs nothing
        if self.polynomial[cls]:
            make = self.basis.token_rows if cls == "token" else self.basis.seq_rows
            sec, j = self._evaluate_rows(make(xs), self._mult[cls], len(xs))
        else:
            shape = (lambda v: (1, v, 0)) if cls == "token" else (lambda v: (v, 1, 0))
            if self.whole:
                sec, j = np.array([self._by_trace(*shape(int(v)))[cls] for v in xs]).reshape(-1, 2).T
            else:
                sec, j = self._traced_rows(cls, [shape(int(v)) for v in xs])
        return np.where(x > 0, sec, 0.0), np.where(x > 0, j, 0.0)

    def _traced_rows(self, cls: str, shapes: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """Seconds and joules of class `cls`'s rows (this stage's) of real traces of `shapes` (b, t, c), all in
        one engine call: each trace built in the form the machine runs it, its other rows left out. The rows
        of each shape are summed in their trace order as `_by_trace` sums them (the same floats)."""
        form = attention_form(self.arch)
        parts = []
        for b, t, c in shapes:
            ops = trace(self.model, "prefill", batch=b, seq=t, context=c, attention=form).op_arrays()
            keep = self._rows_of(cls, ops["name"])
            parts.append({col: np.asarray(ops[col])[keep] for col in COLUMNS})
        rows = pd.DataFrame({col: np.concatenate([p[col] for p in parts]) for col in COLUMNS})
        cost = self._evaluate(rows)
        bounds = np.cumsum([0] + [len(p["name"]) for p in parts])
        # np.nansum of each shape's slice: the floats pandas' Series.sum gives (`_by_trace`), bit for bit
        sec, j = (
            np.array([np.nansum(v[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])], dtype=np.float64)
            for v in (cost["seconds"], cost["energy_j"])
        )
        return sec, j

    def _rows_of(self, cls: str, names: ArrayLike) -> np.ndarray:
        """(N,) bool: the rows named `names` (a real trace's) of class `cls` in this stage (as `_by_trace` splits)."""
        listed: list[str] = np.asarray(names).tolist()
        new = [n for n in dict.fromkeys(listed) if n not in self._stage_of]
        if new:
            keep = self._in_stage(pd.DataFrame({"name": new})).tolist()
            named = self.basis.names
            of = ["context" if n in named["context"] else "seq" if n in named["seq"] else "token" for n in new]
            self._stage_of.update({n: c if k else "" for n, c, k in zip(new, of, keep)})
        return np.array([self._stage_of[n] == cls for n in listed], dtype=bool)

    def _by_trace(self, b: int, t: int, c: int) -> dict[str, tuple[float, float]]:
        """Per-class cost of one real trace (the exact fallback)."""
        key = (b, t, c)
        if key not in self._trace_memo:
            ops = pd.DataFrame(self._evaluate(trace(self.model, "prefill", batch=b, seq=t, context=c)))
            ops = ops[self._in_stage(ops)]
            ctx = ops["name"].isin(self.basis.names["context"])
            seq = ops["name"].isin(self.basis.names["seq"])
            self._trace_memo[key] = {
                cls: (float(ops.loc[m, "seconds"].sum()), float(ops.loc[m, "energy_j"].sum()))
                for cls, m in (("context", ctx), ("seq", seq), ("token", ~ctx & ~seq))
            }
        return self._trace_memo[key]

    def _fill_decode_attention(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = self._per_seq(np.ones_like(s), np.ones_like(s), np.maximum(s, 1))
        return np.where(s > 0, out.seconds, 0.0), np.where(s > 0, out.energy_j, 0.0)

    def _fill_single(self, c: int, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One-token per-sequence rows of window class c, one sequence over s keys."""
        rows = self._forms[self.basis.forms].per_seq.rows
        s = np.maximum(s, 1)
        return self._evaluate_rows(rows.rows_at(np.ones_like(s), np.ones_like(s), s), self._class_mult[:, c], len(s))

    def _zero_cost(self, r: _Rows) -> Cost:
        sec, j = self._evaluate_rows(r.rows.rows(np.zeros((1, r.rows.coef.shape[1]))), r.mult, 1)
        return Cost(float(np.nan_to_num(sec[0])), float(np.nan_to_num(j[0])))

    def _context(self, memo: dict, part: str, b: ArrayLike, t: ArrayLike, s: ArrayLike) -> Cost:
        """Context rows (`part` of each step's form: "whole" or "per_seq") of groups of b sequences, t new tokens
        each, over s keys each (arrays); memoised per shape in `memo`."""
        b, t, s = (np.atleast_1d(np.asarray(x, dtype=np.int64)) for x in (b, t, s))
        keys = list(zip(b.tolist(), t.tolist(), s.tolist()))
        missing = sorted({k for k in keys if k not in memo})
        for one, form in self._forms.items() if missing and self.polynomial["context"] else ():
            group = [k for k in missing if (k[1] == 1) == one] if self.basis.forms else missing
            if group:
                r = getattr(form, part)
                mb, mt, ms = (np.array(v) for v in zip(*group))
                sec, j = self._evaluate_rows(r.rows.rows_at(mb, mt, ms), r.mult, len(group))
                memo.update({k: (sec[i], j[i]) for i, k in enumerate(group)})
        for k in missing if not self.polynomial["context"] else ():
            memo[k] = self._by_trace(k[0], k[1], k[2] - k[1])["context"]
        vals = np.array([memo[k] for k in keys]).reshape(-1, 2)
        return Cost(vals[:, 0], vals[:, 1])

    def _per_seq(self, b: ArrayLike, t: ArrayLike, s: ArrayLike) -> Cost:
        """The context rows an iteration runs per sequence (its varlen attention kernels)."""
        return self._context(self._seq_memo, "per_seq", b, t, s) if self._split else self.attention(b, t, s)

    def _batched(self, one: bool, t: np.ndarray, s: np.ndarray) -> Cost:
        """The rows of form `one` run once over all its sequences of an iteration (t[i] new tokens over s[i]
        keys each): their rows at the sum of the sequences' terms, memoised on the terms they use."""
        form = self._forms[one]
        if not self._split or form.batched is None or not len(t):
            return Cost(0.0, 0.0)
        terms = np.where(form.used, form.batched.rows.summed(t, s), 0.0)
        key = (one, *terms[0].tolist())
        if key not in self._batched_memo:
            sec, j = self._evaluate_rows(form.batched.rows.rows(terms), form.batched.mult, 1)
            self._batched_memo[key] = (float(sec[0]), float(j[0]))
        return Cost(*self._batched_memo[key])

    def _decode_rows(self, n: int, k: int, c: int) -> tuple[float, float, float, float]:
        """Seconds at k and k + 1 keys, joules at k and k + 1, of window class c's one-token per-sequence rows at
        b = n sequences over that many keys each: one engine call fills DECODE_BLOCK mean contexts of one n."""
        out = []
        for kk in (k, k + 1):
            blk, i = divmod(kk, DECODE_BLOCK)
            if (n, blk) not in self._decode_table:
                # batch sizes near n too (a running batch gains or loses a sequence at a time), in the same call
                ns = [
                    m for m in range(max(n - DECODE_NEAR, 1), n + DECODE_NEAR + 1) if (m, blk) not in self._decode_table
                ]
                s = np.tile(np.arange(blk * DECODE_BLOCK, (blk + 1) * DECODE_BLOCK, dtype=np.int64).clip(1), len(ns))
                b = np.repeat(np.array(ns, dtype=np.int64), DECODE_BLOCK)
                rows = self._forms[self.basis.forms].per_seq.rows.rows_at(b, np.ones_like(s), s)
                sec_all, j_all = self._evaluate_rows(rows, self._class_mult, len(s))
                for i_n, m in enumerate(ns):
                    part = slice(i_n * DECODE_BLOCK, (i_n + 1) * DECODE_BLOCK)
                    self._decode_table[m, blk] = (sec_all[part], j_all[part])
            sec, j = self._decode_table[n, blk]
            out.append((float(sec[i, c]), float(j[i, c])))
        return out[0][0], out[1][0], out[0][1], out[1][1]

    def decode_batch(self, s: np.ndarray) -> Cost:
        """The per-sequence attention rows of n one-token sequences over s[i] keys each as ONE op (one varlen
        kernel, as a serving engine runs them), whose thread blocks are all of theirs together. Its cost is the
        per-sequence rule (each sequence's own op, one launch for all) scaled by what running n sequences as one
        op saves at their mean keys: the engine's op of n sequences at S / n keys each over the per-sequence rule
        at that mean, interpolated linearly between the two whole means around S / n. Exact when the contexts are
        equal (the real batch-n decode trace's rows); it keeps each sequence's own block padding. Each window
        class (a windowed layer's decode keys are min(s, window)) at its own keys."""
        n = len(s)
        sec = j = 0.0
        for c, w in enumerate(self._window_list):
            keys = np.minimum(s, w) if w else s
            lo, r = divmod(int(keys.sum()), n)
            one, top = self._single[c], max(int(keys.max()), lo + 1)
            if top >= len(one.sec):
                one(np.array([top]))  # fills the dense table up to top (far beyond DENSE_MAX: memoises it alone)
            if top < len(one.sec):
                own = (float(one.sec[keys].sum()), float(one.j[keys].sum()))
                mean = ((float(one.sec[lo]), float(one.sec[lo + 1])), (float(one.j[lo]), float(one.j[lo + 1])))
            else:
                v = one(np.append(keys, (lo, lo + 1)))
                vs, vj = np.asarray(v.seconds), np.asarray(v.energy_j)
                own = (float(vs[:n].sum()), float(vj[:n].sum()))
                mean = ((float(vs[n]), float(vs[n + 1])), (float(vj[n]), float(vj[n + 1])))
            b0s, b1s, b0j, b1j = self._decode_rows(n, lo, c)
            fs, fj = self._class_fixed[c]
            sec += _scaled(own[0], mean[0], (b0s, b1s), fs, n, r)
            j += _scaled(own[1], mean[1], (b0j, b1j), fj, n, r)
        return Cost(sec, j)

    # --- public costs ------------------------------------------------------------------------------
    def attention(self, b: ArrayLike, t: ArrayLike, s: ArrayLike) -> Cost:
        """Context rows (attention; with forms, the ops of the step's form) of groups of b sequences, t new
        tokens each, over s keys each (arrays): what they cost in a step of those b sequences alone."""
        return self._context(self._memo, "whole", b, t, s)

    def warm(self, prompts: ArrayLike) -> None:
        """Cost whole-prompt prefills of these lengths in one engine call (a replay's common shapes)."""
        p = np.unique(np.asarray(prompts, dtype=np.int64))
        self._per_seq(np.ones_like(p), p, p)

    def uniform(self, batch: int, new: int, context: ArrayLike, logits: int = 1) -> Cost:
        """Steps of `batch` sequences with `new` tokens each over `context` cached tokens (array): what the
        engine gives `trace(model, 'prefill', batch, seq=new, context=c)`, for every c at once. `logits`:
        positions per sequence that go through lm_head (speculative verification: all new ones)."""
        context = np.atleast_1d(np.asarray(context, dtype=np.int64))
        att = self.attention(np.full_like(context, batch), np.full_like(context, new), context + new)
        return att + self.token(batch * new) + self.seq(batch * logits)

    def iteration(self, new: np.ndarray, context: np.ndarray, emit: ArrayLike) -> Cost:
        """One serving iteration: sequence i adds new[i] tokens over context[i] cached ones; `emit`
        sequences produce a token (lm_head rows): a count, or a bool per sequence. The attention of the sequences
        adding one token is one op over all of them (`decode_batch`; with forms, in the one-token form); each
        other sequence's attention is costed as its own, all in one varlen kernel per form (one launch)."""
        emit = int(np.sum(emit))
        new = np.asarray(new, dtype=np.int64)
        context = np.asarray(context, dtype=np.int64)
        n = len(new)
        if n == 0:
            return Cost(0.0, 0.0)
        decode = new == 1
        n_dec = int(decode.sum())
        batched = self.batched_decode and self.polynomial["context"] and n_dec > 0
        if batched:
            dec = self.decode_batch(context[decode] + 1)
            att_s, att_j = float(dec.seconds), float(dec.energy_j)
        else:
            dec = self.decode_attention(context[decode] + 1)
            att_s, att_j = float(np.sum(dec.seconds)), float(np.sum(dec.energy_j))
        if n_dec < n:
            ones = np.ones(n - n_dec, dtype=np.int64)
            pre = self._per_seq(ones, new[~decode], context[~decode] + new[~decode])
            att_s += float(np.sum(pre.seconds))
            att_j += float(np.sum(pre.energy_j))
        # the sequences of each form (with forms: one-token sequences in the one-token form)
        forms = ((True, decode), (False, ~decode)) if self.basis.forms else ((False, np.ones(n, dtype=bool)),)
        for one, sel in forms if self._split else ():
            once = self._batched(one, new[sel], context[sel] + new[sel])
            att_s, att_j = att_s + float(once.seconds), att_j + float(once.energy_j)
        # one varlen kernel per form that has sequences: one launch, not one per costed op (each sequence's, or
        # the one-token sequences' batched op)
        dec_ops = 1 if batched else n_dec
        if self.basis.forms:
            spare = [(dec_ops, self.fixed_one), (n - n_dec, self.fixed)]
        else:
            spare = [(dec_ops + n - n_dec, self.fixed)]
        tok, seq = self.token(int(new.sum())), self.seq(emit)
        return Cost(
            float(tok.seconds) + float(seq.seconds) + att_s - sum((k - 1) * f.seconds for k, f in spare if k),
            float(tok.energy_j) + float(seq.energy_j) + att_j - sum((k - 1) * f.energy_j for k, f in spare if k),
        )

    def _check(self) -> float:
        """Largest relative difference between the composed cost and a direct evaluation of real traces."""
        err = 0.0
        for b, t, c in ((1, 7, 5), (3, 1, 40)):
            ops = pd.DataFrame(self._evaluate(trace(self.model, "prefill", batch=b, seq=t, context=c)))
            ops = ops[self._in_stage(ops)]
            ours = self.uniform(b, t, c)
            for got, want in (
                (np.asarray(ours.seconds)[0], ops["seconds"].sum()),
                (np.asarray(ours.energy_j)[0], ops["energy_j"].sum()),
            ):
                err = max(err, abs(got - want) / max(abs(want), 1e-30))
        return err
