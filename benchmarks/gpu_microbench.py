"""Time the kernels a serving stack runs on YOUR GPU and write the CSV `hwsim calibrate --measurements` reads.

    python benchmarks/gpu_microbench.py --out my-gpu.csv                 # on the GPU machine (needs torch)
    hwsim calibrate --arch h100-sxm --measurements my-gpu.csv --holdout 0.25 --out my-gpu.yaml
    python benchmarks/gpu_microbench.py --dry-run --out shapes.csv       # anywhere: the rows it would time

Kernel classes (one CSV `kind` each; columns as hwsim.engine.calibrate.MEASURE_KINDS defines them):
- `gemm`: dense GEMM X (M×K) by W (N×K): bf16 (`F.linear`), fp8 e4m3 (`torch._scaled_mm`, per-tensor
  scales, bf16 out; Ada/Hopper/Blackwell/CDNA 3), int8 (`torch._int_mm`, int32 out);
- `gemm_wonly_gemv`: int4 weights in groups of 128, bf16 activations, torch's tinygemm kernel
  (`torch._weight_int4pack_mm`, CUDA sm80+), when this torch build has it;
- `attn_prefill_causal` / `attn_decode`: fused attention, `F.scaled_dot_product_attention` with GQA
  (prefill: M = N = sequence length, causal; decode: M = 1 new token over N cached keys);
- `copy`: a 1 GiB device-to-device copy (achievable bandwidth).
Shapes: the linear layers of one transformer (default Llama-3-8B: --hidden/--intermediate/--heads/
--kv-heads/--head-dim/--vocab) at --m tokens, and attention at a few sequence lengths.

Timing: CUDA events around each call (HIP events on ROCm builds), --warmup calls first, then the median
of --iters timed calls, one call per event pair (so a kernel's fixed time is what a single eager launch
sees, host dispatch included, as in hwsim/data/gpu). With --graph R, R back-to-back calls are captured in
a CUDA graph and each timed replay is divided by R: the GPU-side time a serving stack running CUDA
graphs sees (no host dispatch), so the fitted fixed times come out smaller. The `timing` column says which. Inputs come from a seeded generator (--seed). Rows a GPU or torch build cannot run (fp8 before
Ada, int8 with M <= 16, no tinygemm) are skipped with one line on stderr each.

This module imports torch only to time (main without --dry-run): `rows()` and `--dry-run` work without it.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from dataclasses import dataclass, fields

COLUMNS = ("kind", "op", "M", "N", "K", "dtype", "weights", "batch", "heads", "kv_heads", "seconds", "device", "timing")
COPY_BYTES = 1 << 30


@dataclass(frozen=True)
class Geometry:
    hidden: int = 4096
    intermediate: int = 14336
    heads: int = 32
    kv_heads: int = 8
    head_dim: int = 128
    vocab: int = 128256


def linear_shapes(g: Geometry) -> list[tuple[str, int, int]]:
    """(op, N outputs, K inputs) of one decoder layer's fused projections and the lm_head."""
    qkv = (g.heads + 2 * g.kv_heads) * g.head_dim
    return [
        ("qkv", qkv, g.hidden),
        ("o", g.hidden, g.heads * g.head_dim),
        ("gate_up", 2 * g.intermediate, g.hidden),
        ("down", g.hidden, g.intermediate),
        ("lm_head", g.vocab, g.hidden),
    ]


