"""Model blocks: the new model types, their presets and real config.json files, KV sizing from blocks.

Parameter totals: HF `num_parameters()` of each model as published (model cards / config.json; the same
numbers transformers gives on the meta device, tests/data/hf_reference.json)."""

import json
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.errors import HwsimError, HwsimWarning
from hwsim.workload import from_hf_dict, load_model, trace
from hwsim.workload.config import SUPPORTED_TYPES

CONFIGS = Path(__file__).parent / "data" / "hf_configs"

# (preset or config file, model_type, total params, active params per token)
MODELS = [
    ("qwen3-8b", "qwen3", 8_190_735_360, 8_190_735_360),
    ("qwen3-30b-a3b", "qwen3_moe", 30_532_122_624, 3_353_032_704),
    ("deepseek-v3", "deepseek_v3", 671_026_404_352, 37_552_282_624),
    ("deepseek-v3.2-exp", "deepseek_v32", 671_877_929_216, 38_403_807_488),
    ("deepseek-v2-lite", "deepseek_v2", 15_706_484_224, 2_661_150_208),
    ("gemma-2-9b", "gemma2", 9_241_705_984, 9_241_705_984),
    ("llama-3.1-8b", "llama", 8_030_261_248, 8_030_261_248),
    ("llama-3.1-70b", "llama", 70_553_706_496, 70_553_706_496),
    ("llama-3.1-405b", "llama", 405_853_388_800, 405_853_388_800),
    ("gpt-oss-20b", "gpt_oss", 20_914_757_184, 4_187_440_704),
    ("falcon-7b", "falcon", 6_921_720_704, 6_921_720_704),
    ("gpt-2", "gpt2", 124_439_808, 124_439_808),
    ("llama-3.2-1b", "llama", 1_235_814_400, 1_235_814_400),
    ("llama-3.2-3b", "llama", 3_212_749_824, 3_212_749_824),
    ("qwen2.5-7b", "qwen2", 7_615_616_512, 7_615_616_512),
    ("qwen2.5-14b", "qwen2", 14_770_033_664, 14_770_033_664),
    ("qwen2.5-32b", "qwen2", 32_763_876_352, 32_763_876_352),
    ("qwen2.5-72b", "qwen2", 72_706_203_648, 72_706_203_648),
    ("qwen3-4b", "qwen3", 4_022_468_096, 4_022_468_096),
    ("qwen3-14b", "qwen3", 14_768_307_200, 14_768_307_200),
    ("qwen3-32b", "qwen3", 32_762_123_264, 32_762_123_264),
    ("phi-4", "phi3", 14_659_507_200, 14_659_507_200),
    # card: 116.83B total, 5.13B active without the 201088 x 2880 token table (hwsim counts it, as for gpt-oss-20b)
    ("gpt-oss-120b", "gpt_oss", 116_829_156_672, 5_711_982_912),
    (CONFIGS / "qwen1.5-moe-a2.7b.json", "qwen2_moe", 14_315_784_192, 2_689_173_504),
    (CONFIGS / "gemma-2b.json", "gemma", 2_506_172_416, 2_506_172_416),
    (CONFIGS / "gemma-3-1b-it.json", "gemma3_text", 999_885_952, 999_885_952),
    (CONFIGS / "llama-4-scout-17b-16e-text.json", "llama4_text", 107_769_861_120, 17_172_894_720),
    (CONFIGS / "mamba-130m-hf.json", "mamba", 129_135_360, 129_135_360),
    (CONFIGS / "mamba-codestral-7b-v0.1.json", "mamba2", 7_285_403_648, 7_285_403_648),
    (CONFIGS / "nemotron-h-8b-base-8k.json", "nemotron_h", 8_100_852_736, 8_100_852_736),
    (CONFIGS / "bamba-9b.json", "bamba", 9_780_235_392, 9_780_235_392),
    (CONFIGS / "granite-4.0-h-tiny.json", "granitemoehybrid", 6_939_037_248, 1_465_470_528),
    (CONFIGS / "jamba-v0.1.json", "jamba", 51_570_323_328, 12_110_311_296),
    (CONFIGS / "falcon-h1-1.5b-base.json", "falcon_h1", 1_554_789_760, 1_554_789_760),
    (CONFIGS / "glm-4.5-air.json", "glm4_moe", 106_852_245_504, 13_424_123_904),
    (CONFIGS / "minimax-m2.json", "minimax_m2", 228_689_748_992, 11_030_537_216),
    (CONFIGS / "qwen3-next-80b-a3b-instruct.json", "qwen3_next", 79_674_391_296, 3_874_929_408),
    (CONFIGS / "lfm2-1.2b.json", "lfm2", 1_170_340_608, 1_170_340_608),
    (CONFIGS / "lfm2-8b-a1b.json", "lfm2_moe", 8_339_929_856, 1_557_740_288),
    (CONFIGS / "minimax-text-01.json", "minimax", 456_089_655_296, 48_403_306_496),
    (CONFIGS / "granite-3.1-2b-base.json", "granite", 2_533_531_648, 2_533_531_648),
    (CONFIGS / "starcoder2-3b.json", "starcoder2", 3_030_371_328, 3_030_371_328),
    (CONFIGS / "olmo-2-0425-1b.json", "olmo2", 1_484_916_736, 1_484_916_736),
    (CONFIGS / "c4ai-command-r-v01.json", "cohere", 34_980_831_232, 34_980_831_232),
    (CONFIGS / "phi-2.json", "phi", 2_779_683_840, 2_779_683_840),
    (CONFIGS / "c4ai-command-r7b-12-2024.json", "cohere2", 8_028_033_024, 8_028_033_024),
    (CONFIGS / "smollm3-3b.json", "smollm3", 3_075_098_624, 3_075_098_624),
    (CONFIGS / "olmo-3-1025-7b.json", "olmo3", 7_298_011_136, 7_298_011_136),
    (CONFIGS / "glm-4-9b-0414.json", "glm4", 9_400_279_040, 9_400_279_040),
    (CONFIGS / "seed-oss-36b-instruct.json", "seed_oss", 36_151_104_512, 36_151_104_512),
    (CONFIGS / "ernie-4.5-0.3b-pt.json", "ernie4_5", 360_748_032, 360_748_032),
    (CONFIGS / "exaone-4.0-32b.json", "exaone4", 32_003_216_384, 32_003_216_384),
    (CONFIGS / "olmoe-1b-7b-0924.json", "olmoe", 6_919_161_856, 1_282_017_280),
    (CONFIGS / "granite-3.1-3b-a800m-instruct.json", "granitemoe", 3_298_793_472, 882_874_368),
    (CONFIGS / "ernie-4.5-21b-a3b-pt.json", "ernie4_5_moe", 21_825_437_888, 3_352_150_208),
    (CONFIGS / "hunyuan-7b-instruct.json", "hunyuan_v1_dense", 7_504_568_320, 7_504_568_320),
    (CONFIGS / "ministral-3-8b-text.json", "ministral3", 8_489_553_920, 8_489_553_920),
    (CONFIGS / "phi-3.5-moe-instruct.json", "phimoe", 41_873_153_344, 6_640_999_744),
    (CONFIGS / "hunyuan-a13b-instruct.json", "hunyuan_v1_moe", 80_393_183_232, 12_747_448_320),
    (CONFIGS / "dbrx-instruct.json", "dbrx", 131_596_523_520, 36_469_708_800),  # card: 132B total, 36B active
    (CONFIGS / "apertus-8b-2509.json", "apertus", 8_053_338_176, 8_053_338_176),
    # multimodal wrappers (gemma3, llama4, mistral3): the language model of text_config, vision tower not counted
    (CONFIGS / "gemma-3-4b-it.json", "gemma3_text", 3_880_263_168, 3_880_263_168),
    (CONFIGS / "llama-4-scout-17b-16e.json", "llama4_text", 107_769_861_120, 17_172_894_720),
    (CONFIGS / "mistral-small-3.1-24b-instruct-2503.json", "mistral", 23_572_403_200, 23_572_403_200),
    (CONFIGS / "qwen2.5-vl-7b-instruct.json", "qwen2", 7_615_616_512, 7_615_616_512),  # text fields at top level
    (CONFIGS / "qwen2-vl-7b-instruct.json", "qwen2", 7_615_616_512, 7_615_616_512),
    (CONFIGS / "qwen3.5-27b.json", "qwen3_5_text", 26_895_998_464, 26_895_998_464),
    (CONFIGS / "qwen3.5-35b-a3b.json", "qwen3_5_moe_text", 34_660_610_688, 3_454_988_928),
    (CONFIGS / "gemma-4-31b-it.json", "gemma4_text", 30_697_345_280, 30_697_345_280),
    (CONFIGS / "gemma-4-26b-a4b-it.json", "gemma4_text", 25_233_141_760, 3_822_530_560),
    (CONFIGS / "gemma-4-e2b-it.json", "gemma4_text", 4_628_569_344, 4_628_569_344),
]


