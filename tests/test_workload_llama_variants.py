"""Decoder types read by the Llama reader with a twist each (hwsim.workload.readers._llama_like): SmolLM3's NoPE
layers, OLMo-3's and EXAONE-4's sliding-window patterns, GLM-4's sandwich norms and half rotary, Seed-OSS's and
ERNIE-4.5's biases, HunYuan's q/k norms, Ministral-3; the MoE ones: OLMoE's, Granite-MoE's and Phi-3.5-MoE's experts
in every layer, ERNIE-4.5-MoE's placement and shared experts, Hunyuan-MoE's shared MLP and per-layer top-k,
Granite-MoE-shared's shared MLP.

Parameter counts: transformers 5.25 on the meta device (AutoModelForCausalLM.from_config of the config given,
tests/data/hf_reference.json for the files in tests/data/hf_configs; the changed configs below counted the same way
with the throwaway venv, numbers quoted in each test)."""

from pathlib import Path

import pytest

from hwsim.errors import HwsimError, HwsimWarning
from hwsim.workload import from_hf_dict, load_model, trace

CONFIGS = Path(__file__).parent / "data" / "hf_configs"


def _rope_window(m) -> list[tuple[bool, int | None]]:
    return [(b.attention.rotary, b.attention.window) for b in m.blocks]


def test_smollm3_leaves_every_fourth_layer_without_rope():
    """SmolLM3-3B: no_rope_layers (1 = rope) is 1, 1, 1, 0 repeated; without it SmolLM3Config builds the same list
    from no_rope_layer_interval (default 4). A window applies only under use_sliding_window, and then (without
    layer_types) on the NoPE layers only (SmolLM3Config.__post_init__)."""
    m = load_model(CONFIGS / "smollm3-3b.json")
    assert _rope_window(m)[:8] == [(True, None)] * 3 + [(False, None)] + [(True, None)] * 3 + [(False, None)]
    assert m.tie_embeddings
    base = {k: v for k, v in m.extra.items() if k != "no_rope_layers"}
    assert _rope_window(from_hf_dict(base)) == _rope_window(m)
    every_other = from_hf_dict({**base, "no_rope_layer_interval": 2})
    assert [r for r, _ in _rope_window(every_other)[:4]] == [True, False, True, False]
    windowed = from_hf_dict({**base, "use_sliding_window": True, "sliding_window": 2048})
    assert _rope_window(windowed)[:4] == [(True, None)] * 3 + [(False, 2048)]
    ignored = from_hf_dict({**base, "use_sliding_window": False, "sliding_window": 2048})
    assert _rope_window(ignored) == _rope_window(m)
    # no rope row on a NoPE layer; rope rows on the others
    ops = trace(m, "decode", batch=1, context=8).ops
    assert set(ops.query("op == 'rope'")["layer"]) == {i for i in range(m.layers) if (i + 1) % 4}
    with pytest.raises(HwsimError, match="no_rope_layers"):
        from_hf_dict({**base, "no_rope_layers": [1, 0]})


def test_olmo3_slides_three_layers_of_four_with_q_and_k_normed_across_heads():
    """OLMo-3 (Olmo3Config): 4096-token windows on layers 4k..4k+2, global attention on 4k+3, rope on all; OLMo-2's
    q/k RMSNorms over all heads and its post-norms."""
    m = load_model(CONFIGS / "olmo-3-1025-7b.json")
    assert _rope_window(m)[:4] == [(True, 4096)] * 3 + [(True, None)]
    assert {b.attention.qk_norm for b in m.blocks} == {"rmsnorm_all"}
    olmo2 = from_hf_dict({**m.extra, "model_type": "olmo2"})
    assert olmo2.params == m.params and {b.attention.window for b in olmo2.blocks} == {None}
    ops = trace(m, "decode", batch=1, context=10_000).ops
    reads = ops[ops["kv_read_elems"] > 0].groupby("layer")["kv_read_elems"].sum()
    assert reads[3] > reads[0] == reads[1]


