"""deepseek_v32 (DeepSeek-V3.2-Exp): DeepSeek-V3's MLA and MoE plus DeepSeek Sparse Attention, a lightning indexer
that scores every cached token and keeps index_topk of them for the main attention.

Sources: the parameter counts and tensor names/shapes are transformers 5.25 (DeepseekV32ForCausalLM built on the meta
device with torch 2.13; the preset's count is pinned in tests/data/hf_reference.json, the tiny one was run for this
test in a throwaway venv and is pinned here); the indexer's shape (index_n_heads 64, index_head_dim 128, top-k 2048)
is DeepseekV32Config's defaults, the DeepSeek-V3.2-Exp tech report's numbers."""

import numpy as np
import pytest

from hwsim.arch import load_arch
from hwsim.engine import Precision, evaluate
from hwsim.engine.cost import fixed_groups
from hwsim.errors import HwsimError
from hwsim.workload import from_hf_dict, load_model, trace
from hwsim.workload.kv import bytes_per_token
from hwsim.workload.tensor_map import match_checkpoint

# random small sizes: 3 layers (dense, MoE, dense by mlp_layer_types), 4 routed experts + 1 shared, top-k 5
TINY = {
    "model_type": "deepseek_v32",
    "hidden_size": 48,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "q_lora_rank": 24,
    "kv_lora_rank": 16,
    "qk_rope_head_dim": 8,
    "qk_nope_head_dim": 12,
    "v_head_dim": 10,
    "index_n_heads": 3,
    "index_head_dim": 16,
    "index_topk": 5,
    "num_hidden_layers": 3,
    "mlp_layer_types": ["dense", "sparse", "dense"],
    "n_routed_experts": 4,
    "num_experts_per_tok": 2,
    "moe_intermediate_size": 20,
    "intermediate_size": 36,
    "n_shared_experts": 1,
    "vocab_size": 77,
}


def _tiny_checkpoint() -> dict:
    """Every linear of TINY as transformers 5.25 names and shapes it (stacked experts, transformers ≥ 5)."""
    out = {"model.embed_tokens.weight": (77, 48), "lm_head.weight": (77, 48)}
    for i in range(3):
        p = f"model.layers.{i}."
        out |= {
            p + "self_attn.q_a_proj.weight": (24, 48),
            p + "self_attn.q_b_proj.weight": (80, 24),
            p + "self_attn.kv_a_proj_with_mqa.weight": (24, 48),
            p + "self_attn.kv_b_proj.weight": (88, 16),
            p + "self_attn.o_proj.weight": (48, 40),
            p + "self_attn.indexer.wq_b.weight": (48, 24),
            p + "self_attn.indexer.wk.weight": (16, 48),
            p + "self_attn.indexer.weights_proj.weight": (3, 48),
        }
        if i != 1:
            out |= {p + "mlp.gate_proj.weight": (36, 48), p + "mlp.up_proj.weight": (36, 48)}
            out |= {p + "mlp.down_proj.weight": (48, 36)}
    p = "model.layers.1.mlp."
    return out | {
        p + "experts.gate_up_proj": (4, 40, 48),
        p + "experts.down_proj": (4, 48, 20),
        p + "gate.weight": (4, 48),
        p + "shared_experts.gate_proj.weight": (20, 48),
        p + "shared_experts.up_proj.weight": (20, 48),
        p + "shared_experts.down_proj.weight": (48, 20),
    }


def test_tiny_deepseek_v32_params_and_checkpoint_names_equal_transformers():
    """61,752 parameters (transformers 5.25 on meta: the indexer's wq_b, wk, k_norm weight and bias, weights_proj
    beside DeepSeek-V3's MLA); every linear found in the checkpoint names it builds; mlp_layer_types places the
    MoE on layer 1 only."""
    m = from_hf_dict(dict(TINY))
    assert m.params == 61_752
    assert [b.mlp.is_moe for b in m.blocks] == [False, True, False]
    rows = match_checkpoint(m, _tiny_checkpoint())
    assert len(rows) == sum(len(b.linears(48)) for b in m.blocks) == 3 * 8 + 2 * 3 + 7 and all(r["ok"] for r in rows)
    v3 = from_hf_dict({**TINY, "model_type": "deepseek_v3", "first_k_dense_replace": 0})
    assert m.params - v3.params == 3 * (24 * 48 + 48 * 16 + 48 * 3 + 2 * 16) - 2 * (
        4 * 3 * 20 * 48 + 4 * 48 + 3 * 20 * 48 - 3 * 36 * 48
    )


