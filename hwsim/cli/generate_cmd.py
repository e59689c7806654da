"""`hwsim generate`: one request (or a batch of identical ones) from prefill to its last token."""
from __future__ import annotations

import argparse

from hwsim.cli.output import emit_json
from hwsim.cli.serve_args import add_machine_arguments, machine_from_args

HELP = "prefill then decode with a growing context: TTFT, TPOT, latency and energy per token"
EXAMPLES = ("hwsim generate --arch h100-sxm --model llama-3-8b --prompt 512 --output 256",
            "hwsim generate --arch bitmod --model llama-2-7b --weights 3.0625 --prompt 256 --output 21 --json")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_machine_arguments(p)
    p.add_argument("--prompt", type=int, required=True, help="prompt (prefill) tokens per sequence")
    p.add_argument("--output", type=int, required=True,
                   help="tokens generated per sequence (the first by the prefill, the rest by decode steps)")
    p.add_argument("--batch", type=int, default=1, help="identical sequences generated together (default 1)")


def run(args: argparse.Namespace) -> int:
    from hwsim.serve import StepCost, generate

    arch, model, prec = machine_from_args(args)
    gen = generate(StepCost(arch, model, prec), args.prompt, args.output, args.batch)
    s = gen.summary()
    if args.json:
        emit_json({"arch": arch.name, "family": arch.family, "model": model.name, **s})
        return 0
    print(f"{arch.name} ({arch.family}), {model.name}: batch {gen.batch}, prompt {gen.prompt}, output {gen.output}")
    print(f"TTFT {s['ttft_s'] * 1e3:.4g} ms, TPOT {s['tpot_s'] * 1e3:.4g} ms "
          f"(first step {s['first_step_s'] * 1e3:.4g} ms, last {s['last_step_s'] * 1e3:.4g} ms), "
          f"end to end {s['e2e_s']:.4g} s")
    print(f"{s['tokens_per_s']:.4g} tokens/s, {s['energy_j']:.4g} J, {s['energy_per_token_j']:.4g} J per output token")
    return 0
