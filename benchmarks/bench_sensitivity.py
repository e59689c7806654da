"""Cost of measured per-(unit, format) sensitivities and of the hessian proxy on a deeper decoder, and how well
the proxy ranks units there.

Writes a seeded random Llama checkpoint (8 layers, hidden 256, intermediate 688, 8 heads / 4 KV heads, the tiny
test tokenizer, weights as tests/tools/tiny_llm.py draws them) to a temporary folder, then times
`build_problem` with the measured and the hessian proxies (int3/4/5/6_g32, 56 units) against one full
quantized evaluation, and prints Spearman's ρ between the two per format.

Run: OPENBLAS_NUM_THREADS=1 python benchmarks/bench_sensitivity.py
"""

from __future__ import annotations

import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from scipy import stats

from hwsim.accuracy import llm
from hwsim.allocate import build_problem, resolve_trace

TINY = Path(__file__).resolve().parents[1] / "tests" / "data" / "tiny_llm"
FORMATS = ["int3_g32", "int4_g32", "int5_g32", "int6_g32"]
SHAPE = dict(
    hidden_size=256,
    intermediate_size=688,
    num_hidden_layers=8,
    num_attention_heads=8,
    num_key_value_heads=4,
    head_dim=32,
    max_position_embeddings=128,
)


def write_checkpoint(folder: Path, seed: int = 0) -> None:
    cfg = json.loads((TINY / "llama" / "config.json").read_text())
    cfg.update(SHAPE)
    h, i, d = SHAPE["hidden_size"], SHAPE["intermediate_size"], SHAPE["head_dim"]
    q, kv = SHAPE["num_attention_heads"] * d, SHAPE["num_key_value_heads"] * d
    rng = np.random.default_rng(seed)
    lin = lambda o, n: (rng.standard_normal((o, n)) / np.sqrt(n)).astype(np.float32)  # noqa: E731
    gain = lambda: (1 + 0.1 * rng.standard_normal(h)).astype(np.float32)  # noqa: E731
    t = {
        "model.embed_tokens.weight": (0.25 * rng.standard_normal((cfg["vocab_size"], h))).astype(np.float32),
        "model.norm.weight": gain(),
    }
    for n in range(SHAPE["num_hidden_layers"]):
        p = f"model.layers.{n}."
        t |= {
            p + "self_attn.q_proj.weight": lin(q, h),
            p + "self_attn.k_proj.weight": lin(kv, h),
            p + "self_attn.v_proj.weight": lin(kv, h),
            p + "self_attn.o_proj.weight": lin(h, q),
            p + "mlp.gate_proj.weight": lin(i, h),
            p + "mlp.up_proj.weight": lin(i, h),
            p + "mlp.down_proj.weight": lin(h, i),
            p + "input_layernorm.weight": gain(),
            p + "post_attention_layernorm.weight": gain(),
        }
    folder.mkdir(parents=True, exist_ok=True)
    save_file(t, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(cfg))
    shutil.copy(TINY / "llama" / "tokenizer.json", folder / "tokenizer.json")


def main() -> None:
    print(f"{platform.machine()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        ck = Path(tmp) / "llama8"
        write_checkpoint(ck)
        text = Path(tmp) / "text.txt"
        text.write_text((TINY / "text.txt").read_text() * 4)
        kw = dict(checkpoint=ck, text=text, calibration=TINY / "calibration.txt", window=64)
        trace = resolve_trace(None, "prefill", seq=64, checkpoint=ck)
        llm.evaluate(ck, text, llm.Quant(weights="int4_g32"), window=64)  # numba compile outside the timing
        t0 = time.perf_counter()
        out = llm.evaluate(ck, text, llm.Quant(weights="int4_g32"), window=64)
        one = time.perf_counter() - t0
        t0 = time.perf_counter()
        measured = build_problem("bitmod", trace, FORMATS, **kw).costs["error"]
        t_m = time.perf_counter() - t0
        t0 = time.perf_counter()
        hessian = build_problem("bitmod", trace, FORMATS, proxy="hessian", **kw).costs["error"]
        t_h = time.perf_counter() - t0
        units = measured.shape[0]
        print(
            f"one quantized evaluation ({out['tokens']} predictions): {one:.2f} s; "
            f"{units} units × {len(FORMATS)} formats as full runs ≈ {one * units * len(FORMATS):.0f} s"
        )
        print(f"measured proxy (all probes, incl. the trace's hardware costs): {t_m:.2f} s")
        print(f"hessian proxy ({units} noise probes + layer-local errors): {t_h:.2f} s")
        rho = [stats.spearmanr(hessian[:, j], measured[:, j]).statistic for j in range(len(FORMATS))]
        print("Spearman ρ(hessian, measured) per format:", ", ".join(f"{f} {r:.3f}" for f, r in zip(FORMATS, rho)))
        print(f"hessian total / measured total: {hessian.sum() / measured.sum():.2f}")


if __name__ == "__main__":
    main()
