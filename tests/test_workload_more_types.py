"""Decoder types added on existing readers: arcee (Arcee AFM), helium (Kyutai Helium), glm (GLM-4-9B-chat, model_type
glm), olmo (OLMo-1), stablelm (StableLM / StableLM-2), exaone (EXAONE-3 / 3.5), nemotron (Nemotron-4 / Minitron)
on the Llama reader, falcon_mamba
(Falcon-Mamba) on the Mamba reader and gpt_bigcode (StarCoder, SantaCoder) on the GPT-2 reader.

Sources: transformers 5.25's modelling code and config classes (ArceeMLP: up, ReLU², down; HeliumAttention: o_proj never
biased; GlmMLP: fused gate_up_proj, GlmConfig partial_rotary_factor 0.5; OlmoLayerNorm: F.layer_norm without weight
or bias, OlmoAttention's clip_qkv clamp; StableLmConfig partial_rotary_factor 0.25, StableLmLayerNormPerHead;
FalconMambaWeightlessRMSNorm on dt, B and C). Parameter counts: transformers 5.25 on the meta device
(AutoModelForCausalLM.from_config in the throwaway venv that made tests/data/hf_reference.json, which pins the
configs in tests/data/hf_configs; the variants below counted the same way, numbers quoted). MACs and every
checkpoint linear: tests/test_workload_hf_reference.py and tests/test_workload_tensor_map.py."""

from pathlib import Path

import pytest

from hwsim.workload import from_hf_dict, load_model, trace

CONFIGS = Path(__file__).parent / "data" / "hf_configs"


@pytest.mark.parametrize(
    "model_type,fields,params",
    [
        # class defaults written out (transformers' defaults of the fields hwsim requires)
        ("arcee", {"hidden_size": 2560, "intermediate_size": 18432, "num_hidden_layers": 32}, 4_022_766_080),
        ("helium", {"hidden_size": 2560, "intermediate_size": 7040, "num_hidden_layers": 24}, 2_173_227_520),
        ("glm", {"hidden_size": 4096, "intermediate_size": 13696, "num_hidden_layers": 40}, 9_399_767_040),
        ("olmo", {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32}, 6_682_574_848),
        ("stablelm", {"hidden_size": 2560, "intermediate_size": 6912, "num_hidden_layers": 32}, 2_795_443_200),
    ],
)
def test_variants_count_as_transformers(model_type, fields, params):
    """Arcee's class defaults (32 heads of 80, vocab 32000); Helium with attention_bias and mlp_bias (q/k/v and the
    MLP biased, o_proj still not); GLM without attention_bias; OLMo with attention_bias and tied embeddings;
    StableLM's class defaults (stablelm-3b-4e1t's geometry: no q/k/v biases, rotary on a quarter)."""
    extra = {
        "arcee": {"num_attention_heads": 32, "vocab_size": 32000},
        "helium": {"num_attention_heads": 20, "vocab_size": 48000, "attention_bias": True, "mlp_bias": True},
        "glm": {"num_attention_heads": 32, "num_key_value_heads": 2, "vocab_size": 151552, "attention_bias": False},
        "olmo": {"num_attention_heads": 32, "vocab_size": 50304, "attention_bias": True, "tie_word_embeddings": True},
        "stablelm": {"num_attention_heads": 32, "vocab_size": 50304},
    }[model_type]
    assert from_hf_dict({"model_type": model_type, **fields, **extra}).params == params


def test_arcee_runs_a_non_gated_relu2_mlp():
    m = load_model(CONFIGS / "afm-4.5b.json")
    assert {(b.mlp.gated, b.mlp.activation) for b in m.blocks} == {(False, "relu2")}
    assert {(b.attention.heads, b.attention.kv_heads, b.attention.head_dim) for b in m.blocks} == {(20, 4, 128)}
    ops = trace(m, "decode", batch=1, context=8).ops
    assert "gate_proj" not in set(ops["op"])