@pytest.mark.parametrize("source,model_type,params,active", MODELS, ids=[str(m[0]).split("/")[-1] for m in MODELS])
def test_published_param_totals(source, model_type, params, active):
    m = load_model(source)
    assert (m.model_type, m.params, m.active_params_per_token) == (model_type, params, active)
    # a trace's linear weights read at batch 1 prefill cover every parameter the token path touches
    assert trace(m, "decode", batch=1, context=8).totals()["params"] == params


def test_unsupported_type_lists_types_without_misleading_hint():
    cfg = dict(load_model("qwen3-8b").extra)
    with pytest.raises(HwsimError) as err:
        from_hf_dict({**cfg, "model_type": "rwkv"})
    msg = str(err.value)
    assert "supported: " in msg and "qwen3_moe" in msg and "mamba" in msg and "did you mean" not in msg
    assert set(SUPPORTED_TYPES) >= {
        "qwen3",
        "qwen2_moe",
        "qwen3_moe",
        "deepseek_v2",
        "deepseek_v3",
        "gemma",
        "gemma2",
        "gemma3_text",
        "gpt2",
        "falcon",
        "gpt_oss",
        "llama4_text",
        "mamba",
    }


def test_hf_default_fixes():
    mixtral = dict(load_model("mixtral-8x7b").extra)
    del mixtral["num_local_experts"], mixtral["num_experts_per_tok"]
    m = from_hf_dict(mixtral)  # MixtralConfig defaults: 8 experts, top-2
    assert (m.num_experts, m.experts_per_token) == (8, 2) and m.params == load_model("mixtral-8x7b").params
    neox = dict(load_model("pythia-6.9b").extra)
    no_bias = from_hf_dict({**neox, "attention_bias": False})  # GPT-NeoX: attention_bias drops qkv/dense biases
    h = neox["hidden_size"]
    assert load_model("pythia-6.9b").params - no_bias.params == (3 * h + h) * neox["num_hidden_layers"]
    phi = dict(load_model("phi-3-mini").extra)
    assert from_hf_dict({**phi, "attention_bias": True}).params == load_model("phi-3-mini").params  # HF ignores it
    opt = dict(load_model("opt-6.7b").extra)
    post = from_hf_dict({**opt, "do_layer_norm_before": False})  # no final_layer_norm module
    assert load_model("opt-6.7b").params - post.params == 2 * opt["hidden_size"]


