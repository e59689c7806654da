"""Steps on tp × pp identical devices joined by a link: the same interface as StepCost (`uniform`,
`iteration`, `warm`), so `generate` and `serve` run on several devices unchanged.

Per stage, one device's compute is a StepCost of the tensor/expert-parallel shard restricted to the
stage's layers (hwsim.serve.shard); every device of a tensor-parallel group does the same work.
Communication sits on the critical path, not overlapped: a tensor-parallel all-reduce separates two
dependent GEMMs (Megatron-LM's forward pass; vLLM and TensorRT-LLM run it between the kernels):
- per layer, all-reduces of the M new tokens' hidden vectors (hwsim.serve.shard.all_reduces) and, for
  expert-parallel MoE layers, dispatch + combine all-to-alls of the M·top-k routed vectors;
- stage 0: one all-reduce of the vocab-parallel embedding's output; last stage: an all-gather of the
  emitting sequences' logits (vocab × activation bytes each);
- between stages: a point-to-point send of the M hidden vectors.
Sums and the residual stream travel in 16 bits at least (all-reduces, the all-to-all combine, the logits, the
stage-to-stage send): a narrower activation format is applied at the next GEMM's input, as vLLM and TensorRT-LLM
quantize fp8/int8 activations (their tensor-parallel all-reduce sums RowParallelLinear's bf16/fp16 output); the
expert dispatch all-to-all carries the activation format (DeepEP and pplx-kernels dispatch fp8). Each collective
also costs the link's energy per bit of every byte
the devices send (hwsim.serve.links). Pipeline: an iteration's sequences are cut into m = min(pp, sequences)
micro-batches of about equal tokens that flow through the stages as in GPipe (Huang et al. 2019): stage s
starts micro-batch g when it has finished g − 1 and received g from stage s − 1; the bubble is the time
a stage waits. Micro-batches re-read the stage's weights, so in memory-bound decode they can lose: each
iteration takes whichever of one batch (m = 1) or m micro-batches finishes first. Energy: every device's compute joules + static power while it waits (communication and
bubbles), as the single-device replay charges idle time, + the links' joules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from hwsim.core.spec import Accelerator

from hwsim.core.precision import resolve_precision
from hwsim.engine import Precision
from hwsim.engine.per_op import for_model
from hwsim.errors import HwsimError
from hwsim.engine.attention import attention_form
from hwsim.serve.basis import build_basis
from hwsim.serve.links import Link
from hwsim.serve.shard import Parallel, all_reduces, shard_model, stage_ranges
from hwsim.serve.stepcost import Cost, StepCost
from hwsim.workload.config import ModelConfig


@dataclass(frozen=True)
class _Group:
    """One micro-batch: each stage's compute cost and the bytes it communicates."""

    compute: list  # per stage: Cost (arrays over the vectorised axis)
    tokens: np.ndarray  # new tokens M
    emit: np.ndarray  # sequences emitting a token