def test_exaone4_global_layers_are_nope_only_beside_sliding_ones():
    """EXAONE-4 (Exaone4Attention): rope where sliding_window is null or the layer slides, so with a window the
    global layers run without it; per-head q/k RMSNorms, post-norms. A hub config's pattern string ("LLLG") is
    read only through layer_types, as transformers does. EXAONE-4.0-1.2B's geometry (all global, tied):
    1,279,391,488 parameters in transformers 5.25 (card 1.28B)."""
    m = load_model(CONFIGS / "exaone-4.0-32b.json")
    assert _rope_window(m)[:4] == [(True, 4096)] * 3 + [(False, None)]
    assert {b.attention.qk_norm for b in m.blocks} == {"rmsnorm"}
    types = ["sliding_attention"] * 3 + ["full_attention"]
    given = from_hf_dict({**m.extra, "sliding_window_pattern": "LLLG", "layer_types": types * 16})
    assert _rope_window(given) == _rope_window(m)
    small = {
        **m.extra,
        "hidden_size": 2048,
        "intermediate_size": 4096,
        "num_hidden_layers": 30,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 64,
        "sliding_window": None,
        "tie_word_embeddings": True,
    }
    small_model = from_hf_dict(small)
    assert small_model.params == 1_279_391_488
    assert set(_rope_window(small_model)) == {(True, None)}


def test_glm4_wraps_attention_and_mlp_in_pre_and_post_norms_and_rotates_half_of_each_head():
    """GLM-4-0414 (Glm4DecoderLayer): input, post-self-attention, post-attention and post-MLP RMSNorms (four per
    layer, Gemma-2's placement); GlmAttention's q/k/v biases under attention_bias, none on o_proj; rotary on
    partial_rotary_factor 0.5 of each head; the MLP's gate and up fused in gate_up_proj (Phi3MLP). Without the biases
    transformers counts 9,400,094,720 parameters."""
    m = load_model(CONFIGS / "glm-4-9b-0414.json")
    attn = m.blocks[0].attention
    assert (m.blocks[0].norms, attn.rotary_dim, attn.qkv_bias, attn.o_bias) == (4, 64, True, False)
    assert from_hf_dict({**m.extra, "attention_bias": False}).params == 9_400_094_720
    norms = trace(m, "decode", batch=1, context=8).ops.query("layer == 0 and op == 'norm'")["name"]
    assert len(norms) == 4 and "layers.0.post_feedforward_norm" in set(norms)


def test_seed_oss_and_ernie45_biases():
    """Seed-OSS: q/k/v biased under attention_bias (default true), o_proj under attention_out_bias (default
    false): with it 36,151,432,192 parameters in transformers. ERNIE-4.5: one use_bias for q/k/v/o and the MLP
    (360,941,568 with it), tied embeddings by default."""
    seed = load_model(CONFIGS / "seed-oss-36b-instruct.json")
    a = seed.blocks[0].attention
    assert (a.qkv_bias, a.o_bias, a.head_dim) == (True, False, 128)
    assert from_hf_dict({**seed.extra, "attention_out_bias": True}).params == 36_151_432_192
    ernie = load_model(CONFIGS / "ernie-4.5-0.3b-pt.json")
    assert ernie.tie_embeddings and not ernie.blocks[0].mlp.bias
    biased = from_hf_dict({**ernie.extra, "use_bias": True})
    assert biased.params == 360_941_568
    assert biased.blocks[0].mlp.bias and biased.blocks[0].attention.o_bias


def test_olmoe_and_granitemoe_run_experts_in_every_layer():
    """OLMoE-1B-7B (OlmoeForCausalLM): OLMo-2's q/k RMSNorms over all heads, Llama's pre-norms, 64 experts of
    intermediate_size in every layer, 8 per token (card: 6.9B total, 1.3B active); num_local_experts is an alias of
    num_experts (32 experts: 3,696,887,808 parameters in transformers 5.25). Granite-3.1-3B-A800M (GraniteMoe):
    40 experts of 512, 8 per token, the embeddings times embedding_multiplier (card: 3.3B total, 800M active)."""
    olmoe = load_model(CONFIGS / "olmoe-1b-7b-0924.json")
    assert {(b.mlp.experts, b.mlp.top_k, b.attention.qk_norm) for b in olmoe.blocks} == {(64, 8, "rmsnorm_all")}
    alias = {k: v for k, v in olmoe.extra.items() if k != "num_experts"}
    assert from_hf_dict({**alias, "num_local_experts": 32}).params == 3_696_887_808
    granite = load_model(CONFIGS / "granite-3.1-3b-a800m-instruct.json")
    assert {(b.mlp.experts, b.mlp.top_k, b.mlp.intermediate) for b in granite.blocks} == {(40, 8, 512)}
    assert granite.embedding.scale and granite.tie_embeddings