def test_the_indexer_scores_every_token_and_the_attention_reads_top_k():
    """Decode at 40 cached tokens (top-k 5): the main attention reads 5 keys per query (absorbed, one latent head),
    the indexer scores all 41 (its heads' q·k, then the weighted sum over heads: HF's two matmuls); below top-k
    both see every token, as DeepSeek-V3's attention does."""
    m = from_hf_dict(dict(TINY))
    ops = trace(m, "decode", batch=2, context=40).ops
    layer = ops[ops["layer"] == 0].set_index("name")
    assert layer.loc["layers.0.attn.qk", "n"] == 5 and layer.loc["layers.0.attn.qk", "kv_read_elems"] == 2 * 5 * 24
    qk, reduce = layer.loc["layers.0.indexer.qk"], layer.loc["layers.0.indexer.reduce"]
    assert (qk["m"], qk["n"], qk["k"], qk["count"], qk["macs"]) == (3, 41, 16, 2, 2 * 3 * 41 * 16)
    assert qk["kv_read_elems"] == 2 * 41 * 16  # the indexer's cached keys, one per token
    assert reduce["macs"] == 2 * 41 * 3 and reduce["act_out_elems"] == 2 * 41
    short = trace(m, "decode", batch=2, context=3).ops
    v3 = trace(from_hf_dict({**TINY, "model_type": "deepseek_v3"}), "decode", batch=2, context=3).ops
    assert (short.query("op == 'qk'")["n"] == 4).all() and (v3.query("op == 'qk'")["n"] == 4).all()


def test_prefill_attention_reads_top_k_per_query_and_the_indexer_the_span():
    """A prefill of 64 tokens over 100 cached: every query of the main attention over min(span, top-k) keys (HF
    masks the rest; the reference's sparse kernel skips them), the indexer over the whole span of 164."""
    m = from_hf_dict(dict(TINY))
    ops = trace(m, "prefill", batch=1, seq=64, context=100).ops
    qk = ops.query("op == 'qk' and layer == 0").iloc[0]
    assert (qk["m"], qk["n"], qk["macs"]) == (64, 5, 4 * 64 * 5 * 20)
    assert ops.query("op == 'index_qk' and layer == 0")["n"].item() == 164


def test_the_indexer_keys_join_the_cache():
    """Per token and layer: the latent (kv_lora_rank) + the rope key (qk_rope_head_dim) at the KV format, + the
    indexer's key (index_head_dim) at its own (fp8 + an fp32 scale per 128: 8.25 bits an element), every token kept
    (top-k selects among all of them: not a window)."""
    m = from_hf_dict(dict(TINY))
    assert bytes_per_token(m.blocks, 16) == 3 * ((16 + 8) * 2 + 16 * 8.25 / 8)
    assert trace(m, "decode", batch=2, context=999).kv_cache_bytes(16) == 3 * 2 * 1000 * ((16 + 8) * 2 + 16 * 8.25 / 8)


def test_the_index_key_cache_holds_the_references_132_bytes_a_token_and_layer():
    """DeepSeek-V3.2-Exp's index-K cache: 128 fp8 bytes + one fp32 scale = 132 bytes per token per layer whatever
    the KV format (DeepSeek's inference/model.py: k_cache float8_e4m3fn [.., 128] + k_scale_cache float32
    [.., 128 // 128]; vLLM's DeepseekV32IndexerCache: head_dim + head_dim // 128 * 4 = 132 uint8). Per token:
    61 × (576 × 2 + 132) = 78,324 bytes with a bf16 latent cache (the reference's), 61 × (576 + 132) = 43,188 with
    an fp8 one; V3's 70,272 and 35,136 (before, the index key was priced at the KV format: 85,888 and 42,944).
    Serving's paged-cache bytes per token, on one device and on a tensor-parallel one (the latent and the index
    key replicated), are the same."""
    from hwsim.serve.kvcache import kv_bytes_per_token
    from hwsim.serve.shard import Parallel, shard_model, stage_kv_bytes_per_token

    from hwsim.core.precision import operand_type
    from hwsim.workload.blocks import Indexer

    assert operand_type(Indexer.KEY_FORMAT).bits == Indexer.KEY_BITS == 8.25  # 128 × 8.25 / 8 = 132 bytes
    big, v3 = load_model("deepseek-v3.2-exp"), load_model("deepseek-v3")
    for bits in (16, 8):
        assert bytes_per_token(big.blocks, bits) - bytes_per_token(v3.blocks, bits) == 61 * 132
    assert (bytes_per_token(big.blocks, 16), bytes_per_token(big.blocks, 8)) == (78_324, 43_188)
    assert kv_bytes_per_token(big, 16) == 78_324
    assert stage_kv_bytes_per_token(shard_model(big, Parallel(tp=8)), (0, 61), 16) == 78_324
    got = trace(big, "decode", batch=3, context=4095).kv_cache_bytes(16)
    assert got == 3 * 4096 * 78_324