def test_helium_and_glm_bias_q_k_v_but_never_o_proj():
    helium = from_hf_dict({**load_model(CONFIGS / "helium-1-preview-2b.json").extra, "attention_bias": True})
    glm = load_model(CONFIGS / "glm-4-9b-chat-hf.json")
    for m in (helium, glm):
        a = m.blocks[0].attention
        assert (a.qkv_bias, a.o_bias) == (True, False)
    a = glm.blocks[0].attention
    assert (a.heads, a.kv_heads, a.head_dim, a.rotary_dim) == (32, 2, 128, 64)  # rotary on half of each head
    assert glm.norm == "rmsnorm" and {b.norms for b in glm.blocks} == {2}  # GLM-4-0414's sandwich norms are glm4's


def test_olmo_norms_have_no_parameters_and_its_clamp_is_priced():
    """OLMo-1's LayerNorms carry no weight or bias (0 params, 5 vector ops an element, assumed: LayerNorm less its
    scale and bias); OLMo-7B-0424's clip_qkv 8 clamps q, k and v (the reference's ElementCounter: the clamp row's
    elements equal HF's, tests/test_workload_hf_reference.py)."""
    m = load_model(CONFIGS / "olmo-7b-0424-hf.json")
    assert m.norm == "layernorm_none" and m.blocks[0].attention.clip_qkv
    assert m.param_breakdown()["final_norm"] == 0
    ops = trace(m, "decode", batch=2, context=8).ops
    norms = ops[ops["op"] == "norm"]
    assert set(norms["weight_elems"]) == {0} and set(norms["vector_ops"]) == {2 * 4096 * 5}
    assert not from_hf_dict({**m.extra, "clip_qkv": None}).blocks[0].attention.clip_qkv


def test_stablelm_12b_form_is_parallel_with_per_head_qk_layernorms():
    """StableLM-2-12B's form (qk_layernorm, use_parallel_residual) on a small geometry: 148,126,720 params =
    transformers 5.25 on meta; one LayerNorm per layer feeding attention and MLP side by side, each q and k head
    normed by its own bias-free LayerNorm."""
    m = from_hf_dict(
        {
            "model_type": "stablelm",
            "vocab_size": 50304,
            "hidden_size": 1024,
            "intermediate_size": 2816,
            "num_hidden_layers": 4,
            "num_attention_heads": 16,
            "num_key_value_heads": 4,
            "qk_layernorm": True,
            "use_parallel_residual": True,
        }
    )
    assert m.params == 148_126_720
    b = m.blocks[0]
    assert (b.parallel, b.norms, b.attention.qk_norm, b.attention.rotary_dim) == (True, 1, "layernorm_weight_heads", 16)
    real = load_model(CONFIGS / "stablelm-2-1_6b.json")
    assert real.norm == "layernorm" and real.blocks[0].attention.qkv_bias and not real.blocks[0].parallel


def test_falcon_mamba_norms_dt_b_and_c_without_weights():
    """Falcon-Mamba: Mamba-1's layers with an RMSNorm on dt (dt_rank), B and C (d_state each) after x_proj, whose
    weights are unused buffers (FalconMambaWeightlessRMSNorm): a norm row with no weight, no parameters;
    FalconMambaConfig's defaults 159,308,544 params = transformers 5.25 on meta (Mamba's count)."""
    m = load_model(CONFIGS / "falcon-mamba-7b.json")
    mix = m.blocks[0].mixer
    assert (mix.bcdt_norms, mix.bcdt_weights, mix.dt_rank, mix.d_inner) == (True, False, 256, 8192)
    ops = trace(m, "decode", batch=1, context=8).ops
    rows = ops[ops["name"].str.endswith("bcdt_norm")]
    assert len(rows) == 64 and set(rows["weight_elems"]) == {0} and set(rows["n"]) == {256 + 2 * 16}
    defaults = from_hf_dict({"model_type": "falcon_mamba"})
    assert defaults.params == 159_308_544 == from_hf_dict({"model_type": "mamba"}).params
    assert m.params == 7_272_665_088  # card 7.27B