def test_ernie45_moe_places_its_experts_from_start_to_end_every_interval():
    """ERNIE-4.5-21B-A3B (Ernie4_5_MoeDecoderLayer): layer 0 dense (moe_layer_start_index 1), then 64 experts of 1536,
    6 per token, beside 2 shared experts run as one MLP of 3072; e_score_correction_bias (64 per MoE layer) counted
    as the router's bias. With moe_layer_interval 2 from layer 0 and no shared experts transformers 5.25 counts
    12,598,459,776 parameters (MoE on layers 1, 3, …). Biases (use_bias) are refused in one line: the routed experts
    would have none, the shared ones would."""
    m = load_model(CONFIGS / "ernie-4.5-21b-a3b-pt.json")
    kinds = [(b.mlp.experts, b.mlp.shared, b.mlp.router_bias) for b in m.blocks]
    assert kinds[0] == (1, 0, False) and set(kinds[1:]) == {(64, 3072, True)}
    base = {k: v for k, v in m.extra.items() if k != "moe_layer_end_index"}
    every_other = from_hf_dict(
        {**base, "moe_layer_interval": 2, "moe_layer_start_index": 0, "moe_num_shared_experts": 0}
    )
    assert [b.mlp.is_moe for b in every_other.blocks[:4]] == [False, True, False, True]
    assert every_other.params == 12_598_459_776
    with pytest.raises(HwsimError, match="use_bias"):
        from_hf_dict({**m.extra, "use_bias": True})


def test_hunyuan_dense_normalises_q_and_k_per_head_whatever_use_qk_norm_says():
    """Hunyuan-7B (HunYuanDenseV1Attention builds query_layernorm / key_layernorm, head_dim wide, unconditionally):
    7,504,568,320 parameters with use_qk_norm true or false in transformers 5.25."""
    m = load_model(CONFIGS / "hunyuan-7b-instruct.json")
    assert {b.attention.qk_norm for b in m.blocks} == {"rmsnorm"}
    assert from_hf_dict({**m.extra, "use_qk_norm": False}).params == m.params == 7_504_568_320


def test_phimoe_is_mixtral_with_layernorms_and_biases():
    """Phi-3.5-MoE (PhimoeForCausalLM): nn.LayerNorm (weight and bias) for every norm, q/k/v/o biased under
    attention_bias, the LM head under lm_head_bias, 16 experts of 6400, 2 per token (card: 42B total, 6.6B active).
    Without both biases transformers 5.25 counts 41,872,793,600 parameters."""
    m = load_model(CONFIGS / "phi-3.5-moe-instruct.json")
    a = m.blocks[0].attention
    assert (m.norm, m.embedding.head_bias, a.qkv_bias, a.o_bias) == ("layernorm", True, True, True)
    assert {(b.mlp.experts, b.mlp.top_k) for b in m.blocks} == {(16, 2)}
    assert from_hf_dict({**m.extra, "attention_bias": False, "lm_head_bias": False}).params == 41_872_793_600


def test_ministral3_is_read_alone_or_as_the_language_model_of_mistral3():
    """Ministral-3 (Ministral3ForCausalLM: Mistral's layers, no window by default, head_dim 128 by default; its
    position-dependent query scale a vector row, tests/test_workload_hf_reference.py): the hub's mistral3 wrapper names it as
    text_config.model_type, whose language model hwsim then traces."""
    m = load_model(CONFIGS / "ministral-3-8b-text.json")
    assert {b.attention.window for b in m.blocks} == {None} and m.head_dim == 128
    text = {k: v for k, v in m.extra.items() if k not in ("head_dim", "sliding_window")}
    assert from_hf_dict(text).params == m.params
    with pytest.warns(HwsimWarning, match="language model"):
        wrapped = from_hf_dict({"model_type": "mistral3", "text_config": m.extra, "vision_config": {}})
    assert (wrapped.model_type, wrapped.params) == ("ministral3", m.params)


def test_hunyuan_moe_runs_experts_beside_a_shared_mlp_in_every_layer():
    """Hunyuan-A13B (HunYuanMoEV1Moe in every layer): 64 experts of intermediate_size behind gate.wg, moe_topk per
    token (a list, one per layer) beside a shared MLP of the same width, per-head q/k norms (card: 80B total, 13B
    active). A single expert (HunYuanMoEV1Config's default) or a top-k beyond the experts is refused in one line."""
    m = load_model(CONFIGS / "hunyuan-a13b-instruct.json")
    assert {(b.mlp.experts, b.mlp.top_k, b.mlp.shared, b.attention.qk_norm) for b in m.blocks} == {
        (64, 8, 3072, "rmsnorm")
    }
    varied = from_hf_dict({**m.extra, "moe_topk": [8] * 16 + [2] * 16})
    assert [b.mlp.top_k for b in varied.blocks[14:18]] == [8, 8, 2, 2]
    assert varied.params == m.params and varied.active_params_per_token < m.active_params_per_token
    with pytest.raises(HwsimError, match="num_experts"):
        from_hf_dict({k: v for k, v in m.extra.items() if k != "num_experts"})
    with pytest.raises(HwsimError, match="moe_topk"):
        from_hf_dict({**m.extra, "moe_topk": 65})