class ParallelStepCost:
    """Costs of steps of `model` on `par.tp × par.pp` devices of `arch` joined by `link`."""

    def __init__(
        self, arch: Accelerator, model: ModelConfig, precision: Precision | None, par: Parallel, link: Link | None
    ) -> None:
        par.validate()
        self.arch, self.model, self.par, self.link = arch, model, par, link
        self.precision = precision if precision is not None else Precision()  # weights None: the model's own
        act_bits = resolve_precision(for_model(model, self.precision)[0]).activations.bits
        self.act_bytes = act_bits / 8  # what the expert dispatch carries
        self.sum_bytes = max(act_bits, 16) / 8  # sums and the residual stream (module docstring)
        self.shard = shard_model(model, par)
        self.ranges = stage_ranges(model.layers, par.pp)
        basis = build_basis(self.shard, attention_form(arch))
        made: dict = {}
        self.stages: list[StepCost] = []
        for a, b in self.ranges:  # identical middle stages share one StepCost (same rows, same costs)
            key = (self.shard.blocks[a:b], a == 0, b == model.layers)
            if key not in made:
                made[key] = StepCost(arch, self.shard, self.precision, stage=(a, b), basis=basis)
            self.stages.append(made[key])
        counts = [np.sum([all_reduces(layer, par) for layer in self.shard.blocks[a:b]], axis=0) for a, b in self.ranges]
        self.reduces = np.array([int(c[0]) + (a == 0) for c, (a, _) in zip(counts, self.ranges)])
        self.a2a = np.array([int(c[1]) for c in counts])
        self.top_k = model.experts_per_token
        if par.devices > 1 and link is None:
            raise HwsimError("more than one device needs a link between them: give `link`", field="link")

    @property
    def devices(self) -> int:
        return self.par.devices

    @property
    def _link(self) -> Link:
        assert self.link is not None, "several devices without a link (the constructor refuses them)"
        return self.link

    # --- communication ---------------------------------------------------------------------------------
    def _comm(self, s: int, tokens: np.ndarray, emit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(seconds, link joules of the whole group) of stage s's tensor/expert-parallel collectives for one
        micro-batch."""
        tp = self.par.tp
        if tp == 1:
            zero = np.zeros_like(tokens, dtype=np.float64)
            return zero, zero
        hidden = tokens * self.model.hidden
        parts = [
            (self.reduces[s], "all_reduce", hidden * self.sum_bytes, tp),
            (self.a2a[s], "all_to_all", hidden * self.top_k * self.act_bytes, self.par.ep),  # dispatch
            (self.a2a[s], "all_to_all", hidden * self.top_k * self.sum_bytes, self.par.ep),  # combine
        ]
        if s == len(self.ranges) - 1:
            parts.append((1, "all_gather", emit * self.model.vocab * self.sum_bytes, tp))
        t = sum(k * self._link.seconds(kind, b, n) for k, kind, b, n in parts)
        j = sum(k * self._link.joules(kind, b, n) for k, kind, b, n in parts)
        return t, j

    def _send(self, tokens: np.ndarray) -> tuple[np.ndarray | float, np.ndarray | float]:
        """(seconds, joules) of passing the hidden vectors to the next stage: each tensor-parallel rank sends
        its copy."""
        if self.par.pp == 1:
            return 0.0 * tokens, 0.0 * tokens
        b = tokens * self.model.hidden * self.sum_bytes
        return self._link.send(b), self.par.tp * self._link.joules("send", b)

    def _combine(self, groups: list[_Group]) -> Cost:
        """GPipe schedule of the micro-batches over the stages: seconds and joules of all devices."""
        p = len(self.stages)
        free = [0.0] * p  # when each stage finishes its previous micro-batch
        busy = [0.0] * p
        joules = 0.0
        link: float | np.ndarray = 0.0  # per micro-batch arrays summed
        for g in groups:
            t = 0.0
            send, send_j = self._send(g.tokens)
            for s in range(p):
                comm, comm_j = self._comm(s, g.tokens, g.emit)
                t = np.maximum(t + (send if s else 0.0), free[s]) + (g.compute[s].seconds + comm)
                free[s] = t
                busy[s] = busy[s] + g.compute[s].seconds
                joules = joules + g.compute[s].energy_j
                link = link + comm_j + (send_j if s else 0.0)
        total = free[p - 1]
        idle = sum(total - b for b in busy)  # per device of each stage: waiting, sending, reducing
        static = float(self.arch.static_power_w)
        return Cost(total, self.par.tp * (joules + static * idle) + link)

    # --- the StepCost interface ------------------------------------------------------------------------
    def warm(self, prompts: ArrayLike) -> None:
        for st in dict.fromkeys(self.stages):
            st.warm(prompts)

    def uniform(self, batch: int, new: int, context: ArrayLike, logits: int = 1) -> Cost:
        """`batch` identical sequences, `new` tokens each over `context` cached ones (array); `logits`
        positions each through lm_head."""
        context = np.atleast_1d(np.asarray(context, dtype=np.int64))
        ones = np.ones_like(context)

        def split(m: int) -> Cost:
            sizes = [batch // m + (g < batch % m) for g in range(m)]
            by_size = {
                n: [c[id(st)] for st in self.stages]
                for n in dict.fromkeys(sizes)
                for c in [{id(st): st.uniform(n, new, context, logits) for st in dict.fromkeys(self.stages)}]
            }
            return self._combine([_Group(by_size[n], ones * n * new, ones * n * logits) for n in sizes])

        return self._faster(split(1), split(min(self.par.pp, batch)))

    def iteration(self, new: np.ndarray, context: np.ndarray, emit: ArrayLike) -> Cost:
        """One serving iteration (see StepCost.iteration); micro-batches of about equal tokens."""
        new = np.asarray(new, dtype=np.int64)
        context = np.asarray(context, dtype=np.int64)
        emit = np.asarray(emit)
        if emit.ndim == 0:  # a count: the first `emit` sequences stand for the emitting ones
            emit = np.arange(len(new)) < int(emit)
        if len(new) == 0:
            return Cost(0.0, 0.0)

        def split(m: int) -> Cost:
            cuts = np.searchsorted(np.cumsum(new), np.arange(1, m) * new.sum() / m, side="right")
            cuts = np.unique(np.clip(cuts, 1, len(new) - 1)) if m > 1 else np.zeros(0, np.int64)
            groups = []
            for idx in np.split(np.arange(len(new)), cuts):
                n_, c_, e_ = new[idx], context[idx], emit[idx]
                comp = {id(st): st.iteration(n_, c_, e_) for st in dict.fromkeys(self.stages)}
                groups.append(
                    _Group(
                        [comp[id(st)] for st in self.stages], np.asarray(float(n_.sum())), np.asarray(float(e_.sum()))
                    )
                )
            return self._combine(groups)

        out = self._faster(split(1), split(min(self.par.pp, len(new))))
        return Cost(float(out.seconds), float(out.energy_j))

    @staticmethod
    def _faster(one: Cost, many: Cost) -> Cost:
        """The schedule an engine would pick: the whole batch at once, or micro-batches when they pipeline
        to an earlier finish (element-wise over the vectorised axis)."""
        pick = np.asarray(many.seconds) < np.asarray(one.seconds)
        return Cost(np.where(pick, many.seconds, one.seconds), np.where(pick, many.energy_j, one.energy_j))


def machine_cost(
    arch: Accelerator,
    model: ModelConfig,
    precision: Precision | None,
    par: Parallel | None = None,
    link: Link | None = None,
) -> "StepCost | ParallelStepCost":
    """The step coster of one device, or of tp × pp devices (ParallelStepCost)."""
    par = par or Parallel()
    if par == Parallel():
        return StepCost(arch, model, precision)
    return ParallelStepCost(arch, model, precision, par, link)
