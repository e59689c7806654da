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
    """Per token and layer: the latent (kv_lora_rank) + the rope key (qk_rope_head_dim) + the indexer's key
    (index_head_dim), every token kept (top-k selects among all of them: not a window). DeepSeek-V3.2-Exp: 61 ×
    (512 + 64 + 128) = 42,944 elements per token."""
    m = from_hf_dict(dict(TINY))
    assert bytes_per_token(m.blocks, 16) == 3 * (16 + 8 + 16) * 2
    assert trace(m, "decode", batch=2, context=999).kv_cache_bytes(16) == 3 * 2 * 1000 * (16 + 8 + 16) * 2
    big = load_model("deepseek-v3.2-exp")
    assert bytes_per_token(big.blocks, 16) == 61 * (512 + 64 + 128) * 2
    assert bytes_per_token(big.blocks, 16) - bytes_per_token(load_model("deepseek-v3").blocks, 16) == 61 * 128 * 2


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