def test_exaone_reads_its_hub_field_names_and_defaults():
    """EXAONE-3.5 (transformers 5.25: LlamaForCausalLM under ExaoneConfig, whose attribute_map reads the hub's
    num_layers and activation_function): the 7.8B config 7,818,448,896 params = transformers on meta, which is also
    ExaoneConfig's defaults' count (EXAONE-3.0-7.8B's geometry); num_hidden_layers / hidden_act read as well."""
    m = load_model(CONFIGS / "exaone-3.5-7.8b-instruct.json")
    assert (m.layers, m.activation, m.params) == (32, "silu", 7_818_448_896)
    assert from_hf_dict({"model_type": "exaone"}).params == 7_818_448_896
    renamed = {k: v for k, v in m.extra.items() if k not in ("num_layers", "activation_function")}
    renamed |= {"num_hidden_layers": 30, "hidden_act": "gelu"}
    other = from_hf_dict(renamed)
    assert (other.layers, other.activation) == (30, "gelu")


def test_gpt_bigcode_is_gpt2_with_multi_query_attention():
    """StarCoder-15.5B (HF GPTBigCodeAttention, multi_query true): one K/V head of 128 beside 48 query heads, so c_attn
    is 6144 + 2 x 128 wide and a token caches 2 x 128 elements a layer; learned positions, LayerNorms, biases, a tied
    head. 15,517,456,384 params = transformers 5.25 on meta (card 15.5B); without multi_query (a 1B geometry)
    1,326,043,136 and GPTBigCodeConfig's defaults 111,446,784 = transformers."""
    m = load_model(CONFIGS / "starcoder.json")
    a = m.blocks[0].attention
    assert (a.heads, a.kv_heads, a.head_dim, a.rotary, m.embedding.positions) == (48, 1, 128, False, 8192)
    assert m.params == 15_517_456_384 and m.tie_embeddings and m.activation == "gelu_pytorch_tanh"
    ops = trace(m, "decode", batch=1, context=100).ops
    assert ops.loc[ops["op"] == "k_proj", "n"].unique().tolist() == [128]
    mha = {"n_embd": 2048, "n_layer": 24, "n_head": 16, "n_inner": 8192, "vocab_size": 49152, "n_positions": 8192}
    full = from_hf_dict({"model_type": "gpt_bigcode", "multi_query": False, **mha})
    assert full.params == 1_326_043_136 and full.blocks[0].attention.kv_heads == 16
    assert from_hf_dict({"model_type": "gpt_bigcode", "vocab_size": 50257}).params == 111_446_784


def test_nemotron_runs_a_squared_relu_mlp_under_layernorms_and_half_rotary():
    """Nemotron (HF NemotronForCausalLM): LayerNorm1P (weight and bias), a non-gated MLP (up, ReLU², down), rotary on
    half of each head (NemotronConfig's partial_rotary_factor 0.5), q/k/v/o biases under attention_bias, MLP biases
    under mlp_bias. Minitron-4B 4,190,509,056 params (tests/data/hf_reference.json); a small biased form 109,625,344
    and the class defaults with 48 KV heads 17,642,041,344 = transformers 5.25 on meta (its defaults alone do not
    build: num_key_value_heads None)."""
    m = load_model(CONFIGS / "minitron-4b-base.json")
    a = m.blocks[0].attention
    assert (m.norm, m.activation, a.kv_heads, a.head_dim, a.rotary_dim) == ("layernorm", "relu2", 8, 128, 64)
    assert {b.mlp.gated for b in m.blocks} == {False} and m.params == 4_190_509_056
    small = {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 4, "num_attention_heads": 8}
    small |= {"num_key_value_heads": 2, "vocab_size": 32000, "attention_bias": True, "mlp_bias": True}
    biased = from_hf_dict({"model_type": "nemotron", **small})
    assert biased.params == 109_625_344 and biased.blocks[0].attention.o_bias
    big = {"hidden_size": 6144, "intermediate_size": 24576, "num_hidden_layers": 32, "num_attention_heads": 48}
    assert from_hf_dict({"model_type": "nemotron", **big, "vocab_size": 256000}).params == 17_642_041_344
