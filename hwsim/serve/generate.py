"""Generation of one request (or a batch of identical ones): prefill of P tokens, then decode steps
with the context growing by one token each.

Convention (as vLLM's benchmarks count it): `output` tokens are generated; the first comes out of the
prefill step (TTFT = prefill time), the other output − 1 come from decode steps, step d feeding token d
over a cache of P + d − 1 tokens. TPOT = (end-to-end − TTFT) / (output − 1). All decode steps are
costed in one engine call (hwsim.serve.stepcost), no per-token trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hwsim.errors import HwsimError
from hwsim.serve.stepcost import StepCost
from hwsim.workload.trace import MAX_TOKENS, check_count, warn_beyond_trained_context

if TYPE_CHECKING:
    from hwsim.serve.parallel import ParallelStepCost
    from hwsim.workload.config import ModelConfig


@dataclass(frozen=True)
class Generation:
    batch: int
    prompt: int
    output: int
    prefill_s: float
    prefill_j: float
    step_context: np.ndarray  # cached tokens before each decode step
    step_s: np.ndarray
    step_j: np.ndarray
    tokens_per_step: float = 1.0  # output tokens one decode step yields (speculative decoding: more)

    @property
    def ttft_s(self) -> float:
        return self.prefill_s

    @property
    def e2e_s(self) -> float:
        return self.prefill_s + float(self.step_s.sum())

    @property
    def tpot_s(self) -> float:
        """Time per output token after the first: decode time / (output − 1); 0 for a single output token."""
        return float(self.step_s.sum()) / (self.output - 1) if self.output > 1 else 0.0

    @property
    def energy_j(self) -> float:
        return self.prefill_j + float(self.step_j.sum())

    def summary(self) -> dict:
        tokens = self.batch * self.output
        return {
            "batch": self.batch,
            "prompt_tokens": self.prompt,
            "output_tokens": self.output,
            "ttft_s": self.ttft_s,
            "tpot_s": self.tpot_s,
            "e2e_s": self.e2e_s,
            "decode_steps": len(self.step_s),
            "tokens_per_step": self.tokens_per_step,
            "first_step_s": float(self.step_s[0]) if len(self.step_s) else 0.0,
            "last_step_s": float(self.step_s[-1]) if len(self.step_s) else 0.0,
            "tokens_per_s": tokens / self.e2e_s,
            "energy_j": self.energy_j,
            "energy_per_token_j": self.energy_j / tokens,
            "prefill_energy_j": self.prefill_j,
        }


def check_generation(model: ModelConfig, prompt: object, output: object, batch: object) -> tuple[int, int, int]:
    """Validated (prompt, output, batch) of a generation of `model`."""
    prompt, output, batch = check_count(prompt, "prompt"), check_count(output, "output"), check_count(batch, "batch")
    if prompt + output - 1 > MAX_TOKENS:  # the last token's context, as trace() bounds it
        raise HwsimError(
            f"prompt + output = {prompt + output:,} tokens is beyond {MAX_TOKENS:,} (2^31)", field="output"
        )
    if model.encoder:
        raise HwsimError(f"{model.name} is an encoder-only model: it does not generate tokens", field="model")
    warn_beyond_trained_context(model, prompt + output - 1)  # the last token's position
    return prompt, output, batch


def generate(cost: StepCost | ParallelStepCost, prompt: int, output: int, batch: int = 1) -> Generation:
    """Prefill + (output − 1) decode steps of `batch` identical sequences on `cost`'s machine."""
    prompt, output, batch = check_generation(cost.model, prompt, output, batch)
    pre = cost.uniform(batch, prompt, 0)
    ctx = prompt + np.arange(output - 1, dtype=np.int64)
    steps = cost.uniform(batch, 1, ctx) if len(ctx) else None
    empty = np.zeros(0)
    return Generation(
        batch=batch,
        prompt=prompt,
        output=output,
        prefill_s=float(np.asarray(pre.seconds)[0]),
        prefill_j=float(np.asarray(pre.energy_j)[0]),
        step_context=ctx,
        step_s=np.asarray(steps.seconds if steps else empty, dtype=np.float64),
        step_j=np.asarray(steps.energy_j if steps else empty, dtype=np.float64),
    )
