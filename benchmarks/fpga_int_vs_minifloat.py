"""Integer vs minifloat MAC units on an FPGA at matched accuracy: LUTs per MAC (plain and with
output conversion), weight error on synthetic Llama-style weights, Pareto flags, and each
minifloat's cheapest equally accurate integer with the LUT overhead (REFERENCES.md: 20-180%,
60-300% with conversion). The sweep form is studies/fpga-minifloat-vs-int.yaml.

    python benchmarks/fpga_int_vs_minifloat.py
"""

import pandas as pd

from hwsim.accuracy.fpga_formats import int_vs_minifloat

if __name__ == "__main__":
    pd.set_option("display.width", 200)
    print(int_vs_minifloat(seed=0).to_string(index=False, float_format=lambda x: f"{x:.4g}"))
