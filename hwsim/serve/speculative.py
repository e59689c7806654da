"""Speculative decoding (Leviathan, Kalman & Matias, "Fast Inference from Transformers via Speculative
Decoding", ICML 2023): a draft model proposes k tokens one by one, the target model verifies all of them
in one step (k + 1 positions, logits on each) and keeps the longest accepted prefix plus one token of its
own. With each draft token accepted independently with probability α (the paper's assumption, §3.1),
the tokens one round yields are 1 + min(k, G) with G geometric, and their mean is the paper's Eq. (1):
E = (1 − α^(k+1)) / (1 − α) (k + 1 when α = 1).

`generate` uses that mean (a deterministic expected-value round schedule); the serving scheduler draws
each sequence's accepted count from the same distribution with a seeded generator.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING
from dataclasses import dataclass

import numpy as np

from hwsim.errors import HwsimError
from hwsim.serve.generate import Generation, check_generation
from hwsim.serve.stepcost import Cost, StepCost

if TYPE_CHECKING:
    from hwsim.serve.parallel import ParallelStepCost


def expected_tokens(alpha: float, k: int) -> float:
    """Mean tokens per target step (Leviathan et al. 2023, Eq. 1)."""
    return float(k + 1) if alpha >= 1 else (1 - alpha ** (k + 1)) / (1 - alpha)


# draft tokens per step (assumed bound: drafts in use propose a few to a few dozen tokens per step; each one is a draft
# step of every round, so k = 10^4 took ~2 min of a tiny model's `hwsim generate`, and 10^20 overflowed int64)
MAX_SPEC_TOKENS = 256


def check_speculation(k: object, alpha: object) -> None:
    """Refuse a draft length that is not an integer in 1..MAX_SPEC_TOKENS or an acceptance rate outside [0, 1]."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise HwsimError(f"must be a positive integer, got {k!r}", field="k")
    if k > MAX_SPEC_TOKENS:
        raise HwsimError(f"must be at most {MAX_SPEC_TOKENS} draft tokens per step, got {k:.3g}", field="k")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise HwsimError(f"must lie in [0, 1], got {alpha!r}", field="alpha")


@dataclass(frozen=True)
class Speculation:
    """A draft model's step costs (a StepCost on the same device), k draft tokens, acceptance rate α."""

    draft: StepCost
    k: int = 4
    alpha: float = 0.7
    seed: int = 0

    def validate(self) -> None:
        check_speculation(self.k, self.alpha)

    def accepted(self, rng: np.random.Generator, limit: np.ndarray) -> np.ndarray:
        """Draft tokens accepted for sequences that proposed `limit` each: leading successes of
        Bernoulli(α) trials, at most `limit`."""
        limit = np.asarray(limit, dtype=np.int64)
        if self.alpha >= 1:
            return limit
        if self.alpha <= 0:
            return np.zeros_like(limit)
        return np.minimum(rng.geometric(1 - self.alpha, size=limit.shape) - 1, limit)

    def round_cost(self, new: np.ndarray, context: np.ndarray, decoding: np.ndarray, proposals: np.ndarray) -> Cost:
        """The draft's work in one serving iteration: it prefills the same prompt chunks as the target
        (no logits) and runs its proposal steps for the decoding sequences."""
        total = self.draft.iteration(new[~decoding], context[~decoding], 0)
        steps = self.draft_cost(context[decoding], proposals[decoding])
        return total if steps is None else total + steps

    def draft_cost(self, context: np.ndarray, proposals: np.ndarray) -> Cost | None:
        """The draft's decode steps of one round: step j runs the sequences proposing more than j tokens,
        one token each over their context + j (Cost of all steps together)."""
        total = None
        for j in range(int(proposals.max(initial=0))):
            on = proposals > j
            c = self.draft.iteration(np.ones(int(on.sum()), dtype=np.int64), context[on] + j, int(on.sum()))
            total = c if total is None else total + c
        return total


def speculative_generate(
    target: StepCost | ParallelStepCost, spec: Speculation, prompt: int, output: int, batch: int = 1
) -> Generation:
    """Prefill (target, then draft) and rounds of k draft steps + one target verification of k + 1
    tokens, each round advancing every sequence by the expected E tokens (Leviathan Eq. 1)."""
    spec.validate()
    prompt, output, batch = check_generation(target.model, prompt, output, batch)
    if spec.draft.model.vocab != target.model.vocab:
        raise HwsimError(
            f"the draft model's vocabulary ({spec.draft.model.vocab}) differs from the target's "
            f"({target.model.vocab}): its tokens cannot be verified",
            field="draft",
        )
    pre = target.uniform(batch, prompt, 0)
    dpre = spec.draft.uniform(batch, prompt, 0)
    e = expected_tokens(spec.alpha, spec.k)
    rounds = math.ceil((output - 1) / e) if output > 1 else 0
    ctx = prompt + np.floor(np.arange(rounds) * e).astype(np.int64)
    k = spec.k
    verify = target.uniform(batch, k + 1, ctx, logits=k + 1)
    draft = verify
    for j in range(k):
        draft = draft + spec.draft.uniform(batch, 1, ctx + j)
    sec = np.asarray(draft.seconds, dtype=np.float64).copy()
    joules = np.asarray(draft.energy_j, dtype=np.float64).copy()
    if rounds:  # the draft's own prefill runs before the first round
        sec[0] += float(np.asarray(dpre.seconds)[0])
        joules[0] += float(np.asarray(dpre.energy_j)[0])
    return Generation(
        batch=batch,
        prompt=prompt,
        output=output,
        prefill_s=float(np.asarray(pre.seconds)[0]),
        prefill_j=float(np.asarray(pre.energy_j)[0]),
        step_context=ctx,
        step_s=sec,
        step_j=joules,
        tokens_per_step=e,
    )
