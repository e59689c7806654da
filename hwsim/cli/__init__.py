"""The `hwsim` command. Each subcommand lives in its own module exposing
`HELP: str`, `add_arguments(parser)` and `run(args) -> int`.

User errors (HwsimError, bad arguments) print one line on stderr and exit 2: never a traceback; so do Ctrl-C,
with exit 130 (128 + SIGINT, what a shell reports), and SIGTERM (`kill`, a batch system's time limit), with exit
143, each with a module's INTERRUPTED hint (what is kept). The library
names its own parameters in errors; FLAGS (and a command module's own FLAGS and FLAG_HINTS) turn those
names into the options that set them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

from hwsim.errors import HwsimError

# command → module; a module that is not present in this build is left out of the CLI
COMMANDS = {
    "trace": "hwsim.cli.trace_cmd",
    "simulate": "hwsim.cli.simulate_cmd",
    "roofline": "hwsim.cli.roofline_cmd",
    "formats": "hwsim.cli.formats_cmd",
    "accuracy": "hwsim.cli.accuracy_cmd",
    "allocate": "hwsim.cli.allocate_cmd",
    "sweep": "hwsim.cli.sweep_cmd",
    "pareto": "hwsim.cli.pareto_cmd",
    "generate": "hwsim.cli.generate_cmd",
    "serve": "hwsim.cli.serve_cmd",
    "presets": "hwsim.cli.presets_cmd",
    "calibrate": "hwsim.cli.calibrate_cmd",
}


def options(*params: str) -> dict[str, str]:
    """Library parameters whose option is their own name (kv_blocks → --kv-blocks)."""
    return {p: "--" + p.replace("_", "-") for p in params}


# trace()'s parameters → their options, in the commands that take a workload (hwsim.cli.workload_args)
WORKLOAD_FLAGS = options("batch", "seq", "context")

# library field → the option that sets it, in every command that has it (load_arch's overrides: --set)
FLAGS = {**{f"precision.{o}": f"--{o}" for o in ("weights", "activations", "kv")}, "overrides": "--set"}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is (as Ctrl-C raises KeyboardInterrupt), so that what a run cleans up
    on Ctrl-C (temporaries, worker pools) it cleans up on `kill` too; by default SIGTERM ends Python at once."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


class _StoreOnce(argparse._StoreAction):
    """An option that takes one value, given twice with different values, is refused: argparse kept the last
    silently (`--weights int4_g128 ... --weights int8` costed int8). The same value twice is harmless."""

    _namespace: object = None

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        if option is not None and self._namespace is namespace:
            old = getattr(namespace, self.dest)
            if old != values:
                parser.error(f"argument {option}: given twice ({old!r}, {values!r}): keep one")
        self._namespace = namespace
        super().__call__(parser, namespace, values, option)


class _OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus a message; hwsim's contract is one line and exit 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", None, _StoreOnce)
        self.register("action", "store", _StoreOnce)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def path_name(text: str) -> str:
    """argparse type of an option naming a file or folder to write: an empty name (an unset shell variable) is
    refused, where a test of the option's truth skipped the output silently and `sweep --out ''` wrote into the
    current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty file or folder name ('')")
    return text


def _examples(lines: tuple[str, ...]) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of command `only` alone: a run imports just the module of the command
    it runs (importing all of them, and the libraries they load, took longer than a whole `hwsim simulate`)."""
    from hwsim import __version__

    parser = _OneLineParser(
        prog="hwsim",
        description="hwsim: hardware cost models, number formats and design-space sweeps for quantized LLM inference",
        epilog=_examples(("hwsim presets", "hwsim sweep quickstart")),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hwsim {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_OneLineParser, metavar="COMMAND")
    for name, modname in COMMANDS.items():
        if only is not None and name != only:
            continue
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name == modname:
                continue
            raise
        p = sub.add_parser(
            name,
            help=mod.HELP,
            description=mod.HELP,
            epilog=_examples(mod.EXAMPLES),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.add_arguments(p)
        p.set_defaults(
            _run=mod.run,
            _flags={**FLAGS, **getattr(mod, "FLAGS", {})},
            _hints=getattr(mod, "FLAG_HINTS", {}),
            _interrupted=getattr(mod, "INTERRUPTED", ""),
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    parser = build_parser(given[0] if given and given[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:  # bare `hwsim`: what it can do, not an error
        parser.print_help()
        return 0
    import signal
    import threading
    import warnings

    from hwsim.errors import HwsimWarning

    said: set[str] = set()

    def one_line(message: Warning | str, category: type[Warning], *rest: Any, **kw: Any) -> None:
        if not issubclass(category, HwsimWarning):
            shown(message, category, *rest, **kw)
        elif str(message) not in said:  # once a run: a warning raised at two places (planning, costing) is one fact
            said.add(str(message))
            print(f"hwsim {args.command}: warning: {message}", file=sys.stderr)

    shown = warnings.showwarning
    warnings.showwarning = one_line
    main_thread = threading.current_thread() is threading.main_thread()  # only it may set signal handlers
    on_term = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        return int(args._run(args) or 0)
    except HwsimError as exc:
        print(f"hwsim {args.command}: error: {exc.renamed(args._flags, args._hints)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `hwsim trace ... | head` is not an error
        return 0
    except KeyboardInterrupt as exc:
        how = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"hwsim {args.command}: {how}{args._interrupted}", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        warnings.showwarning = shown
        if on_term is not None:  # None: a handler set outside Python, which it cannot restore
            signal.signal(signal.SIGTERM, on_term)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