def _indexer_rows(table, layer: int = 3):
    return table.ops[table.ops["name"].str.startswith(f"layers.{layer}.indexer")].set_index("name")


@pytest.mark.parametrize("given", ["fp16", "bf16", "fp8_e4m3"])
def test_the_indexer_score_gemm_is_priced_at_fp8_with_its_scales(given):
    """DeepSeek-V3.2-Exp decode at 32k on the H100-SXM preset, whatever KV / activation format the caller gives:
    indexer.qk moves the fp8 query (64 heads × 128, an fp32 scale per 128) and the fp8 cached keys with their fp32
    scales (132 bytes a token: the reference's fp8_index kernel), and computes at the fp8 pair's rate, as the same
    row costed at fp8 e4m3 operands does; the logits it hands on (indexer.reduce's output, indexer.topk's input)
    are fp32 (the kernel's fp32 index_score). Before, all of it was priced at the caller's formats (2 bytes a key
    element at fp16)."""
    from hwsim.engine.cost import op_columns

    arch = load_arch("h100-sxm")
    t = trace(load_model("deepseek-v3.2-exp"), "decode", batch=1, context=32_767)
    got = _indexer_rows(evaluate(arch, t, Precision(weights="fp8_e4m3", activations=given, kv=given)))
    qk = got.loc["layers.3.indexer.qk"]
    assert qk["bytes_hbm"] == 32_768 * 132 + 64 * 132
    row = t.ops[t.ops["name"] == "layers.3.indexer.qk"]
    alone = evaluate(arch, row.assign(op="qk"), Precision(activations="fp8_e4m3", kv="fp8_e4m3"))
    assert qk["compute_cycles"] == alone.ops["compute_cycles"].item()
    assert got.loc["layers.3.indexer.reduce", "bytes_hbm"] == 64 * 4 + 32_768 * 4
    assert got.loc["layers.3.indexer.topk", "bytes_hbm"] == 32_768 * 4 + 2048 * 4
    # the fixed rows are found once per trace: four roles, the indexer's rows alone
    groups = fixed_groups(op_columns(t))
    assert sum(int(mask.sum()) for _, mask in groups) == 4 * 61
    assert all(t.ops["name"][mask].str.contains(r"\.indexer\.").all() for _, mask in groups)


def test_a_design_that_cannot_run_the_indexers_formats_says_so(monkeypatch):
    """A format the design refuses costs those rows at the caller's precision, with a warning naming them (never
    silently), in the cycle engine and roofline as in the analytical engine: here an unknown format name stands
    for one."""
    import hwsim.engine.machine as machine
    from hwsim.errors import HwsimWarning

    m = from_hf_dict(dict(TINY))
    t = trace(m, "decode", batch=2, context=40)
    monkeypatch.setitem(machine.FIXED_OPERANDS, "index_qk", {"kv": "no_such_format"})
    with pytest.warns(HwsimWarning, match="cannot run kv no_such_format"):
        got = _indexer_rows(evaluate("h100-sxm", t, Precision()), 0)
    from hwsim import cycle
    from hwsim.roofline import roofline

    for other in (lambda: cycle.evaluate(load_arch("h100-sxm"), t, Precision()), lambda: roofline("h100-sxm", t)):
        with pytest.warns(HwsimWarning, match="cannot run kv no_such_format"):  # the same mechanism says it
            other()
    monkeypatch.setattr(machine, "FIXED_OPERANDS", {})
    fresh = trace(m, "decode", batch=2, context=40)  # its rows' groups are found anew (kept per trace)
    plain = _indexer_rows(evaluate("h100-sxm", fresh, Precision()), 0)
    assert got.loc["layers.0.indexer.qk", "bytes_hbm"] == plain.loc["layers.0.indexer.qk", "bytes_hbm"]
    assert got.loc["layers.0.indexer.rope", "bytes_hbm"] != plain.loc["layers.0.indexer.rope", "bytes_hbm"]