def test_kv_cache_from_blocks():
    """MLA caches latent + rope key; sliding layers cap at the window; SSM state is span-independent."""
    ds = load_model("deepseek-v3")
    t = trace(ds, "decode", context=999)
    assert t.kv_cache_bytes(16) == 61 * 1000 * (512 + 64) * 2
    expanded = trace(ds, "decode", context=999, mla="expanded")
    assert expanded.kv_cache_bytes(16) == 61 * 1000 * 128 * (192 + 128) * 2
    g = load_model("gemma-2-9b")  # 21 sliding (4096) + 21 global layers, 8 KV heads × 256 × (K, V)
    per_tok = 8 * 256 * 2 * 2
    assert trace(g, "decode", context=7999).kv_cache_bytes() == 21 * per_tok * (8000 + 4096)
    mamba = load_model(CONFIGS / "mamba-130m-hf.json")
    a, b = (trace(mamba, "decode", context=c).kv_cache_bytes() for c in (10, 10000))
    assert a == b == 24 * 1536 * (16 + 3) * 2


def test_mamba2_bad_geometry_is_one_line_naming_the_field():
    """Mamba2Config refuses heads × head_dim != expand × hidden (validate_architecture); n_groups must divide
    the heads (B and C are shared by heads / n_groups heads each)."""
    cfg = json.loads((CONFIGS / "mamba-codestral-7b-v0.1.json").read_text())
    with pytest.raises(HwsimError, match="num_heads") as err:
        from_hf_dict({**cfg, "num_heads": 96})
    assert "\n" not in str(err.value)
    with pytest.raises(HwsimError, match="n_groups"):
        from_hf_dict({**cfg, "n_groups": 3})


