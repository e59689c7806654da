"""hwsim calibrate: fit a GPU preset's fitted fields to measured kernel times, write a new preset."""

from __future__ import annotations

import argparse
from pathlib import Path

from hwsim.cli import path_name

HELP = "fit a GPU preset's fitted fields (efficiencies, fixed times) to measured kernel times"
EXAMPLES = (
    "hwsim calibrate --arch h100-sxm --measurements my-gpu.csv --holdout 0.25 --out my-gpu.yaml",
    "hwsim calibrate --arch h100-sxm --measurements hwsim/data/gpu/h100-sxm-kernels.csv "
    "--holdout-column split=held-out --out h100-refit.yaml",
)
# hwsim.engine.calibrate.holdout_mask's error fields → the options that set them
FLAGS = {"holdout.column": "--holdout-column", "holdout.fraction": "--holdout", "measurements": "--measurements"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", required=True, help="GPU preset name or YAML path to start from")
    parser.add_argument(
        "--measurements",
        required=True,
        metavar="FILE.csv",
        help="measured kernel times (benchmarks/gpu_microbench.py writes them)",
    )
    hold = parser.add_mutually_exclusive_group()
    hold.add_argument(
        "--holdout",
        type=float,
        metavar="FRACTION",
        help="hold out this fraction of each kind's rows (evenly spread; default 0)",
    )
    hold.add_argument("--holdout-column", metavar="COL=VALUE", help="hold out the rows where column COL equals VALUE")
    parser.add_argument(
        "--out", required=True, metavar="PRESET.yaml", type=path_name, help="where to write the calibrated preset"
    )


def _fmt(path: str, value: float) -> str | float:
    if path.endswith(("launch_overhead", "_overhead", "overhead_8bit")):
        return f"{value * 1e6:.4g} us"
    if path.endswith("sm_bandwidth"):
        return f"{value:.4g} B/cycle"
    return float(f"{value:.4g}")


def write_preset(
    src_path: str | Path, out: str | Path, values: dict, source: str, name: str, inputs: tuple[str | Path, ...] = ()
) -> None:
    """The preset at `src_path` with `values` (dotted path → SI value) written as fitted constants; `out` must
    not be one of `inputs` (the measurements, the preset)."""
    import yaml

    from hwsim.arch.loader import set_path
    from hwsim.fileio import atomic_write_text, prepare_output, read_mapping

    raw = read_mapping(src_path, what="arch preset")
    raw["name"] = name
    raw["description"] = f"{raw.get('description', name)} — calibrated ({source})"
    for path, v in values.items():
        set_path(raw, path, _fmt(path, v), source)
    text = f"# written by hwsim calibrate from {src_path}; fitted fields say so in their source\n"
    text += yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=200)
    atomic_write_text(prepare_output(out, field="--out", inputs=inputs), text, field="--out")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from hwsim.arch import load_arch
    from hwsim.engine.calibrate import fit, fitted_source, holdout_mask, read_measurements
    from hwsim.errors import HwsimError
    from hwsim.paths import resolve_preset

    arch = load_arch(args.arch)
    if arch.family != "gpu":
        raise HwsimError(f"calibrate fits GPU presets; {arch.name} is a {arch.family} preset", field="--arch")
    df = read_measurements(args.measurements)
    train = holdout_mask(df, fraction=args.holdout, column=args.holdout_column, file=args.measurements)
    got = fit(arch, df, train, file=args.measurements)
    source = fitted_source(args.measurements, int(train.sum()))
    preset = resolve_preset(args.arch, "archs", what="arch")
    # the preset it starts from is an input too: --out naming it replaced the preset with its calibrated copy
    write_preset(preset, args.out, got.values, source, Path(args.out).stem, inputs=(args.measurements, preset))
    load_arch(args.out)  # the written preset must load (validation of every fitted value)
    print(
        f"{arch.name}: fitted {len(got.values)} field(s) on {int(train.sum())} of {len(df)} rows of {args.measurements}"
    )
    for path, v in got.values.items():
        print(f"  {path:34s} {_fmt(path, v)}")
    for stage in got.skipped:
        print(f"  not fitted (no training rows): {stage}; the preset's values stay")
    for path in got.at_bound:
        print(f"  warning: {path} ended on a bound of its physical range: the model may miss a mechanism of these rows")
    err = np.abs(got.errors)
    print("relative error |predicted/measured - 1| (n, median, worst):")
    for kind in sorted(df["kind"].unique()):
        rows = (df["kind"] == kind).to_numpy()
        line = f"  {kind:20s}"
        for label, mask in (("train", rows & train), ("held-out", rows & ~train)):
            line += (
                f"  {label} {int(mask.sum()):3d} {np.median(err[mask]):6.1%} {err[mask].max():6.1%}"
                if mask.any()
                else f"  {label}   0      -      -"
            )
        print(line)
    for label, mask in (("train", train), ("held-out", ~train)):
        if mask.any():
            print(
                f"  {'all ' + label:20s}  {int(mask.sum()):3d} rows: median {np.median(err[mask]):.1%}, worst {err[mask].max():.1%}"
            )
    print(f"wrote {args.out}")
    return 0