_FIXED_ROWS = r"\.indexer\.(?:rope|qk|reduce|topk)$"  # the rows of layer_ops.FIXED_OPERANDS' roles


@pytest.mark.parametrize(
    ("arch", "weights", "phase"),
    [
        ("h100-sxm", "fp8_e4m3", "decode"),
        ("h100-sxm", "fp8_e4m3", "prefill"),
        ("tpu-like", "fp16", "decode"),
        ("bitmod", "int4_g128", "decode"),
        ("bitmod", "int4_g128", "prefill"),
    ],
)
def test_the_cycle_engine_costs_the_indexer_at_its_formats(arch, weights, phase):
    """One pipeline feeds both engines (docs/cycle.md: within 5%): the cycle engine simulates the indexer's rows on
    the machine at their own formats, as the analytical engine costs them (hwsim.engine.machine.with_fixed_rows).
    DeepSeek-V3.2-Exp (the preset), decode of 4 sequences at 8k context / a 512-token prefill: each indexer row's
    backing-store bytes equal the analytical engine's (the simulated DMA moves the shared memory model's bytes),
    the indexer's cycles and the totals agree within 5%, and the timeline has every op in table order. Measured
    (cycle vs analytical, indexer rows, decode / prefill): h100-sxm +0.00% / +0.05%, tpu-like -0.09% / +0.53%,
    bitmod -0.09% / +0.03%. Before, the cycle engine costed those rows at the caller's formats: +1.78% / -6.15%,
    +31.16% / +3.58%, +64.35% / +71.20%, and its bytes were every row's at those formats (indexer.qk's key cache
    at 2 bytes an element, 8,454,144 bytes against the fp8 cache's 4,359,168 on h100-sxm decode). The totals,
    mostly the MoE linears at batch 4, moved less (at most +0.66%, bitmod prefill): the indexer rows are checked."""
    from hwsim import cycle

    a = load_arch(arch)
    m = load_model("deepseek-v3.2-exp")
    t = trace(m, "decode", batch=4, context=8191) if phase == "decode" else trace(m, "prefill", batch=1, seq=512)
    prec = Precision(weights=weights)
    ana, cyc = evaluate(a, t, prec), cycle.evaluate(a, t, prec)
    rows = ana.ops["name"].str.contains(_FIXED_ROWS).to_numpy()
    assert rows.sum() == 4 * 61
    back = f"bytes_{a.backing.name}"
    np.testing.assert_allclose(cyc.ops[back].to_numpy()[rows], ana.ops[back].to_numpy()[rows], rtol=1e-12)
    indexer = cyc.ops["cycles"].to_numpy()[rows].sum() / ana.ops["cycles"].to_numpy()[rows].sum()
    assert abs(indexer - 1) <= 0.05
    assert cyc.totals["cycles"] == pytest.approx(ana.totals["cycles"], rel=0.05)
    assert cyc.timeline["op"].drop_duplicates().tolist() == cyc.ops["name"].tolist()


@pytest.mark.parametrize("arch", ["sail-n1", "bitmod"])
def test_the_engines_agree_on_the_tiny_model(arch):
    """The tiny model (the indexer a large share of it), int4_g128 weights, decode of 2 at 300 cached tokens and a
    64-token prefill: the engines within 5% (measured: sail-n1 -0.7% / -0.7%, bitmod +2.0% / -1.2%; the same rows
    all at the caller's formats in both engines: -0.6% / -0.5%, +1.4% / -1.2%). Before, with the cycle engine alone
    at the caller's formats: +13.6% / -4.0% and +16.8% / -3.8%."""
    from hwsim import cycle

    m = from_hf_dict(dict(TINY))
    for t in (trace(m, "decode", batch=2, context=300), trace(m, "prefill", batch=1, seq=64)):
        ana, cyc = evaluate(arch, t, "int4_g128"), cycle.evaluate(load_arch(arch), t, "int4_g128")
        assert cyc.totals["cycles"] == pytest.approx(ana.totals["cycles"], rel=0.05)


