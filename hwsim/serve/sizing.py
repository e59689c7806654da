"""How many devices a model needs: the smallest tp × pp that holds the weights and the KV cache of a
generation and meets its TTFT / TPOT targets (hwsim generate --devices-needed)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from hwsim.engine.per_op import for_model
from hwsim.errors import HwsimError
from hwsim.serve.generate import generate
from hwsim.core.precision import resolve_precision
from hwsim.serve.kvcache import DoesNotFit, capacity_blocks, stage_sliding
from hwsim.serve.links import Link

if TYPE_CHECKING:
    from hwsim.core.precision import Precision, ResolvedPrecision
    from hwsim.serve.kvcache import SlidingKv
    from hwsim.core.spec import Accelerator
    from hwsim.workload.config import ModelConfig
from hwsim.serve.parallel import ParallelStepCost
from hwsim.serve.shard import Parallel, shard_model, stage_ranges, stage_weight_bytes


def why_not_fits(
    arch: Accelerator,
    model: ModelConfig,
    prec: Precision | ResolvedPrecision | None,
    par: Parallel,
    prompt: int,
    output: int,
    batch: int = 1,
    *,
    memory_utilization: float = 0.9,
    block_size: int = 16,
    draft: ModelConfig | None = None,
    sliding: bool = True,
) -> str | None:
    """Why the devices of layout `par` cannot hold the weights, activations and KV cache of `batch` sequences of
    prompt + output tokens (as hwsim serve would hold them: hwsim.serve.kvcache), or None when they can or when
    the backing store's capacity is not given (unbounded: nothing to check). With `sliding` (serve's default,
    `--no-sliding-kv` off) a model's sliding-window and chunked layers hold only their window or chunk: a sequence
    needs the most blocks it ever holds, its prompt one chunk (hwsim.serve.kvcache.SlidingKv.worst, as serve's
    reserve admission bounds it), in each pipeline stage's pool by that stage's own layers (stage_sliding)."""
    if not _capacity_given(arch):
        return None
    if not 0 < memory_utilization <= 1:
        raise HwsimError(f"must lie in (0, 1], got {memory_utilization!r}", field="memory_utilization")
    try:
        blocks, info = capacity_blocks(
            arch, model, prec, block_size, memory_utilization, prompt * batch, par, draft, max_seqs=batch
        )
    except DoesNotFit:
        return "weights and activations do not fit"
    except HwsimError as exc:  # the activation trace of the whole batch's prompts at once: too large to count
        raise HwsimError(
            f"the memory fit check prices one iteration of batch × prompt = {prompt * batch:,} tokens, beyond "
            f"hwsim's number-size limit ({exc.detail})",
            field="batch",
        ) from None
    stages = _sliding(model, prec, block_size, par, draft) if sliding else None
    if stages is None:
        need = batch * -(-(prompt + output) // block_size)
        return f"KV cache holds {blocks} blocks, needs {need}" if blocks < need else None
    for s, bounded in enumerate(stages):  # each stage's pool holds its own layers: the worst stage decides
        held = info["stage_blocks"][s] if len(stages) > 1 else blocks
        need = batch * int(bounded.worst(np.array(prompt + output), prompt)) if bounded.total else 0
        if held < need:
            where = f" on pipeline stage {s + 1} of {par.pp}" if len(stages) > 1 else ""
            return f"KV cache holds {held} blocks{where}, needs {need}"
    return None


def why_not_serves(
    arch: Accelerator,
    model: ModelConfig,
    prec: Precision | ResolvedPrecision | None,
    par: Parallel,
    *,
    block_size: int,
    max_batched_tokens: int,
    kv_blocks: int | None = None,
    memory_utilization: float = 0.9,
    draft: ModelConfig | None = None,
    max_seqs: int = 1,
) -> str | None:
    """Why the devices of layout `par` cannot hold what hwsim serve keeps on them: the weights, the activations of
    an iteration of `max_batched_tokens` tokens, the SSM state of `max_seqs` sequences (models with SSM layers)
    and the KV cache (sized from `memory_utilization` of the memory,
    at least one block; or the `kv_blocks` given, which must fit beside the rest in the whole memory), a
    speculative `draft` beside them. None when they can, or when the backing store's capacity is not given
    (unbounded: the caller decides)."""
    if not _capacity_given(arch):
        return None
    util = 1.0 if kv_blocks is not None else memory_utilization
    try:
        blocks, info = capacity_blocks(
            arch, model, prec, block_size, util, max_batched_tokens, par, draft, max_seqs=max_seqs
        )
    except HwsimError as exc:
        return exc.detail
    if kv_blocks is None or blocks >= kv_blocks:
        return None
    s = int(np.argmin(info["stage_blocks"]))  # the stage that holds the fewest: its own block and weights
    where = f" on pipeline stage {s + 1} of {par.pp}" if par.pp > 1 else ""
    return (
        f"{model.name} on {par.devices} device(s) (tp {par.tp} × pp {par.pp}): the {kv_blocks} KV blocks given "
        f"need {kv_blocks * info['stage_block_bytes'][s] / 1e9:.2f} GB per device{where} beside "
        f"{info['stage_weights_bytes'][s] / 1e9:.2f} GB of weights + {info['activation_bytes'] / 1e9:.2f} GB of "
        f"activations, and the {arch.backing.name} ({info['memory_bytes'] / 1e9:.2f} GB) holds {blocks}; give fewer "
        "`kv_blocks`, more devices (`tp`/`pp`) or fewer weight bits"
    )


def why_not_buildable(
    arch: Accelerator, model: ModelConfig, prec: Precision | ResolvedPrecision, par: Parallel
) -> str | None:
    """The family's own verdict on the design (its point totals: an FPGA design whose DSPs, LUTs, FFs, URAM, BRAM or
    on-chip weights exceed its device's `max_utilisation`) as one decode step of a device of layout `par` costs it
    (one sequence, one cached token: the verdicts depend on the design, the precision and the weights a device
    holds, not on the step): why it cannot be built, naming the limiting resource, or None (feasible, or a family
    that gives no verdict). Every distinct pipeline stage of the tp shard is costed, the stages holding the most
    weight bytes first (hwsim.serve.shard.stage_weight_bytes: per-op formats and row scales), each with the
    embeddings and lm_head (assumed: the edges counted on every stage, an upper bound for a design holding weights
    on chip); the first stage the family refuses decides. Before, only the stage with the most parameters was
    costed, which the per-layer table of Gemma-4 puts on stage 0 although its later layers are the wider ones."""
    from dataclasses import replace

    from hwsim.engine import evaluate
    from hwsim.workload import trace

    prec, main = for_model(model, prec)  # the point totals of a checkpoint at its own formats are its main format's
    shard = shard_model(model, par)
    ranges = stage_ranges(model.layers, par.pp)
    held = stage_weight_bytes(shard, ranges, par.pp, resolve_precision(prec).weights, main is not None)
    seen: set[tuple] = set()
    for i in sorted(range(len(ranges)), key=lambda i: -held[i]):  # stable: ties keep the stage order
        a, b = ranges[i]
        if shard.blocks[a:b] in seen:  # the same layers (and the edges every stage counts): the same verdict
            continue
        seen.add(shard.blocks[a:b])
        device = replace(shard, blocks=shard.blocks[a:b]) if par.pp > 1 else shard
        totals = evaluate(arch, trace(device, "decode", batch=1, context=1), prec).totals
        if "feasible" in totals and not bool(np.all(totals["feasible"])):
            break
    else:
        return None
    limit = totals.get("limiting_resource")
    if limit is None:
        return f"{arch.name}'s {arch.family} model reports the design infeasible"
    util = totals.get(f"util_{limit}")
    used = "" if util is None else f", {float(np.max(util)):.1%} used"
    return f"{arch.name} does not fit its device (limiting resource: {limit}{used})"


def _sliding(
    model: ModelConfig,
    prec: Precision | ResolvedPrecision | None,
    block_size: int,
    par: Parallel,
    draft: ModelConfig | None,
) -> tuple[SlidingKv, ...] | None:
    """The SlidingKv of each pipeline stage serve builds for the model at its KV format (hwsim.serve.replay), None
    without bounded layers."""
    kv_fmt = resolve_precision(for_model(model, prec)[0]).kv
    draft_kv = resolve_precision(for_model(draft, prec)[0]).kv if draft is not None else 16
    return stage_sliding(model, kv_fmt, block_size, par, draft, draft_kv)


def _capacity_given(arch: Accelerator) -> bool:
    """Whether the backing store has a finite capacity (the schema's default is unbounded)."""
    return math.isfinite(float(np.asarray(arch.backing.capacity)))


def candidates(model: ModelConfig, max_devices: int, ep: bool = False) -> list[Parallel]:
    """Power-of-two tp × pp layouts the model admits, fewest devices first, then the least pipeline
    (tensor parallelism cuts TTFT and TPOT, pipeline parallelism only memory per device)."""
    out = []
    for d in (2**i for i in range(int(math.log2(max_devices)) + 1)):
        for pp in (2**i for i in range(int(math.log2(d)) + 1)):
            par = Parallel(tp=d // pp, pp=pp, ep=d // pp if ep and model.is_moe else 1)
            try:
                shard_model(model, par)
                stage_ranges(model.layers, pp)
            except HwsimError:
                continue  # tp does not divide the heads / width, or more stages than layers
            out.append(par)
    return out


def devices_needed(
    arch: Accelerator,
    model: ModelConfig,
    precision: Precision | None,
    link: Link | None,
    *,
    prompt: int,
    output: int,
    batch: int = 1,
    ttft_s: float | None = None,
    tpot_s: float | None = None,
    max_devices: int = 64,
    memory_utilization: float = 0.9,
    block_size: int = 16,
    ep: bool = False,
    sliding_kv: bool = True,
) -> dict:
    """The first candidate layout (see `candidates`) whose devices hold weights, activations and the KV
    cache of `batch` sequences of prompt + output tokens, and whose generation meets the targets. Returns
    the answer and every layout tried, with why it failed. `sliding_kv`: sliding-window and chunked layers hold
    only their window or chunk (why_not_fits)."""
    for name, v in (("ttft_s", ttft_s), ("tpot_s", tpot_s)):
        if v is not None and not (v > 0 and math.isfinite(v)):
            raise HwsimError(f"must be a positive number of seconds, got {v!r}", field=name)
    if isinstance(max_devices, bool) or not isinstance(max_devices, int) or max_devices < 1:
        raise HwsimError(f"must be a positive integer, got {max_devices!r}", field="max_devices")
    field = f"memory.{arch.backing.name}.capacity"
    if not _capacity_given(arch):
        raise HwsimError(
            f"{arch.name}'s {arch.backing.name} has no capacity, and the devices a model needs depend on it: give one",
            file=getattr(arch, "file", None),
            field=field,
        )
    tried = []
    for par in candidates(model, max_devices, ep):
        row = {"tp": par.tp, "pp": par.pp, "ep": par.ep, "devices": par.devices}
        why = why_not_fits(
            arch,
            model,
            precision,
            par,
            prompt,
            output,
            batch,
            memory_utilization=memory_utilization,
            block_size=block_size,
            sliding=sliding_kv,
        )
        if why is not None:
            tried.append({**row, "fits": False, "why": why})
            continue
        gen = generate(
            ParallelStepCost(arch, model, precision, par, link if par.devices > 1 else None), prompt, output, batch
        )
        ok = (ttft_s is None or gen.ttft_s <= ttft_s) and (tpot_s is None or gen.tpot_s <= tpot_s)
        tried.append(
            {
                **row,
                "fits": True,
                "ttft_s": gen.ttft_s,
                "tpot_s": gen.tpot_s,
                "why": "" if ok else "misses the latency target",
            }
        )
        if ok:
            return {"answer": row, "tried": tried}
    return {"answer": None, "tried": tried}