def test_sliding_window_caps_attention():
    g = load_model("gemma-2-9b")
    ops = trace(g, "decode", context=7999).ops.set_index("name")
    assert ops.loc["layers.0.attn.qk", "n"] == 4096 and ops.loc["layers.1.attn.qk", "n"] == 8000
    assert "layers.0.attn.softmax" in ops.index and "logit_softcap" in ops.index


def test_shared_experts_and_dense_first_layers():
    ds = load_model("deepseek-v2-lite")
    ops = trace(ds, "decode", batch=4).ops
    l0, l1 = ops[ops["layer"] == 0], ops[ops["layer"] == 1]
    assert "mlp.gate_proj" in set(l0["name"].str[9:]) and not (l0["op"] == "router").any()
    names = set(l1["name"].str[9:])
    assert {"router", "shared.gate_proj", "shared.down_proj", "experts.up_proj"} <= names
    shared = l1.set_index(l1["name"].str[9:]).loc["shared.up_proj"]
    assert (shared["m"], shared["n"], shared["k"]) == (4, 2 * 1408, 2048)


def test_mla_decode_absorbed_vs_expanded():
    """Absorbed decode attends over the 576-wide latent once for all heads; expanded reads per-head K/V."""
    ds = load_model("deepseek-v2-lite")
    ab = trace(ds, "decode", batch=2, context=1023).ops.set_index("name")
    ex = trace(ds, "decode", batch=2, context=1023, mla="expanded").ops.set_index("name")
    qk = ab.loc["layers.0.attn.qk"]
    assert (qk["k"], qk["n"], qk["kv_read_elems"]) == (576, 1024, 2 * 1024 * 576)
    assert "layers.0.q_absorb" in ab.index and "layers.0.kv_b_proj" not in ab.index
    assert ex.loc["layers.0.attn.qk", "kv_read_elems"] == 2 * 16 * 1024 * 192
    # unfused: latent read for K (576) and again for V (512) vs 16 heads × (192 + 128)
    assert ab["kv_read_elems"].sum() * 4 < ex["kv_read_elems"].sum()


@pytest.mark.parametrize("name", ["llama-2-7b", "deepseek-v2-lite", "gemma-2-9b", "gpt-oss-20b"])
def test_fused_attention_one_row_per_layer_same_macs(name):
    m = load_model(name)
    for phase, kw in (("prefill", {"seq": 64, "context": 32}), ("decode", {"context": 300})):
        un = trace(m, phase, batch=2, **kw)
        fu = trace(m, phase, batch=2, **kw, attention="fused")
        assert (fu.ops["op"] == "attn_fused").sum() == m.layers
        assert not fu.ops["op"].isin(["qk", "av", "softmax"]).any()
        assert fu.ops["macs"].sum() == un.ops["macs"].sum()
        assert fu.ops["vector_ops"].sum() == un.ops["vector_ops"].sum()
        att = fu.ops[fu.ops["op"] == "attn_fused"]
        assert (att["macs"] % (att["count"] * att["m"] * att["k"]) == 0).all()
        assert un.with_attention("fused").ops.equals(fu.ops)