def test_roofline_and_explain_see_the_index_key_at_fp8():
    """Roofline and `--explain` take the indexer's rows from the machine at their own formats, as the engines do.
    DeepSeek-V3.2-Exp decode at 32k: roofline's indexer.qk row on the H100-SXM preset moves the fp8 key cache with
    its scales (32,768 keys × 132 bytes + the query's 64 heads × 132) against the fp8 roof, exactly as the row alone
    at the index key's format (before: 8,404,992 bytes, the fp16 key cache, against the fp16 roof; the phase's
    kv_read_bytes 655,622,144, now 407,764,992); the index rope row writes the key at 132 bytes (33,156 bytes in all,
    was 33,280). explain's lines on the TPU-like preset add up to the engine's energy per part and its DRAM byte
    counts to the engine's bytes (before: compute +20.6%, DRAM +0.32%, unified buffer +0.95%: the lines priced the
    indexer at the caller's fp16 while the engine's totals did not)."""
    from hwsim.engine.explain import explain
    from hwsim.roofline import roofline
    from hwsim.workload.blocks import Indexer

    t = trace(load_model("deepseek-v3.2-exp"), "decode", batch=1, context=32_767)
    got = roofline("h100-sxm", t, Precision(weights="fp8_e4m3")).ops.query("level == 'hbm'").set_index("name")
    qk = got.loc["layers.3.indexer.qk"]
    assert qk["bytes"] == 32_768 * 132 + 64 * 132
    assert got.loc["layers.3.indexer.rope", "bytes"] == 2 * 64 * 128 * 2 + 128 * 2 + 132
    row = t.ops[t.ops["name"] == "layers.3.indexer.qk"].assign(op="qk")
    key = Indexer.KEY_FORMAT
    alone = roofline("h100-sxm", row, Precision(weights="fp8_e4m3", activations=key, kv=key)).ops
    alone = alone.query("level == 'hbm'").iloc[0]
    for col in ("bytes", "compute_roof_ops_per_s", "time_lower_bound_s", "attained_s"):
        assert qk[col] == alone[col], col
    # fp8 × fp8 on the tensor cores: twice q_b_proj's fp8-weight × fp16-activation rate (H100 SXM datasheet: 1,979
    # against 989 dense TFLOPS, derated alike in the preset)
    assert qk["compute_roof_ops_per_s"] == 2 * got.loc["layers.3.q_b_proj", "compute_roof_ops_per_s"]
    e = explain("tpu-like", t, Precision())
    totals = e.table.totals
    for part, energy in e.part_sums().items():
        assert energy == pytest.approx(totals[f"energy_{part}_j"], rel=1e-12), part
    assert e.energy.query("part == 'dram'")["count"].sum() == pytest.approx(totals["bytes_dram"], rel=1e-12)


def test_roofline_names_the_formats_the_indexer_rows_are_costed_at():
    """Roofline's operand columns on DeepSeek-V3.2-Exp's indexer rows name the formats those rows are costed at
    (hwsim.workload.layer_ops.FIXED_OPERANDS, the reference's fp8 index key with fp32 scales and fp32 logits), not
    the caller's: before, every row said the series' W int4_g128 / A fp16 / KV fp16 and had no activations or kv
    column. `precision` stays the series' label (it joins ops to summary and roofs); the other rows, the quantized
    checkpoint's per-op weights and a plain model are unchanged."""
    from hwsim.roofline import roofline
    from hwsim.workload.blocks import Indexer

    key, score = Indexer.KEY_FORMAT, Indexer.SCORE_FORMAT
    t = trace(load_model("deepseek-v3.2-exp"), "decode", batch=1, context=4095)
    rl = roofline("h100-sxm", t, Precision(weights="int4_g128"))
    ops = rl.ops.query("level == 'hbm'").set_index("name")
    cols = ["weights", "activations", "kv"]
    assert ops.loc["layers.0.indexer.qk", cols].tolist() == ["int4_g128", key, key]  # fp8 q · fp8 cached k
    assert ops.loc["layers.0.indexer.rope", cols].tolist() == ["int4_g128", "fp16", key]  # writes the fp8 key
    assert ops.loc["layers.0.indexer.reduce", cols].tolist() == ["int4_g128", score, "fp16"]
    assert ops.loc["layers.0.indexer.topk", cols].tolist() == ["int4_g128", score, "fp16"]
    plain = ~ops["op"].isin(["index_rope", "index_qk", "index_reduce", "index_topk"])
    assert (ops.loc[plain, cols] == ["int4_g128", "fp16", "fp16"]).all().all()
    assert set(rl.ops["precision"]) == set(rl.summary["precision"]) == {"W int4_g128 / A fp16 / KV fp16"}
    # the same rows of a series at fp8 kv keep the index key's format, and the attention reads the caller's kv
    ops = roofline("h100-sxm", t, Precision(kv="fp8_e4m3")).ops.query("level == 'hbm'").set_index("name")
    assert ops.loc["layers.0.indexer.qk", "kv"] == key and ops.loc["layers.0.attn", "kv"] == "fp8_e4m3"


