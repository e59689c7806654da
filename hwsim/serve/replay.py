"""`serve()`: a request stream on a machine — step costs, KV capacity, the scheduler, the metrics."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from hwsim.core.spec import Accelerator
from hwsim.engine import Precision
from hwsim.core.precision import resolve_precision
from hwsim.engine.per_op import activations_label, for_model, kv_label, weights_label
from hwsim.errors import HwsimError
from hwsim.fileio import atomic_write_table, prepare_output
from hwsim.serve import metrics
from hwsim.serve.kvcache import SlidingKv, capacity_blocks, stage_block_bytes, stage_sliding, state_bytes_per_seq
from hwsim.serve.links import Link
from hwsim.serve.parallel import ParallelStepCost, machine_cost
from hwsim.serve.replicas import merge, round_robin
from hwsim.serve.routing import check_routing, replay_routed
from hwsim.serve.shard import Parallel
from hwsim.serve.sizing import why_not_serves
from hwsim.serve.speculative import Speculation
from hwsim.serve.requests import Requests
from hwsim.serve.scheduler import Replay, SchedulerConfig, simulate
from hwsim.serve.stepcost import StepCost
from hwsim.workload.config import ModelConfig
from hwsim.workload.trace import warn_beyond_trained_context


@dataclass
class ServeResult:
    replay: Replay
    summary: dict
    requests: pd.DataFrame
    iterations: pd.DataFrame

    def write(self, out: str | Path, title: str = "") -> list[Path]:
        """requests.parquet, iterations.parquet, latency.png and timeline.png under `out`."""
        from hwsim.serve.plots import plot_distributions, plot_timeline

        out = Path(out)
        paths = [out / "requests.parquet", out / "iterations.parquet", out / "latency.png", out / "timeline.png"]
        atomic_write_table(self.requests, prepare_output(paths[0], field="out"), field="out")
        atomic_write_table(self.iterations, prepare_output(paths[1], field="out"), field="out")
        plot_distributions(self.requests, paths[2], title)
        plot_timeline(self.iterations, self.replay.kv_capacity_blocks, paths[3], title)
        return paths


def serve(
    arch: Accelerator,
    model: ModelConfig,
    requests: Requests,
    precision: Precision | None = None,
    config: SchedulerConfig = SchedulerConfig(),
    *,
    kv_blocks: int | None = None,
    memory_utilization: float = 0.9,
    parallel: Parallel | None = None,
    link: Link | None = None,
    step_cost: StepCost | ParallelStepCost | None = None,
    speculation: Speculation | None = None,
    dp: int = 1,
    dp_routing: str = "round_robin",
) -> ServeResult:
    """Replay `requests` on one device, or on `parallel.tp × parallel.pp` devices joined by `link`; with
    `dp` > 1 on that many such replicas, requests routed by `dp_routing` (hwsim.serve.routing: round robin, as
    hwsim.serve.replicas, or sgl-router's cache_aware).
    `step_cost` reuses cached step costs across replays of one machine (built for the same parallelism).
    `precision` None: fp16 everywhere; its weights None: each op at the model's own format (a quantized checkpoint
    as it ships, fp16 for a plain model; the summary's `weights` names them)."""
    config.validate()
    check_routing(dp_routing)
    if model.encoder:
        raise HwsimError(f"{model.name} is an encoder-only model: it does not serve generation", field="model")
    par = parallel or Parallel()
    par.validate()
    prec = precision if precision is not None else Precision()  # weights None: the model's own formats
    rp = resolve_precision(for_model(model, prec)[0])
    sc = step_cost or machine_cost(arch, model, prec, par, link)
    stage_blocks = None  # each pipeline stage's own pool (capacity_blocks)
    if kv_blocks is None:
        kv_blocks, info = capacity_blocks(
            arch,
            model,
            prec,
            config.block_size,
            memory_utilization,
            config.max_batched_tokens,
            par,
            draft=speculation.draft.model if speculation else None,
            max_seqs=config.max_num_seqs,
        )
        stage_blocks = info["stage_blocks"]
    elif isinstance(kv_blocks, bool) or not isinstance(kv_blocks, int) or kv_blocks < 1:
        raise HwsimError(f"must be a positive integer, got {kv_blocks!r}", field="kv_blocks")
    else:  # a cache size given: it must fit beside the weights and activations (none is sized, so none checked)
        why = why_not_serves(
            arch,
            model,
            prec,
            par,
            block_size=config.block_size,
            max_batched_tokens=config.max_batched_tokens,
            kv_blocks=kv_blocks,
            draft=speculation.draft.model if speculation else None,
            max_seqs=config.max_num_seqs,
        )
        if why is not None:
            raise HwsimError(why, field="kv_blocks")
    if config.prefix_caching and state_bytes_per_seq(model, rp.kv.bits) > 0:
        # a cached block holds attention K/V only, not the recurrent state an SSM layer needs at the prefix's
        # end (assumed: no reuse, as vLLM's prefix caching did not cover Mamba layers before its hybrid manager)
        config = replace(config, prefix_caching=False)
    stages = (
        stage_sliding(
            model,
            rp.kv,
            config.block_size,
            par,
            speculation.draft.model if speculation else None,
            resolve_precision(for_model(speculation.draft.model, prec)[0]).kv if speculation else 16,
        )
        if config.sliding_kv
        else None
    )
    # each pipeline stage's pool holds its own layers' blocks (a stage without attention layers holds none)
    pools: int | list[int] = kv_blocks
    sliding: SlidingKv | tuple[SlidingKv, ...] | None = None
    draft = speculation.draft.model if speculation else None
    block_bytes = stage_block_bytes(model, prec, config.block_size, par, draft)  # one device of each stage
    if stages is not None and len(stages) > 1:
        keep = [s for s, st in enumerate(stages) if st.total > 0]
        sliding = tuple(stages[s] for s in keep)
        pools = [stage_blocks[s] for s in keep] if stage_blocks is not None else kv_blocks
    else:  # one pool: every stage charged alike, so the stage with the fewest blocks (of those, the costliest) binds
        keep = [min(range(par.pp), key=lambda s: (stage_blocks[s] if stage_blocks else 0, -block_bytes[s]))]
        sliding = stages[0] if stages is not None else None
    sc.warm(requests.input_tokens)
    if speculation is not None:
        speculation.validate()
        speculation.draft.warm(requests.input_tokens)
    if dp == 1:
        rep = simulate(requests, sc.iteration, pools, config, speculation, sliding)
    elif dp_routing != "round_robin":  # routed on the replicas' prefix trees and loads (hwsim.serve.routing)
        round_robin(requests, dp)  # the same checks of dp
        rep, _ = replay_routed(
            requests, dp, dp_routing, lambda share: simulate(share, sc.iteration, pools, config, speculation, sliding)
        )
    else:  # replicas share nothing: each replays its share of the stream on the same machine's costs
        shares = round_robin(requests, dp)
        rep = merge(requests, [simulate(share, sc.iteration, pools, config, speculation, sliding) for share in shares])
    # after the replay's own checks, so that an error stays the only line: the longest request's last position
    warn_beyond_trained_context(model, int((requests.input_tokens + requests.output_tokens).max()) - 1)
    summ = metrics.summary(
        rep,
        static_power_w=float(arch.static_power_w) * par.devices,
        kv_block_bytes=block_bytes[keep[rep.kv_stage]],
        replicas=dp,
    )
    summ["devices"] = dp * par.devices
    summ["weights"] = weights_label(model, prec)
    summ["activations"] = activations_label(
        model, prec
    )  # the GEMM inputs' format: --activations, else the checkpoint's
    summ["kv"] = kv_label(model, prec)  # the cache format it was sized and costed at: --kv, else the checkpoint's
    return ServeResult(rep, summ, metrics.request_frame(rep), metrics.iteration_frame(rep))