PRESETS = sorted(
    p.stem for p in (Path(__file__).resolve().parents[1] / "hwsim" / "presets" / "workloads").glob("*.yaml")
)


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(PRESETS),
    phase=st.sampled_from(["prefill", "decode"]),
    batch=st.integers(2, 6),
    seq=st.integers(1, 64),
    context=st.integers(0, 512),
)
def test_params_do_not_depend_on_the_step_and_macs_grow_linearly_with_batch(name, phase, batch, seq, context):
    """Issue 14's invariants for every preset (every supported type has one): the parameter count is the
    model's, whatever the step; a batch of B sequences does B times one sequence's MACs (MoE routing is an
    expectation per token, lm_head runs per sequence)."""
    model = load_model(name)
    kw = {"seq": seq} if phase == "prefill" else {"context": context}
    one, many = trace(model, phase, batch=1, **kw), trace(model, phase, batch=batch, **kw)
    assert one.totals()["params"] == many.totals()["params"] == model.params
    assert int(many.ops["macs"].sum()) == batch * int(one.ops["macs"].sum())


def test_a_multimodal_wrapper_reads_its_text_config_and_says_once_what_is_not_traced(capsys):
    """gemma3: text_config leaves heads, kv heads and vocab to Gemma3TextConfig's defaults (8, 4, 262,208); the
    CLI prints the one warning line naming the vision tower once; Mistral-Small-3.1's `sliding_window: null` is
    full attention (MistralConfig's 4096 is only the default of an absent field)."""
    from hwsim.cli import main

    path = CONFIGS / "gemma-3-4b-it.json"
    with pytest.warns(HwsimWarning, match="SigLIP vision tower and multi-modal projector are not traced"):
        g = load_model(path)
    assert (g.heads, g.kv_heads, g.head_dim, g.vocab, g.layers, g.tie_embeddings) == (8, 4, 256, 262_208, 34, True)
    assert [b.attention.window for b in g.blocks].count(None) == 34 // 6  # every 6th layer global, others 1024
    with pytest.warns(HwsimWarning):
        mistral = load_model(CONFIGS / "mistral-small-3.1-24b-instruct-2503.json")
    assert {b.attention.window for b in mistral.blocks} == {None}
    assert {b.attention.window for b in load_model("mistral-7b").blocks} == {4096}  # v0.1: field absent
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # as a fresh process shows it, whatever this session has seen or filtered
        assert main(["trace", "--model", str(path), "--phase", "decode"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "gemma3: hwsim traces the language model (gemma3_text) only" in err


def test_a_wrapper_around_an_unsupported_language_model_is_one_line_listing_the_types():
    cfg = json.loads((CONFIGS / "mistral-small-3.1-24b-instruct-2503.json").read_text())
    cfg["text_config"]["model_type"] = "rwkv"  # (ministral3, Ministral-3's, is supported)
    with pytest.raises(
        HwsimError,
        match=r"text_config.model_type: unsupported language model type 'rwkv'; "
        r"supported: llama, mistral",
    ):
        from_hf_dict(cfg)
    tied = from_hf_dict(
        {**cfg, "text_config": {**cfg["text_config"], "model_type": "mistral"}, "tie_word_embeddings": True}
    )
    assert tied.tie_embeddings  # a top-level tie_word_embeddings is the wrapper's own LM head tying


def test_starcoder2_and_granite_map_onto_the_existing_blocks():
    """StarCoder2-3B: GQA (24 heads, 2 KV), a 4096 window on every layer, LayerNorm, biased non-gated MLP whose
    c_fc / c_proj are nn.Linear (not GPT-2's in × out Conv1D); Granite: Llama's blocks, embeddings scaled by
    embedding_multiplier (12)."""
    sc = load_model(CONFIGS / "starcoder2-3b.json")
    attn, mlp = sc.blocks[0].attention, sc.blocks[0].mlp
    assert (attn.heads, attn.kv_heads, attn.window, attn.qkv_bias, sc.norm) == (24, 2, 4096, True, "layernorm")
    assert (mlp.gated, mlp.bias, sc.tie_embeddings) == (False, True, True)
    assert from_hf_dict({**sc.extra, "sliding_window": None}).blocks[0].attention.window is None
    g = load_model(CONFIGS / "granite-3.1-2b-base.json")
    assert g.embedding.scale and not from_hf_dict({**g.extra, "embedding_multiplier": 1.0}).embedding.scale
    ops = set(trace(g, "decode", batch=1, context=8).ops["op"])
    assert "scale" in ops and g.params == from_hf_dict({**g.extra, "model_type": "llama"}).params


def test_qwen2_5_vl_reads_top_level_or_nested_text_fields_alike():
    """Qwen2.5-VL config.json saved by transformers < 4.53 keeps the text fields at the top level; later saves nest
    them in text_config (model_type qwen2_5_vl_text, Qwen2's decoder): both read as the same language model."""
    top = json.loads((CONFIGS / "qwen2.5-vl-7b-instruct.json").read_text())
    text = {k: v for k, v in top.items() if k not in ("model_type", "vision_config", "_name_or_path")}
    nested = {"model_type": "qwen2_5_vl", "vision_config": top["vision_config"], "tie_word_embeddings": False}
    with pytest.warns(HwsimWarning, match="language model \\(qwen2\\) only"):
        a = from_hf_dict(top)
        b = from_hf_dict({**nested, "text_config": {**text, "model_type": "qwen2_5_vl_text"}})
    assert a.blocks == b.blocks and a.params == b.params == 7_615_616_512 and a.blocks[0].attention.qkv_bias


def test_olmo2_normalises_q_and_k_across_heads_and_cohere_runs_attention_beside_the_mlp():
    """OLMo-2's q_norm / k_norm are one RMSNorm over all heads (weights q_dim and kv_dim, not head_dim as
    Qwen3's); Command-R: one bias-free LayerNorm feeding attention and MLP side by side, tied LM head."""
    olmo = load_model(CONFIGS / "olmo-2-0425-1b.json")
    attn, h = olmo.blocks[0].attention, olmo.hidden
    per_head = from_hf_dict({**olmo.extra, "model_type": "llama"})
    assert olmo.params - per_head.params == olmo.layers * (attn.heads + attn.kv_heads) * attn.head_dim
    q_norm = trace(olmo, "decode", batch=3, context=8).ops.query("name == 'layers.0.q_norm'").iloc[0]
    assert (q_norm["m"], q_norm["n"], q_norm["weight_elems"]) == (3, h, h)  # one row per token, all heads
    cohere = load_model(CONFIGS / "c4ai-command-r-v01.json")
    layer = cohere.blocks[0]
    assert (layer.parallel, layer.norms, cohere.norm, cohere.tie_embeddings) == (True, 1, "layernorm_weight", True)
    assert cohere.param_breakdown()["final_norm"] == cohere.hidden  # a weight, no bias
    # Command R+'s per-head q/k LayerNorms (tests/test_workload_cohere_qk_norm.py): one weight per head element
    with_norms = from_hf_dict({**cohere.extra, "use_qk_norm": True})
    a = with_norms.blocks[0].attention
    assert with_norms.params - cohere.params == cohere.layers * (a.heads + a.kv_heads) * a.head_dim


def test_phi2_has_a_biased_lm_head_and_optional_per_head_qk_layernorms():
    """Phi-2: parallel attention + MLP after one LayerNorm, biases everywhere including the LM head (vocab extra
    parameters, traced as the lm_head op's bias); qk_layernorm adds a LayerNorm (weight + bias, head_dim wide) for
    q and for k per layer: 2,779,694,080 params, transformers 5.25's PhiForCausalLM count on the meta device."""
    phi = load_model(CONFIGS / "phi-2.json")
    assert (phi.blocks[0].parallel, phi.blocks[0].norms, phi.embedding.head_bias) == (True, 1, True)
    assert phi.param_breakdown()["lm_head"] == phi.vocab * (phi.hidden + 1)
    head = trace(phi, "decode", batch=1, context=8).ops.query("op == 'lm_head'").iloc[0]
    assert head["weight_elems"] == phi.vocab * (phi.hidden + 1)
    assert from_hf_dict({**phi.extra, "qk_layernorm": True}).params == 2_779_694_080


def test_command_r7b_interleaves_three_sliding_rope_layers_with_one_global_nope_layer():
    """Cohere2 (transformers' default layer_types from sliding_window_pattern 4): layers 4k+3 attend globally
    without rope, the others within 4096 tokens with rope; the decode KV cache of a sliding layer stops at the
    window while a global layer's grows with the context."""
    m = load_model(CONFIGS / "c4ai-command-r7b-12-2024.json")
    assert [(b.attention.window, b.attention.rotary) for b in m.blocks[:4]] == [(4096, True)] * 3 + [(None, False)]
    assert sum(b.attention.window is None for b in m.blocks) == 8 and m.blocks[0].parallel
    ops = trace(m, "decode", batch=1, context=10_000).ops
    reads = ops[ops["kv_read_elems"] > 0].groupby("layer")["kv_read_elems"].sum()
    assert reads[3] > reads[0] and reads[0] == reads[1]


def test_a_wrong_field_inside_text_config_is_named_where_it_is_written(tmp_path):
    from hwsim.cli import main

    cfg = json.loads((CONFIGS / "gemma-3-4b-it.json").read_text())
    cfg["text_config"]["num_hidden_layers"] = 0
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    with (
        pytest.warns(HwsimWarning),
        pytest.raises(HwsimError, match=r"config.json: text_config.num_hidden_layers: must"),
    ):
        load_model(path)
    cfg["text_config"] |= {"num_hidden_layers": 34, "num_key_value_head": 2}
    with pytest.warns(HwsimWarning, match="text_config.num_key_value_head: not a field; did you mean num_key_value"):
        from_hf_dict(cfg)
    cfg["text_config"]["num_key_value_heads"] = 3
    path.write_text(json.dumps(cfg))
    assert main(["trace", "--model", str(path), "--phase", "decode"]) == 2  # one line, exit 2


@pytest.mark.parametrize(
    "source,change,rotary_dim",
    [
        ("pythia-6.9b", {}, 32),  # GPT-NeoX rotary_pct 0.25 of 128
        (CONFIGS / "phi-2.json", {}, 32),  # partial_rotary_factor 0.4 of 80
        (CONFIGS / "bamba-9b.json", {"partial_rotary_factor": 1.0}, 64),  # BambaConfig hard-codes 0.5, config ignored
        ("phi-3-mini", {}, None),  # Phi3Config's default 1.0: the whole head
        ("phi-3-mini", {"partial_rotary_factor": 0.75}, 72),  # as Phi-4-mini's config
    ],
)
def test_partial_rotary_as_transformers_reads_it(source, change, rotary_dim):
    """The rotated share of each head as transformers 5.25 computes it (int(head_dim × factor): PhiAttention's
    rotary_ndims; GPT-NeoX / Bamba / Phi-3 apply_rotary_pos_emb on q[..., :rotary_dim]); rope's vector ops cover
    that share only."""
    m = load_model(source)
    if change:
        m = from_hf_dict({**m.extra, **change})
    attn = m.blocks[0].attention if m.blocks[0].attention else next(b.attention for b in m.blocks if b.attention)
    assert attn.rotary_dim == rotary_dim
    rope = trace(m, "decode", batch=1, context=8).ops.query("op == 'rope'")["vector_ops"].iloc[0]
    share = (rotary_dim or attn.head_dim) / attn.head_dim
    assert rope == 3 * (attn.heads + attn.kv_heads) * attn.head_dim * share
