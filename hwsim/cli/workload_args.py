"""Workload options shared by trace, simulate, roofline and allocate."""

from __future__ import annotations

import argparse

from hwsim.workload import PHASES, Trace, load_model, trace
from hwsim.workload.trace import LOGITS


def add_workload_arguments(parser: argparse.ArgumentParser, *, model_required: bool = True) -> None:
    parser.add_argument(
        "--model",
        required=model_required,
        help="preset name (workloads/), a YAML preset, an HF config.json or a checkpoint folder",
    )
    parser.add_argument("--phase", choices=PHASES, required=True)
    parser.add_argument("--batch", type=int, default=1, help="sequences in the batch (default 1)")
    parser.add_argument("--seq", type=int, default=None, help="prefill: new tokens per sequence (default 256)")
    parser.add_argument(
        "--context",
        type=int,
        default=None,
        help="tokens already in the KV cache (decode default 256, prefill default 0)",
    )
    parser.add_argument(
        "--logits",
        choices=LOGITS,
        default="last",
        help="lm_head on the last token of each sequence (default) or on all new tokens",
    )


def trace_from_args(args: argparse.Namespace) -> Trace:
    model = load_model(args.model)
    return trace(model, args.phase, batch=args.batch, seq=args.seq, context=args.context, logits=args.logits)