def test_allocate_keeps_the_index_key_at_its_own_format():
    """`hwsim allocate --kv-formats` prices a KV unit's index keys at Indexer.KEY_FORMAT whatever format the unit
    takes (hwsim.workload.kv.as_bytes, as the trace's KV bytes and the engines; vLLM's 132-byte index cache at
    head_dim 128). Tiny model, decode, batch 2, 300 tokens: a layer's token holds the 16 + 8 latent and rope
    elements at the unit's format and the 16 index-key elements at 8.25 bits (16.5 bytes): 64.5 bytes at fp16,
    32.5 at int4_g128 (before: all 40 at the unit's format, 80 and 20.625 bytes). At int4_g128 the 16-element
    latent row and the 8-element rope row each hold one 16-bit scale (the quantizer's groups never span rows:
    hwsim.formats.grouping.row_bits): 16 × 5 / 8 + 8 × 6 / 8 = 16 bytes, not 24 × 4.125 / 8 = 12.375."""
    from hwsim.allocate import build_problem
    from hwsim.core.precision import operand_type
    from hwsim.workload.blocks import Indexer

    t = trace(from_hf_dict(TINY), "decode", batch=2, context=299)
    p = build_problem("h100-sxm", t, "fp8_e4m3", granularity="layer", kv_formats="fp16,int4_g128", proxy="uniform")
    kv = [i for i, u in enumerate(p.units) if u.endswith(".kv")]
    assert len(kv) == 3 and Indexer.KEY_BITS == 8.25
    for fmt, per_token in (("fp16", 64.5), ("int4_g128", 32.5)):
        mem = p.costs["memory_bytes"][kv, p.formats.index(fmt)]
        assert mem.tolist() == [2 * 300 * per_token] * 3, fmt
        assert mem.sum() == t.kv_cache_bytes(operand_type(fmt))  # what `simulate` counts for the same cache


def test_the_checkpoint_keeps_weights_proj_in_bf16_and_the_other_indexer_linears_in_fp8():
    """The released fp8 checkpoint (quantization_config fp8, blocks of 128): wq_b and wk fp8 like DeepSeek-V3's
    linears, weights_proj bf16 (DeepSeek's inference/model.py builds it in the default dtype, the others as
    Linear.dtype = float8_e4m3fn; vLLM builds it with quant_config=None), so the model's footprint counts it at 2
    bytes. Any quantization method: vLLM never quantizes it (a GPTQ checkpoint of the same layers alike). A model
    without an indexer gets no such rule."""
    m = load_model("deepseek-v3.2-exp")
    roles = ["layers.5.indexer_wq_b", "layers.5.indexer_wk", "layers.5.indexer_weights_proj", "layers.5.q_b_proj"]
    assert m.op_weight_formats(roles) == ["fp8_e4m3", "fp8_e4m3", "bf16", "fp8_e4m3"]
    gptq = {**TINY, "torch_dtype": "float16", "quantization_config": {"quant_method": "gptq", "bits": 4}}
    got = from_hf_dict(gptq).op_weight_formats(["layers.0.indexer_weights_proj", "layers.0.indexer_wk"])
    assert got == ["fp16", "int4_g128"]
    v3 = load_model("deepseek-v3").weight_formats
    assert v3 is not None and not any("indexer" in rule for rule, _ in v3.rules)


