"""hwsim accuracy: perplexity and KL of a quantized decoder checkpoint against its fp self."""

from __future__ import annotations

import argparse

from hwsim.cli.output import emit_json

HELP = (
    "perplexity of a safetensors decoder checkpoint (llama, mistral, qwen2, qwen3) on a text file with "
    "weights, activations and KV quantized after a method, and KL of next-token distributions vs fp"
)
EXAMPLES = (
    "hwsim accuracy --model ./Qwen3-0.6B --text wiki.txt --weights int4_g128 --method gptq --calibration calib.txt",
    "hwsim accuracy --model ./ckpt --text wiki.txt --weights int4_g128 --activations int4_pc --kv int4_pc "
    "--method rotate+gptq --json",
)

FLAGS = {
    "window": "--window",
    "max_tokens": "--max-tokens",
    "text": "--text",
    "calibration": "--calibration",
    "checkpoint": "--model",
    "method": "--method",
}  # evaluate's parameter → its option


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from hwsim.accuracy.llm import DEFAULT_MAX_TOKENS, DEFAULT_WINDOW

    parser.add_argument(
        "--model",
        required=True,
        metavar="CHECKPOINT_DIR",
        help="folder with config.json, *.safetensors and tokenizer.json",
    )
    parser.add_argument("--text", required=True, metavar="FILE", help="UTF-8 text to measure perplexity on")
    parser.add_argument("--weights", metavar="FORMAT", help="format of every projection weight (default: fp)")
    parser.add_argument(
        "--activations", metavar="FORMAT", help="format of every projection's input, per token (e.g. int8_pc)"
    )
    parser.add_argument("--kv", metavar="FORMAT", help="format of keys and values, per token and head")
    parser.add_argument(
        "--method",
        default="rtn",
        metavar="M",
        help="rtn (default), gptq, awq, smoothquant, rotate, or '+'-joined, e.g. rotate+gptq",
    )
    parser.add_argument(
        "--calibration",
        metavar="FILE",
        help="text the method is fitted on (default: the evaluation text, reported as such)",
    )
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=DEFAULT_MAX_TOKENS,
        help=f"tokens of the text evaluated (default {DEFAULT_MAX_TOKENS})",
    )
    parser.add_argument(
        "--window",
        type=int,
        default=None,
        help=f"tokens per window (default min({DEFAULT_WINDOW}, max_position_embeddings))",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the rotations' random signs (default 0); with sign-symmetric formats (int, fp, mx, nvfp4) "
        "every seed gives the same result: see docs/accuracy.md, Methods",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")


def run(args: argparse.Namespace) -> int:
    from hwsim.accuracy.llm import Quant, evaluate
    from hwsim.errors import HwsimError, check_seed
    from hwsim.formats import get_format

    check_seed(args.seed, field="--seed")
    fmts = {}
    for k in ("weights", "activations", "kv"):
        try:
            fmts[k] = None if getattr(args, k) is None else get_format(getattr(args, k))
        except HwsimError as exc:  # get_format names its own parameter (`format`): name the option
            raise HwsimError(exc.detail, field=f"--{k}") from None
    quant = Quant(fmts["weights"], fmts["activations"], fmts["kv"], args.method, args.seed)
    out = evaluate(
        args.model, args.text, quant, calibration=args.calibration, max_tokens=args.max_tokens, window=args.window
    )
    out = {
        "model": str(args.model),
        "weights": args.weights,
        "activations": args.activations,
        "kv": args.kv,
        "method": args.method,
        **out,
    }
    if args.json:
        emit_json(out)
        return 0
    print(
        f"perplexity {out['perplexity']:.4f}  (fp {out['baseline_perplexity']:.4f})  "
        f"KL vs fp {out['kl']:.5f} nats/token  over {out['tokens']} tokens in windows of {out['window']}"
    )
    return 0
