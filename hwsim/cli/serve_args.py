"""Options shared by `hwsim generate` and `hwsim serve`: the machine, the model and the precision."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hwsim.arch import load_arch, parse_overrides
from hwsim.cli import options
from hwsim.engine import Precision
from hwsim.workload import load_model

if TYPE_CHECKING:  # serving modules are imported by the commands that serve
    from hwsim.core.spec import Accelerator
    from hwsim.serve.links import Link
    from hwsim.serve.shard import Parallel
    from hwsim.serve.speculative import Speculation
    from hwsim.workload.config import ModelConfig

# the serving library's parameters (Parallel, link_for, Speculation, check_generation) → these options
MACHINE_FLAGS = {**options("model", "tp", "pp", "ep", "link", "draft"), "k": "--spec-tokens", "alpha": "--acceptance"}


SPEC_TOKENS = 4  # draft tokens per target step when --spec-tokens is not given (the option's default)


def add_machine_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", required=True, help="preset name (archs/) or a YAML path")
    p.add_argument(
        "--model",
        required=True,
        help="preset name (workloads/), a YAML preset, an HF config.json or a checkpoint folder",
    )
    p.add_argument(
        "--weights",
        help="weight format name or bits (default: the checkpoint's own formats, per op, from its "
        "quantization_config or GGUF tensor types; else fp16)",
    )
    p.add_argument(
        "--activations",
        help="activation format name or bits (default: the checkpoint's own, where its quantization_config states one "
        "(ModelOpt NVFP4 / FP8, compressed-tensors input_activations, fp8 activation_scheme); else fp16)",
    )
    p.add_argument(
        "--kv",
        help="KV-cache format name or bits (default: the checkpoint's own, from its quantization_config's "
        "kv_cache_quant_algo or kv_cache_scheme; else fp16)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="dotted.key=value",
        help="override a field of the arch spec (repeatable)",
    )
    p.add_argument(
        "--eager-kernels",
        action="store_true",
        help="charge the GPU presets' fixed times as fitted on eagerly timed kernels (compute.overhead_8bit per "
        "8/4-bit GEMM, compute.launch_overhead per kernel); by default steps are costed as CUDA-graph replays, as "
        "vLLM and TensorRT-LLM run decode: no 8-bit extra, compute.graph_launch_overhead per kernel "
        "(hwsim.serve.graphs)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document")
    par = p.add_argument_group("several devices (docs/serving.md)")
    par.add_argument("--tp", type=int, default=1, help="tensor-parallel devices (split heads, MLP width, vocabulary)")
    par.add_argument("--pp", type=int, default=1, help="pipeline-parallel stages (split layers)")
    par.add_argument("--ep", type=int, default=1, help="expert-parallel devices for MoE experts (1 or --tp)")
    par.add_argument(
        "--link", help="link between devices: a preset (hwsim presets links) or YAML; default: the arch spec's `link`"
    )
    sd = p.add_argument_group("speculative decoding (Leviathan et al. 2023)")
    sd.add_argument("--draft", help="draft model (preset, YAML or config.json) proposing tokens on the same device")
    sd.add_argument("--spec-tokens", type=int, help=f"draft tokens verified per target step (default {SPEC_TOKENS})")
    sd.add_argument("--acceptance", type=float, help="probability a draft token is accepted, in [0, 1] (with --draft)")


def add_sliding_kv_argument(p: argparse._ActionsContainer) -> None:
    """--no-sliding-kv, shared by serve (its paged cache) and generate (its fit check and --devices-needed), so both
    size a sequence's KV blocks by the same rule (hwsim.serve.kvcache.SlidingKv)."""
    p.add_argument(
        "--no-sliding-kv",
        action="store_true",
        help="charge sliding-window and chunked local attention layers K/V for every token of a sequence (an engine "
        "without vLLM's hybrid KV-cache manager: --disable-hybrid-kv-cache-manager); by default they hold only "
        "their window's or current chunk's blocks",
    )


def machine_from_args(args: argparse.Namespace) -> tuple[Accelerator, ModelConfig, Precision]:
    """(arch, model, precision) from the shared options; HwsimError on bad input. No --weights: weights None, each
    op at the checkpoint's own format; no --activations / --kv: None, the checkpoint's own activation and KV-cache
    formats (all hwsim.engine.per_op.for_model). The arch is the serving one (hwsim.serve.graphs.graph_replay)
    unless --eager-kernels."""
    from hwsim.serve.graphs import graph_replay

    overrides = parse_overrides(args.set)
    arch = load_arch(args.arch, overrides)
    if not args.eager_kernels:
        arch = graph_replay(arch, overrides)
    model = load_model(args.model)
    prec = Precision(weights=args.weights, activations=args.activations, kv=args.kv)
    return arch, model, prec


def machine_fields(args: argparse.Namespace, arch: Accelerator, model: ModelConfig) -> dict:
    """The leading --json fields of a serving run (generate, serve): the machine and model it ran, the checkpoint's
    dtype and whether eager-only kernel time was charged (--eager-kernels, hwsim.serve.graphs)."""
    return {
        "arch": arch.name,
        "family": arch.family,
        "model": model.name,
        "dtype": model.dtype,
        "eager_kernels": args.eager_kernels,
    }


def speculation_from_args(args: argparse.Namespace, arch: Accelerator, prec: Precision) -> Speculation | None:
    """A Speculation from --draft/--spec-tokens/--acceptance, or None without --draft."""
    if args.draft is None:
        given = next((o for o in ("acceptance", "spec_tokens") if getattr(args, o) is not None), None)
        if given is not None:
            from hwsim.errors import HwsimError

            flag = options(given)[given]
            raise HwsimError("needs a --draft model", field=flag)
        return None
    from hwsim.errors import HwsimError
    from hwsim.serve.speculative import Speculation, check_speculation
    from hwsim.serve.stepcost import StepCost

    if args.acceptance is None:
        raise HwsimError(
            "give the draft's acceptance rate (the fraction of its tokens the target keeps)", field="--acceptance"
        )
    k = SPEC_TOKENS if args.spec_tokens is None else args.spec_tokens
    check_speculation(k, args.acceptance)  # before the draft model's costs are built
    return Speculation(draft=StepCost(arch, load_model(args.draft), prec), k=k, alpha=args.acceptance)


def parallel_from_args(args: argparse.Namespace, arch: Accelerator) -> tuple[Parallel, Link | None]:
    """(Parallel, Link or None) from --tp/--pp/--ep/--link; a link is loaded only when needed or given."""
    from hwsim.serve.links import link_for
    from hwsim.serve.shard import Parallel

    par = Parallel(tp=args.tp, pp=args.pp, ep=args.ep)
    par.validate()
    need = par.devices > 1 or args.link is not None or getattr(args, "devices_needed", False)
    return par, (link_for(arch, args.link) if need else None)


def warn_if_unbuildable(arch: Accelerator, model: ModelConfig, prec: Precision, par: Parallel) -> None:
    """One warning when the design's family reports it cannot be built (an FPGA design that overflows its
    device: hwsim.serve.sizing.why_not_buildable); the figures printed are still those of the design as given."""
    import warnings

    from hwsim.errors import HwsimWarning
    from hwsim.serve.sizing import why_not_buildable

    why = why_not_buildable(arch, model, prec, par)
    if why is not None:
        warnings.warn(
            HwsimWarning(f"{why}: the figures are for a design that cannot be built (hwsim simulate shows its use)"),
            stacklevel=3,
        )