def test_the_indexer_is_replicated_under_tensor_parallelism():
    """As the reference runs it: every rank holds the whole indexer (DeepSeek's inference/convert.py maps wq_b, wk and
    weights_proj to no split dimension, and its Indexer uses all index_n_heads on every rank, each rank computing the
    same top-k); vLLM builds wq_b / wk / weights_proj as ReplicatedLinear ("no tensor parallel, just replicated").
    A tp8 device's indexer rows are the whole model's, the main attention's heads are split."""
    m = load_model("deepseek-v3.2-exp")
    from hwsim.serve.shard import Parallel, shard_model

    one = trace(m, "decode", batch=2, context=5000).ops
    eight = trace(shard_model(m, Parallel(tp=8)), "decode", batch=2, context=5000).ops
    cols = ["name", "m", "n", "k", "count", "macs", "weight_elems", "kv_read_elems", "kv_write_elems"]
    pick = one["name"].str.contains(r"\.indexer[._]")
    assert pick.sum() == 61 * 8
    assert (
        one[pick][cols]
        .reset_index(drop=True)
        .equals(eight[eight["name"].str.contains(r"\.indexer[._]")][cols].reset_index(drop=True))
    )
    assert (eight.query("op == 'q_absorb'")["count"] == 128 // 8).all()


def test_generate_prices_the_indexer_at_the_references_formats(monkeypatch):
    """`hwsim generate` of DeepSeek-V3.2-Exp on 8 H100-SXM (tp 8, fp8 weights, bf16-sized KV), 32k prompt, 64
    output tokens: the indexer at the reference's formats takes TTFT from 2784 ms (the indexer at the caller's
    fp16, this repository before) to 2535 ms and TPOT from 19.97 to 19.93 ms (measured here; V3 on the same: 1881 ms
    and 16.33 ms). The comparison: the same run with no row at formats of its own (FIXED_OPERANDS emptied) is the
    old pricing, slower on both counts."""
    import hwsim.engine.machine as machine
    from hwsim.serve.generate import generate
    from hwsim.serve.links import load_link
    from hwsim.serve.parallel import machine_cost
    from hwsim.serve.shard import Parallel

    arch, m = load_arch("h100-sxm"), load_model("deepseek-v3.2-exp")

    def run():
        sc = machine_cost(arch, m, Precision(weights="fp8_e4m3"), Parallel(tp=8), load_link("nvlink4"))
        return generate(sc, 32_768, 64)

    ref = run()
    assert ref.ttft_s == pytest.approx(2.535, rel=1e-3) and ref.tpot_s == pytest.approx(19.93e-3, rel=1e-3)
    monkeypatch.setattr(machine, "FIXED_OPERANDS", {})
    old = run()
    assert old.ttft_s == pytest.approx(2.784, rel=1e-3) and old.tpot_s == pytest.approx(19.97e-3, rel=1e-3)


def test_deepseek_v3_2_exp_params():
    """The preset as reconstructed: 671,877,929,216 parameters (transformers 5.25 on meta; card: 685B with the
    14B MTP module, not built), DeepSeek-V3's 671,026,404,352 plus 61 indexers of 13,959,424; active per token
    38,403,807,488 with both embedding tables (V3: 37,552,282,624)."""
    m = load_model("deepseek-v3.2-exp")
    assert (m.params, m.active_params_per_token) == (671_877_929_216, 38_403_807_488)
    assert m.params - load_model("deepseek-v3").params == 61 * (1536 * 8192 + 7168 * 128 + 2 * 128 + 7168 * 64)
    assert from_hf_dict({"model_type": "deepseek_v32"}).params == m.params  # DeepseekV32Config's defaults


def test_deepseek_v32_refusals():
    """One line each: no query latent for the indexer (HF builds q_a_proj regardless), an indexer head narrower than
    the rope channels it rotates, mlp_layer_types of the wrong length or kind."""
    for bad, field in (
        ({"q_lora_rank": None}, "q_lora_rank"),
        ({"index_head_dim": 4}, "index_head_dim"),
        ({"mlp_layer_types": ["dense", "sparse"]}, "mlp_layer_types"),
        ({"mlp_layer_types": ["dense", "moe", "dense"]}, "mlp_layer_types"),
    ):
        with pytest.raises(HwsimError, match=field):
            from_hf_dict({**TINY, **bad})


def test_long_context_decode_attention_is_bounded_by_top_k():
    """DeepSeek-V3.2-Exp decode: the main attention's MACs stop growing at 2,048 keys, the indexer's keep growing
    with the context (64 heads × 128 + 64 per key, a fifth of V3's absorbed 128 × (576 + 512) per key)."""
    m = load_model("deepseek-v3.2-exp")

    def macs(ctx: int, op: str) -> int:
        return int(trace(m, "decode", batch=1, context=ctx).ops.query(f"op == '{op}'")["macs"].sum())

    assert macs(8191, "qk") == macs(32767, "qk") == 61 * 128 * 2048 * 576
    assert macs(32767, "index_qk") == 61 * 64 * 32768 * 128
    assert macs(32767, "index_reduce") == 61 * 64 * 32768


def test_serving_prices_the_sparse_attention_from_its_row_polynomials():
    """The serving step-cost basis fits the top-k bound like a sliding window (piecewise in the keys, each piece a
    polynomial; the one-token absorbed MLA form fitted apart), so no step falls back to tracing: the composed cost
    of real steps equals their direct evaluation on the H100-SXM preset."""
    from hwsim.serve.basis import build_basis
    from hwsim.serve.stepcost import StepCost

    m = from_hf_dict(dict(TINY))
    assert all(build_basis(m, form).context.exact for form in ("unfused", "fused"))
    sc = StepCost(load_arch("h100-sxm"), m)
    assert sc.polynomial["context"] and sc.check_error < 1e-9
    for b, t, c in ((2, 1, 30), (1, 9, 40), (3, 4, 2)):
        want = evaluate(load_arch("h100-sxm"), trace(m, "prefill", batch=b, seq=t, context=c), Precision()).totals
        assert float(sc.uniform(b, t, c).seconds[0]) == pytest.approx(want["seconds"], rel=1e-9)


def test_a_decode_beyond_top_k_costs_its_batched_trace():
    """Serving's basis bounds the main attention's rows at top-k like a window but fits the indexer's rows, which read
    every cached token, unbounded (kv.UNBOUNDED_ROWS): a decode iteration of 16 sequences far beyond top-k costs what
    the batch-16 decode trace does (before, the indexer was costed at top-k keys: DeepSeek-V3.2-Exp at 128k context
    0.857 of the trace on the H100-SXM preset)."""
    from hwsim.serve.parallel import machine_cost

    arch = load_arch("h100-sxm")
    for m, ctx in ((from_hf_dict(dict(TINY)), 300), (load_model("deepseek-v3.2-exp"), 131_072)):
        sc = machine_cost(arch, m, Precision(), None, None)
        got = float(sc.iteration(np.ones(16, dtype=np.int64), np.full(16, ctx), 16).seconds)
        want = evaluate(arch, trace(m, "decode", batch=16, context=ctx), Precision()).ops["seconds"].sum()
        assert got == pytest.approx(want, rel=1e-9)


def test_every_other_preset_takes_none_of_the_indexers_paths():
    """Every other model's numbers stay bit-identical: none of its rows has operand formats of its own (cost_columns
    costs the table as before), its cache has no index key (bytes = elements × KV bits / 8, the old product exactly)
    and no module is kept unquantized beyond its quantization_config's rules. Checked besides, once, by hashing the
    evaluate totals, per-op seconds, KV and footprint bytes and per-op weight formats of the 23 other workload
    presets on the H100-SXM and TPU-like presets before and after the change: identical. (Since, the MoE
    router of the types vLLM builds without a quant_config is kept at the checkpoint's dtype too, by model type:
    tests/test_activation_exceptions.py; and MLA's absorbed products: tests/test_checkpoint_16bit_tensors.py.)"""
    from hwsim.engine.cost import op_columns
    from hwsim.paths import preset_names
    from hwsim.workload import kv
    from hwsim.workload.blocks import MLA_ABSORBED, ROUTER_UNQUANTIZED, unquantized_modules

    others = [n for n in preset_names("workloads") if n != "deepseek-v3.2-exp"]
    assert len(others) >= 20
    for name in others:
        m = load_model(name)
        # MLA's absorbed decode products (16-bit in vLLM whatever the checkpoint: tests/test_checkpoint_16bit_tensors.py)
        mla = MLA_ABSORBED if any(getattr(b.mixer, "mla", None) is not None for b in m.blocks) else ()
        assert unquantized_modules(m.blocks) == mla
        # the MoE router vLLM's modelling code builds unquantized is the only other module kept (blocks.py)
        router = m.model_type in ROUTER_UNQUANTIZED and m.num_experts > 1
        kept = (ROUTER_UNQUANTIZED[m.model_type],) if router else ()
        assert unquantized_modules(m.blocks, m.model_type) == mla + kept
        for t in (trace(m, "decode", batch=2, context=300), trace(m, "prefill", batch=1, seq=8, context=4)):
            assert fixed_groups(op_columns(t)) == ()
            assert kv.index_elems(m.blocks, t.batch, t.span) == 0
            elems = kv.cache_elems(m.blocks, t.batch, t.span, t.mla)
            assert t.kv_cache_bytes(8) == elems * 8 / 8 and t.kv_cache_bytes(4.25) == elems * 4.25 / 8
