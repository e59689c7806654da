"""`hwsim serve`: a request stream on an accelerator — TTFT, TPOT, latency, throughput, J/token."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

from hwsim.cli import options, path_name
from hwsim.cli.output import emit_json
from hwsim.cli.serve_args import (
    machine_fields,
    MACHINE_FLAGS,
    add_machine_arguments,
    add_sliding_kv_argument,
    machine_from_args,
    parallel_from_args,
    speculation_from_args,
    warn_if_unbuildable,
)
from hwsim.errors import HwsimError

if TYPE_CHECKING:  # the serving stack loads when a command runs
    from hwsim.serve.requests import Requests

HELP = "serve a request stream (continuous batching, chunked prefill, paged KV cache): TTFT, TPOT, throughput"
EXAMPLES = (
    "hwsim serve --arch h100-sxm --model llama-3-8b --rate 8 --num-requests 500 --json",
    "hwsim serve --arch h100-sxm --model llama-2-70b --tp 4 --rate 2 --num-requests 200 --json",
)

# parameters of load_requests/poisson_requests, SchedulerConfig, serve and ServeResult.write → options
FLAGS = {
    **MACHINE_FLAGS,
    **options(
        "requests",
        "rate",
        "input_len",
        "output_len",
        "max_num_seqs",
        "max_batched_tokens",
        "block_size",
        "kv_blocks",
        "memory_utilization",
        "out",
        "dp",
        "dp_routing",
        "seed",
        "shared_prefix",
        "prefix_groups",
        "prefix_fraction",
        "kv_admission",
    ),
    "prefix_caching": "--no-prefix-caching",
    "sliding_kv": "--no-sliding-kv",
    "num": "--num-requests",
}


# the generated stream's options and their defaults (they do not apply to a --requests file)
STREAM = {
    "num_requests": 1000,
    "input_len": "lognormal:512:0.8",
    "output_len": "lognormal:128:0.8",
    "seed": 0,
    "shared_prefix": None,
    "prefix_groups": 1,
    "prefix_fraction": 1.0,
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_machine_arguments(p)
    p.add_argument(
        "--dp",
        type=int,
        default=1,
        help="data-parallel replicas of the tp × pp server (default 1), requests routed by --dp-routing",
    )
    p.add_argument(
        "--dp-routing",
        default="round_robin",
        help="how requests reach the --dp replicas: round_robin (default: request i to replica i mod dp) or "
        "cache_aware (SGLang router's: to the replica whose prompts share the longest prefix with it when that "
        "covers > 30%% of the prompt, else the one holding the fewest; least loaded when the loads differ by > 64 "
        "requests and > 1.5×; docs/serving.md)",
    )
    src = p.add_argument_group("requests (a JSONL file, or a seeded Poisson stream)")
    src.add_argument("--requests", help="JSON lines: arrival_time (s), input_tokens, output_tokens per request")
    src.add_argument("--rate", type=float, help="Poisson arrivals per second (inf: all at t = 0)")
    src.add_argument("--num-requests", type=int, help=f"generated requests (default {STREAM['num_requests']})")
    src.add_argument(
        "--input-len",
        help=f"prompt lengths: N, uniform:LO:HI or lognormal:MEDIAN:SIGMA (default {STREAM['input_len']})",
    )
    src.add_argument("--output-len", help=f"output lengths, same forms (default {STREAM['output_len']})")
    src.add_argument("--seed", type=int, help=f"seed of the generated stream (default {STREAM['seed']})")
    src.add_argument(
        "--shared-prefix",
        type=int,
        help="prompt tokens a generated request shares with others (a system prompt; min with its prompt length)",
    )
    src.add_argument("--prefix-groups", type=int, help="distinct shared prefixes, one drawn per request (default 1)")
    src.add_argument(
        "--prefix-fraction", type=float, help="fraction of generated requests that share a prefix (default 1)"
    )
    sch = p.add_argument_group("scheduler and KV cache")
    sch.add_argument("--max-num-seqs", type=int, default=256, help="sequences per iteration (default 256)")
    sch.add_argument("--max-batched-tokens", type=int, default=8192, help="tokens per iteration (default 8192)")
    sch.add_argument("--no-chunked-prefill", action="store_true", help="admit a prompt only whole")
    sch.add_argument("--block-size", type=int, default=16, help="KV tokens per block (default 16)")
    sch.add_argument(
        "--no-prefix-caching",
        action="store_true",
        help="recompute every prompt: no reuse of cached full blocks of shared prefixes (on by default, as vLLM V1)",
    )
    add_sliding_kv_argument(sch)
    sch.add_argument(
        "--kv-admission",
        default="on-demand",
        help="on-demand (default) or reserve. on-demand: blocks as tokens arrive, preempting when they run out (vLLM, default); reserve: a request "
        "is admitted only with blocks for its prompt and all its output, never preempted (TensorRT-LLM's "
        "GUARANTEED_NO_EVICT)",
    )
    sch.add_argument("--kv-blocks", type=int, help="KV cache size in blocks (default: memory left after weights)")
    sch.add_argument(
        "--memory-utilization",
        type=float,
        help="fraction of device memory the server may use (default 0.9, as vLLM; not with --kv-blocks)",
    )
    p.add_argument("--out", type=path_name, help="folder for requests.parquet, iterations.parquet and plots")


def _requests(args: argparse.Namespace) -> Requests:
    from hwsim.serve.requests import load_requests, poisson_requests

    if (args.requests is None) == (args.rate is None):
        raise HwsimError("give either --requests FILE or --rate R (a generated Poisson stream)", field="--requests")
    given = {k: getattr(args, k) for k in STREAM if getattr(args, k) is not None}
    if args.requests is not None:
        if given:
            flag = options(*given)[next(iter(given))]
            raise HwsimError("shapes a generated stream (--rate): the --requests file has its own", field=flag)
        return load_requests(args.requests)
    if not math.isfinite(args.rate) and args.rate != math.inf:
        raise HwsimError(f"must be a positive number or inf, got {args.rate}", field="--rate")
    stream = {**STREAM, **given}
    for k in ("prefix_groups", "prefix_fraction"):
        if k in given and "shared_prefix" not in given:
            raise HwsimError("shapes the shared prefixes: give --shared-prefix TOKENS too", field=options(k)[k])
    return poisson_requests(
        args.rate,
        stream["num_requests"],
        stream["input_len"],
        stream["output_len"],
        stream["seed"],
        shared_prefix=stream["shared_prefix"],
        prefix_groups=stream["prefix_groups"],
        prefix_fraction=stream["prefix_fraction"],
    )


def run(args: argparse.Namespace) -> int:
    from hwsim.engine.per_op import shown_labels
    from hwsim.serve.kvcache import NO_BLOCK_LIMIT
    from hwsim.serve.replay import serve
    from hwsim.serve.scheduler import SchedulerConfig

    if args.kv_blocks is not None and args.memory_utilization is not None:
        raise HwsimError("--kv-blocks gives the cache size: drop one of the two", field="--memory-utilization")
    if args.out:  # before the replay (minutes for a long stream): an --out that cannot be written failed after it
        from pathlib import Path

        from hwsim.fileio import prepare_output

        inputs = (args.requests,) if args.requests else ()
        for name in ("requests.parquet", "iterations.parquet"):
            prepare_output(Path(args.out) / name, field="--out", inputs=inputs)
    arch, model, prec = machine_from_args(args)
    par, link = parallel_from_args(args, arch)
    reqs = _requests(args)
    config = SchedulerConfig(
        max_num_seqs=args.max_num_seqs,
        max_batched_tokens=args.max_batched_tokens,
        block_size=args.block_size,
        chunked_prefill=not args.no_chunked_prefill,
        prefix_caching=not args.no_prefix_caching,
        kv_admission=args.kv_admission,
        sliding_kv=not args.no_sliding_kv,
    )
    spec = speculation_from_args(args, arch, prec)
    config.validate()
    res = serve(
        arch,
        model,
        reqs,
        prec,
        config,
        kv_blocks=args.kv_blocks,
        **({} if args.memory_utilization is None else {"memory_utilization": args.memory_utilization}),
        parallel=par,
        link=link,
        speculation=spec,
        dp=args.dp,
        dp_routing=args.dp_routing,
    )
    warn_if_unbuildable(arch, model, prec, par)
    s = res.summary
    files = [str(p) for p in res.write(args.out, f"{arch.name} · {model.name} · {reqs.source}")] if args.out else []
    if args.json:
        emit_json(
            {
                **machine_fields(args, arch, model),
                "requests_source": reqs.source,
                "tp": par.tp,
                "pp": par.pp,
                "ep": par.ep,
                "dp": args.dp,
                "dp_routing": args.dp_routing,
                "link": link.name if link else None,
                **s,
                "files": files,
            }
        )
        return 0
    weights, acts, kv = shown_labels(model, prec)  # s['weights'] / ... as the costed formats, a bf16 model's named
    ms = lambda d: ", ".join(f"{k} {v * 1e3:.4g}" for k, v in d.items() if v is not None)  # noqa: E731
    # parallel_from_args loads a link whenever there is more than one device
    where = (
        f" × {par.devices} (tp {par.tp}, pp {par.pp}, ep {par.ep}, {link.name})"
        if par.devices > 1 and link is not None
        else ""
    )
    if args.dp > 1:
        where += f" × {args.dp} replicas ({args.dp_routing.replace('_', ' ')}; {s['devices']} devices)"
    print(
        f"{arch.name} ({arch.family}){where}, {model.name} (weights {weights}, activations {acts}, KV cache {kv}): {s['requests']} requests ({reqs.source}) in {s['duration_s']:.4g} s, "
        f"{s['iterations']} iterations"
    )
    print(f"TTFT ms: {ms(s['ttft_s'])}")
    print(f"TPOT ms: {ms(s['tpot_s'])}")
    print(f"E2E  ms: {ms(s['e2e_s'])}")
    print(
        f"throughput: {s['throughput_in_tokens_per_s']:.4g} tokens/s in, {s['throughput_out_tokens_per_s']:.4g} out; "
        f"{s['energy_per_output_token_j']:.4g} J per output token"
    )
    if s["kv_capacity_blocks"] >= NO_BLOCK_LIMIT:  # no attention layer: nothing cached per token
        print(f"KV cache: none per token (SSM state per sequence only), {s['preemptions']} preemptions")
    else:
        admission = " (whole lives reserved at admission)" if args.kv_admission == "reserve" else ""
        print(
            f"KV cache{admission}: peak {s['kv_peak_blocks']} of {s['kv_capacity_blocks']} blocks "
            f"({100 * s['kv_peak_fraction']:.1f}%), {s['preemptions']} preemptions"
        )
    if s["prefix_cache_hit_rate"] is not None:
        print(
            f"prefix cache: {100 * s['prefix_cache_hit_rate']:.1f}% of prompt tokens reused "
            f"({s['prefix_cache_hit_tokens']:,} of {s['prefix_cache_query_tokens']:,}), "
            f"{s['kv_evicted_blocks']:,} blocks evicted"
        )
    for f in files:
        print(f"wrote {f}")
    return 0
