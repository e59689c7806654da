"""Roofline speed: Llama-2-70B (decode and prefill) on three machines, analysis + plot.

    python benchmarks/bench_roofline.py

Target (issue 6): the roofline of a Llama-2-70B trace on three machines, plot included, in ≤ 2 s.
Reports the in-process time (warm: imports and matplotlib's font cache loaded) and the wall time of
the whole `hwsim roofline` command (cold process: Python, numpy, pandas and matplotlib imports included).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from timing import best_of

from hwsim.roofline import roofline  # noqa: E402
from hwsim.workload import load_model, trace  # noqa: E402

ARCHS = ["h100-sxm", "a100-sxm", "tpu-like"]


def main() -> None:
    model = load_model("llama-2-70b")
    with tempfile.TemporaryDirectory() as tmp:
        png = os.path.join(tmp, "roof.png")
        for phase, kw in (("decode", {"context": 256}), ("prefill", {"seq": 2048})):
            tr = trace(model, phase, **kw)
            roofline(ARCHS, tr).plot(png)  # warm-up: font cache, first-call numpy/pandas paths
            plt.close("all")
            t_an, rl = best_of(lambda: roofline(ARCHS, tr))
            t_plot, _ = best_of(lambda: (rl.plot(png), plt.close("all")))
            print(
                f"{phase}: {len(tr.ops)} ops x {len(ARCHS)} machines: analysis {t_an:.3f} s, "
                f"plot {t_plot:.3f} s, total {t_an + t_plot:.3f} s (warm, in process)"
            )
        cmd = [
            sys.executable,
            "-m",
            "hwsim",
            "roofline",
            *sum((["--arch", a] for a in ARCHS), []),
            "--model",
            "llama-2-70b",
            "--phase",
            "decode",
            "--plot",
            png,
            "--json",
        ]
        t_cli, _ = best_of(lambda: subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL), repeat=2)
        print(f"hwsim roofline (cold process, JSON + plot): {t_cli:.3f} s wall")


if __name__ == "__main__":
    main()