def rows(
    g: Geometry, ms: list[int], dtypes: list[str], *, prefill_lens=(512, 2048), decode_lens=(1024, 4096), batches=(1, 8)
) -> list[dict]:
    """Every row the benchmark times, `seconds` left empty (the --dry-run output)."""
    out: list[dict] = []

    def add(kind, op, m, n, k, dtype, **extra):
        out.append({"kind": kind, "op": op, "M": m, "N": n, "K": k, "dtype": dtype, **extra})

    for dtype in dtypes:
        for op, n, k in linear_shapes(g):
            for m in ms:
                add("gemm", op, m, n, k, dtype)
    for op, n, k in linear_shapes(g)[:4]:
        for m in [m for m in ms if m <= 64]:  # tinygemm is a GEMV-oriented kernel: small M only
            add("gemm_wonly_gemv", op, m, n, k, "bf16", weights="int4_g128")
    heads = {"heads": g.heads, "kv_heads": g.kv_heads}
    for b in batches:
        for t in prefill_lens:
            add("attn_prefill_causal", f"B{b}", t, t, g.head_dim, "bf16", batch=b, **heads)
        for n in decode_lens:
            add("attn_decode", f"B{b}", 1, n, g.head_dim, "bf16", batch=b, **heads)
    add("copy", "d2d_1GiB", 1, COPY_BYTES, 1, "u8")
    return out


