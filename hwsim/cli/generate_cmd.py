"""`hwsim generate`: one request (or a batch of identical ones) from prefill to its last token."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from hwsim.cli import options
from hwsim.cli.output import emit_json
from hwsim.errors import HwsimError

if TYPE_CHECKING:
    from hwsim.core.precision import Precision
    from hwsim.core.spec import Accelerator
    from hwsim.serve.links import Link
    from hwsim.workload.config import ModelConfig
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

MAX_DEVICES = 64  # --max-devices when not given (hwsim.serve.sizing.devices_needed's default)
HELP = "prefill then decode with a growing context: TTFT, TPOT, latency and energy per token"
EXAMPLES = (
    "hwsim generate --arch h100-sxm --model llama-3-8b --prompt 512 --output 256",
    "hwsim generate --arch h100-sxm --model llama-2-70b --prompt 1024 --output 128 --devices-needed --tpot-slo 0.03",
)

# check_generation and devices_needed parameters → options
FLAGS = {
    **MACHINE_FLAGS,
    **options("prompt", "output", "batch", "max_devices"),
    "ttft_s": "--ttft-slo",
    "tpot_s": "--tpot-slo",
    "sliding_kv": "--no-sliding-kv",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_machine_arguments(p)
    p.add_argument("--prompt", type=int, required=True, help="prompt (prefill) tokens per sequence")
    p.add_argument(
        "--output",
        type=int,
        required=True,
        help="tokens generated per sequence (the first by the prefill, the rest by decode steps)",
    )
    p.add_argument("--batch", type=int, default=1, help="identical sequences generated together (default 1)")
    size = p.add_argument_group("devices needed (the smallest tp x pp that fits and meets the targets)")
    size.add_argument("--devices-needed", action="store_true", help="search power-of-two tp x pp layouts")
    size.add_argument("--ttft-slo", type=float, help="time-to-first-token target, seconds")
    size.add_argument("--tpot-slo", type=float, help="time-per-output-token target, seconds")
    size.add_argument("--max-devices", type=int, help=f"largest tp x pp tried (default {MAX_DEVICES})")
    add_sliding_kv_argument(p)


def run(args: argparse.Namespace) -> int:
    from hwsim.engine.per_op import activations_label, kv_label, shown_labels, weights_label
    from hwsim.serve import generate
    from hwsim.serve.parallel import machine_cost

    slo = next((o for o in ("ttft_slo", "tpot_slo", "max_devices") if getattr(args, o) is not None), None)
    if slo is not None and not args.devices_needed:
        flag = options(slo)[slo]
        what = "a bound" if slo == "max_devices" else "a target"  # --max-devices -1 alone was ignored silently
        raise HwsimError(f"{what} of --devices-needed: add --devices-needed, or drop it", field=flag)
    if args.max_devices is None:
        args.max_devices = MAX_DEVICES
    arch, model, prec = machine_from_args(args)
    par, link = parallel_from_args(args, arch)
    if args.devices_needed:
        return _devices_needed(args, arch, model, prec, link)
    spec = speculation_from_args(args, arch, prec)
    cost = machine_cost(arch, model, prec, par, link)
    if spec is not None:
        from hwsim.serve.speculative import speculative_generate

        gen = speculative_generate(cost, spec, args.prompt, args.output, args.batch)
    else:
        gen = generate(cost, args.prompt, args.output, args.batch)
    _warn_unless_fits(arch, model, prec, par, gen, spec, args)
    s = gen.summary()
    weights, acts, kv = weights_label(model, prec), activations_label(model, prec), kv_label(model, prec)
    layout = {
        "weights": weights,
        "activations": acts,
        "kv": kv,
        "tp": par.tp,
        "pp": par.pp,
        "ep": par.ep,
        "devices": par.devices,
        "link": link.name if link else None,
        "draft": spec.draft.model.name if spec else None,
    }
    if args.json:
        emit_json(
            {
                **machine_fields(args, arch, model),
                **layout,
                **s,
            }
        )
        return 0
    weights, acts, kv = shown_labels(model, prec)
    # parallel_from_args loads a link whenever there is more than one device
    where = (
        f" × {par.devices} (tp {par.tp}, pp {par.pp}, ep {par.ep}, {link.name})"
        if par.devices > 1 and link is not None
        else ""
    )
    print(
        f"{arch.name} ({arch.family}){where}, {model.name} ({weights} weights, {acts} activations, {kv} KV cache): batch {gen.batch}, prompt "
        f"{gen.prompt}, output {gen.output}"
    )
    print(
        f"TTFT {s['ttft_s'] * 1e3:.4g} ms, TPOT {s['tpot_s'] * 1e3:.4g} ms "
        f"(first step {s['first_step_s'] * 1e3:.4g} ms, last {s['last_step_s'] * 1e3:.4g} ms), "
        f"end to end {s['e2e_s']:.4g} s"
    )
    print(f"{s['tokens_per_s']:.4g} tokens/s, {s['energy_j']:.4g} J, {s['energy_per_token_j']:.4g} J per output token")
    if spec is not None:
        print(
            f"speculative: {spec.k} draft tokens of {spec.draft.model.name} per target step, acceptance "
            f"{spec.alpha}: {gen.tokens_per_step:.4g} tokens per step (Leviathan et al. 2023, Eq. 1)"
        )
    return 0


def _warn_unless_fits(
    arch: Accelerator, model: ModelConfig, prec: Precision, par: Any, gen: Any, spec: Any, args: argparse.Namespace
) -> None:
    """Costing does not need the model to fit (the figures are those of devices with more memory), but serving
    would refuse it: say so, as hwsim serve and --devices-needed would judge it. Likewise a design its family
    reports infeasible (an FPGA design that overflows its device: serve_args.warn_if_unbuildable)."""
    import warnings

    from hwsim.errors import HwsimWarning
    from hwsim.serve.sizing import why_not_fits

    draft = spec.draft.model if spec is not None else None
    why = why_not_fits(
        arch, model, prec, par, gen.prompt, gen.output, gen.batch, draft=draft, sliding=not args.no_sliding_kv
    )
    if why is not None:
        warnings.warn(
            HwsimWarning(
                f"{model.name} does not fit {par.devices} × {arch.name} ({why}): the figures are for devices with "
                "more memory; --devices-needed finds a layout that fits"
            ),
            stacklevel=2,
        )
    warn_if_unbuildable(arch, model, prec, par)


def _devices_needed(
    args: argparse.Namespace, arch: Accelerator, model: ModelConfig, prec: Precision, link: Link | None
) -> int:
    from hwsim.engine.per_op import activations_label, kv_label, weights_label
    from hwsim.serve.sizing import devices_needed

    assert link is not None  # parallel_from_args loads one for --devices-needed

    res = devices_needed(
        arch,
        model,
        prec,
        link,
        prompt=args.prompt,
        output=args.output,
        batch=args.batch,
        ttft_s=args.ttft_slo,
        tpot_s=args.tpot_slo,
        max_devices=args.max_devices,
        ep=args.ep > 1,
        sliding_kv=not args.no_sliding_kv,
    )
    if args.json:
        emit_json(
            {
                "arch": arch.name,
                "model": model.name,
                "dtype": model.dtype,
                "eager_kernels": args.eager_kernels,
                "weights": weights_label(model, prec),
                "activations": activations_label(model, prec),
                "kv": kv_label(model, prec),
                "link": link.name,
                "ttft_slo_s": args.ttft_slo,
                "tpot_slo_s": args.tpot_slo,
                **res,
            }
        )
        return 0
    for row in res["tried"]:
        lat = f"TTFT {row['ttft_s'] * 1e3:.4g} ms, TPOT {row['tpot_s'] * 1e3:.4g} ms" if row["fits"] else ""
        print(
            f"tp {row['tp']} x pp {row['pp']} ({row['devices']} devices): {lat}{'; ' if lat and row['why'] else ''}{row['why']}"
        )
    a = res["answer"]
    print(
        f"devices needed: {a['devices']} (tp {a['tp']}, pp {a['pp']}) over {link.name}"
        if a
        else f"no layout of up to {args.max_devices} devices fits and meets the targets"
    )
    return 0