def test_apertus_runs_a_non_gated_xielu_mlp_whose_two_scalars_are_parameters():
    """Apertus-8B (ApertusForCausalLM): per-head q/k RMSNorms, an up → xIELU → down MLP without a gate or biases;
    XIELUActivation's alpha_p and alpha_n are one parameter each per layer (64 of transformers 5.25's
    8,053,338,176), read by the activation row; its vector ops per element are an assumed count."""
    m = load_model(CONFIGS / "apertus-8b-2509.json")
    mlp = m.blocks[0].mlp
    assert (mlp.gated, mlp.activation, mlp.bias, m.blocks[0].attention.qk_norm) == (False, "xielu", False, "rmsnorm")
    silu = from_hf_dict({**m.extra, "hidden_act": "silu"})
    assert m.params - silu.params == 2 * m.layers
    act = trace(m, "decode", batch=1, context=8).ops.query("layer == 0 and op == 'act'").iloc[0]
    assert (act["weight_elems"], act["m"], act["n"]) == (2, 1, mlp.intermediate)
    assert "gate_proj" not in m.blocks[0].linears(m.hidden)


def test_a_window_as_long_as_the_trained_context_warns_only_about_the_callers_span(capsys):
    """Phi-3.5-MoE's window is its max_position_embeddings (131072): the serving basis a sharded generate fits traces
    probe shapes past the window, which must not warn about a context nobody asked for (hwsim.serve.basis); a
    prompt that does pass the trained length is warned about once."""
    from hwsim.cli import main

    model = str(CONFIGS / "phi-3.5-moe-instruct.json")
    args = ["generate", "--arch", "h100-sxm", "--model", model, "--output", "4", "--tp", "2", "--ep", "2"]
    assert main([*args, "--prompt", "64"]) == 0
    assert "beyond its max_position_embeddings" not in capsys.readouterr().err
    assert main([*args, "--prompt", "131070"]) == 0
    assert capsys.readouterr().err.count("beyond its max_position_embeddings") == 1


def test_granitemoeshared_adds_an_always_on_shared_mlp_beside_granite_moe_experts():
    """Granite-MoE-shared (HF GraniteMoeSharedDecoderLayer): GraniteMoE's every-layer experts plus, when
    shared_intermediate_size > 0, a gated shared_mlp (input_linear: gate then up, output_linear) run on every token
    and added to the experts' output; GraniteMoeSharedConfig's default 0 builds none (then it is Granite-MoE). Counts:
    the test config 37,441,769,472 (tests/data/hf_reference.json) and the class defaults 37,039,116,288, both
    transformers 5.25 on meta. Its µP embedding multiplier is priced as Granite-MoE's (one scale row)."""
    m = load_model(CONFIGS / "granitemoeshared-shared-expert.json")
    assert {(b.mlp.experts, b.mlp.top_k, b.mlp.shared, b.mlp.shared_gate) for b in m.blocks} == {(8, 2, 1024, False)}
    assert m.params == 37_441_769_472 and m.embedding.scale
    plain = from_hf_dict({**m.extra, "shared_intermediate_size": 0})
    assert plain.params == 37_039_116_288 and {b.mlp.shared for b in plain.blocks} == {0}
    # the same as Granite-MoE with the shared MLP's three GEMMs and activation on top
    as_granitemoe = from_hf_dict({**m.extra, "model_type": "granitemoe"})
    assert as_granitemoe.params == plain.params
    ops = trace(m, "decode", batch=4, context=16).ops
    shared = ops[(ops["layer"] == 0) & ops["name"].str.contains("shared")]
    assert sorted(shared["op"]) == ["act", "shared_down_proj", "shared_gate_proj", "shared_up_proj"]
    assert shared["macs"].sum() == 4 * 3 * 4096 * 1024
    # the active parameters: 2 of 8 experts plus the shared MLP
    expert = 3 * 4096 * 11008
    assert m.active_params_per_token == m.params - 6 * 32 * expert


def test_granitemoeshared_bad_shared_width_is_one_line_naming_it():
    with pytest.raises(HwsimError) as err:
        from_hf_dict(
            {**load_model(CONFIGS / "granitemoeshared-shared-expert.json").extra, "shared_intermediate_size": -1}
        )
    assert "shared_intermediate_size" in str(err.value) and "\n" not in str(err.value)