def write_csv(path, table: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        for r in table:
            w.writerow({c: r.get(c, "") for c in COLUMNS})


# --- timing (torch) ------------------------------------------------------------------------------------


def _in_graph(torch, fn, reps: int):
    """A callable replaying `reps` back-to-back calls of fn captured in one CUDA graph (warmed up on a
    side stream first, as graph capture requires)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(reps):
            fn()
    return graph.replay


def _median_seconds(torch, fn, warmup: int, iters: int, graph_reps: int = 0) -> float:
    """Median seconds of one call of fn (of one of `graph_reps` graph-captured calls when > 0)."""
    per = 1
    if graph_reps:
        fn, per = _in_graph(torch, fn, graph_reps), graph_reps
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1e-3 / per)  # ms -> s, per call
    return statistics.median(times)


class Skip(Exception):
    """This GPU or torch build cannot run the row."""


def _kernel(torch, r: dict, gen, dev: str = "cuda"):
    """A no-argument callable running the row's kernel on freshly made inputs."""
    F = torch.nn.functional
    m, n, k = r["M"], r["N"], r["K"]

    def randn(*shape, dtype=torch.bfloat16):
        return torch.randn(*shape, generator=gen, device=dev, dtype=torch.float32).to(dtype)

    if r["kind"] == "gemm":
        if r["dtype"] == "bf16":
            x, w = randn(m, k), randn(n, k)
            return lambda: F.linear(x, w)
        if r["dtype"] == "fp8_e4m3":
            f8 = getattr(torch, "float8_e4m3fnuz" if torch.version.hip else "float8_e4m3fn", None)
            if f8 is None or (dev == "cuda" and not torch.version.hip and torch.cuda.get_device_capability() < (8, 9)):
                raise Skip("no fp8 tensor cores (needs Ada/Hopper/Blackwell or CDNA 3)")
            if m % 16:
                raise Skip("torch._scaled_mm needs M divisible by 16")
            x, w = randn(m, k).to(f8), randn(n, k).to(f8)
            one = torch.ones((), device=dev)
            return lambda: torch._scaled_mm(x, w.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
        if r["dtype"] == "int8":
            if m <= 16:
                raise Skip("torch._int_mm needs M > 16")
            x = torch.randint(-128, 128, (m, k), generator=gen, device=dev, dtype=torch.int8)
            w = torch.randint(-128, 128, (n, k), generator=gen, device=dev, dtype=torch.int8)
            return lambda: torch._int_mm(x, w.t())
        raise Skip(f"dtype {r['dtype']} is not benchmarked")
    if r["kind"] == "gemm_wonly_gemv":
        if not hasattr(torch, "_weight_int4pack_mm") or torch.version.hip or dev != "cuda":
            raise Skip("this torch build has no tinygemm int4 kernel")
        try:
            q = torch.randint(0, 256, (n, k // 2), generator=gen, device=dev, dtype=torch.uint8)
            packed = torch._convert_weight_to_int4pack(q, 8)
            sz = randn(k // 128, n, 2)
            x = randn(m, k)
            torch._weight_int4pack_mm(x, packed, 128, sz)
        except (RuntimeError, TypeError) as exc:  # the packing API changed across torch versions
            raise Skip(f"tinygemm call failed ({exc.__class__.__name__}: {str(exc).splitlines()[0][:80]})") from None
        return lambda: torch._weight_int4pack_mm(x, packed, 128, sz)
    if r["kind"] in ("attn_prefill_causal", "attn_decode"):
        b, h, kvh = r["batch"], r["heads"], r["kv_heads"]
        q, kk, v = randn(b, h, m, k), randn(b, kvh, n, k), randn(b, kvh, n, k)
        causal = r["kind"] == "attn_prefill_causal"
        return lambda: F.scaled_dot_product_attention(q, kk, v, is_causal=causal, enable_gqa=True)
    if r["kind"] == "copy":
        src = torch.empty(n, device=dev, dtype=torch.uint8)
        dst = torch.empty_like(src)
        return lambda: dst.copy_(src)
    raise Skip(f"kind {r['kind']} is not benchmarked")


class NoDevice(Exception):
    """torch or a GPU is missing: one line for the user."""


def measure(table: list[dict], *, warmup: int, iters: int, seed: int, graph_reps: int = 0) -> list[dict]:
    try:
        import torch
    except ImportError:
        raise NoDevice("torch is not installed (install it on the GPU machine; --dry-run works without it)") from None
    if not torch.cuda.is_available():
        raise NoDevice("no CUDA/ROCm device visible to torch (--dry-run lists the rows without timing)")
    torch.backends.cuda.matmul.allow_tf32 = False
    name = torch.cuda.get_device_name()
    out = []
    for r in table:
        gen = torch.Generator(device="cuda").manual_seed(seed)
        try:
            fn = _kernel(torch, r, gen)
        except Skip as why:
            print(f"skip {r['kind']} {r['op']} M={r['M']} {r['dtype']}: {why}", file=sys.stderr)
            continue
        secs = _median_seconds(torch, fn, warmup, iters, graph_reps)
        out.append({**r, "seconds": secs, "device": name, "timing": f"graph{graph_reps}" if graph_reps else "events"})
        del fn
        torch.cuda.empty_cache()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    ap.add_argument("--out", required=True, help="CSV to write (hwsim calibrate --measurements reads it)")
    ap.add_argument("--dry-run", action="store_true", help="write the rows without timing them (no torch needed)")
    ap.add_argument("--m", default="1,4,16,64,256,1024,4096", help="token counts M of the GEMMs (comma-separated)")
    ap.add_argument("--dtypes", default="bf16,fp8_e4m3,int8", help="dense GEMM types (bf16, fp8_e4m3, int8)")
    for f in fields(Geometry):
        ap.add_argument(
            f"--{f.name.replace('_', '-')}", type=int, default=f.default, help=f"model {f.name} (default {f.default})"
        )
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--graph",
        type=int,
        default=0,
        metavar="R",
        help="time R calls captured in a CUDA graph per replay (serving-stack view; default 0: eager)",
    )
    args = ap.parse_args(argv)
    try:
        ms = [int(x) for x in args.m.split(",")]
    except ValueError:
        ap.error(f"--m: expected comma-separated integers, got {args.m!r}")
    dtypes = [d for d in args.dtypes.split(",") if d]
    bad = [d for d in dtypes if d not in ("bf16", "fp8_e4m3", "int8")]
    if bad or min(ms) < 1 or args.graph < 0:
        ap.error(
            f"--dtypes: unknown {bad[0]!r} (allowed: bf16, fp8_e4m3, int8)"
            if bad
            else "--graph: must be >= 0"
            if args.graph < 0
            else "--m: must be >= 1"
        )
    g = Geometry(**{f.name: getattr(args, f.name) for f in fields(Geometry)})
    table = rows(g, ms, dtypes)
    if not args.dry_run:
        try:
            table = measure(table, warmup=args.warmup, iters=args.iters, seed=args.seed, graph_reps=args.graph)
        except NoDevice as exc:
            print(f"gpu_microbench: {exc}", file=sys.stderr)
            return 2
    write_csv(args.out, table)
    print(f"wrote {len(table)} rows to {args.out}" + (" (dry run: no times)" if args.dry_run else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
