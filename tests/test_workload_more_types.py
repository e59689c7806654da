"""Decoder types added on existing readers: arcee (Arcee AFM), helium (Kyutai Helium), glm (GLM-4-9B-chat, model_type
glm), olmo (OLMo-1), stablelm (StableLM / StableLM-2), exaone (EXAONE-3 / 3.5), nemotron (Nemotron-4 / Minitron)
on the Llama reader, falcon_mamba
(Falcon-Mamba) on the Mamba reader, gpt_bigcode (StarCoder, SantaCoder) on the GPT-2 reader, gptj (GPT-J), mpt
(MPT) and gpt_neo (GPT-Neo) on readers of their own, glm4_moe_lite (GLM-4.7-Flash) on the DeepSeek reader,
solar_open (Solar-Open) on the GLM-4.5 reader, mimo_v2_flash (MiMo-V2-Flash) on a reader of its own, flex_olmo
(FlexOlmo) on the Llama reader, bloom (BLOOM) on a reader of its own, dots1 (dots.llm1) on the GLM-4.5 reader,
glm_moe_dsa (GLM-5) on the DeepSeek reader, internlm3 (InternLM3), iquestcoder (IQuest-Coder-V1) and cwm (Code World
Model), which transformers runs as Llama or a Llama with windows, on the Llama reader, longcat_flash (LongCat-Flash) and zamba2
(Zamba2) on readers of their own, sarvam_moe (Sarvam-30B) and param2moe (Param-2) on the GLM-4.5 reader, sarvam_mla
(Sarvam-105B) and minicpm3 (MiniCPM3) on the DeepSeek reader, vaultgemma (VaultGemma) on the Gemma reader, exaone_moe (K-EXAONE), hy_v3 (Hy3), hyperclovax (HyperCLOVA X), jais2 (Jais-2), granite_swa and
granitemoe_swa (Granite-SWA) on the Llama reader, afmoe (Arcee's AFMoE) and cohere2_moe (Command A+) on readers of their own, axk1 (A.X-K1) and youtu (Youtu-LLM) on the DeepSeek reader.

Sources: transformers 5.25's modelling code and config classes (ArceeMLP: up, ReLU², down; HeliumAttention: o_proj never
biased; GlmMLP: fused gate_up_proj, GlmConfig partial_rotary_factor 0.5; OlmoLayerNorm: F.layer_norm without weight
or bias, OlmoAttention's clip_qkv clamp; StableLmConfig partial_rotary_factor 0.25, StableLmLayerNormPerHead;
FalconMambaWeightlessRMSNorm on dt, B and C). Parameter counts: transformers 5.25 on the meta device
(AutoModelForCausalLM.from_config in the throwaway venv that made tests/data/hf_reference.json, which pins the
configs in tests/data/hf_configs; the variants below counted the same way, numbers quoted). MACs and every
checkpoint linear: tests/test_workload_hf_reference.py and tests/test_workload_tensor_map.py."""

from pathlib import Path

import pytest

from hwsim.arch import load_arch
from hwsim.engine import evaluate
from hwsim.errors import HwsimError
from hwsim.serve import StepCost, generate
from hwsim.workload import from_hf_dict, load_model, trace
from hwsim.workload.tensor_map import index_tensors, locate

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


def test_gptj_is_a_parallel_block_with_partial_rotary_and_a_biased_head():
    """GPT-J-6B (HF GPTJBlock: one ln_1 feeding attention and MLP, their outputs added to the residual; q/k/v and
    out_proj bias-free, rotary on rotary_dim 64 of each 256-wide head; fc_in / fc_out biased; lm_head biased and
    untied): 6,050,882,784 params = transformers 5.25 on meta (tests/data/hf_reference.json); rotary_dim null rotates
    whole heads."""
    m = load_model(CONFIGS / "gpt-j-6b.json")
    b = m.blocks[0]
    assert (b.parallel, b.norms, b.attention.head_dim, b.attention.rotary_dim) == (True, 1, 256, 64)
    assert (b.attention.qkv_bias, b.attention.o_bias, b.mlp.bias, b.mlp.gated) == (False, False, True, False)
    assert m.embedding.head_bias and not m.tie_embeddings and m.embedding.positions == 0
    assert m.params == 6_050_882_784
    assert from_hf_dict({**m.extra, "rotary_dim": None}).blocks[0].attention.rotary_dim is None
    with pytest.raises(HwsimError) as err:  # wider than a head: one line naming the field
        from_hf_dict({**m.extra, "rotary_dim": 512})
    assert "rotary_dim" in str(err.value) and "\n" not in str(err.value)


def test_mpt_is_alibi_attention_with_a_bias_free_4x_mlp():
    """MPT-7B (HF MptForCausalLM): multi-head attention from a fused Wqkv with ALiBi, no rotary (an add a score in
    the softmax row, 1 op, assumed; its elements equal HF's, tests/test_workload_hf_reference.py), bias-free
    LayerNorms and linears, a 4 x d_model exact-GELU MLP, a tied head. 6,649,286,656 params = transformers 5.25 on
    meta (card 6.7B); MptConfig's defaults 1,311,213,568 = transformers."""
    m = load_model(CONFIGS / "mpt-7b.json")
    a = m.blocks[0].attention
    assert (a.alibi, a.rotary, a.qkv_bias, a.heads, a.kv_heads) == (True, False, False, 32, 32)
    assert (m.norm, m.activation, m.blocks[0].mlp.intermediate, m.tie_embeddings) == (
        "layernorm_weight",
        "gelu",
        16384,
        True,
    )
    assert m.params == 6_649_286_656
    assert from_hf_dict({"model_type": "mpt"}).params == 1_311_213_568
    base, plain = (trace(x, "decode", batch=2, context=100).ops for x in (m, from_hf_dict({"model_type": "mpt"})))
    soft = base[base["op"] == "softmax"].iloc[0]
    assert soft["vector_ops"] == (5 + 1) * soft["m"] * soft["n"]  # softmax 5 + the ALiBi add, per score
    assert "rope" not in set(base["op"]) and "rope" not in set(plain["op"])
    clipped = from_hf_dict({**m.extra, "attn_config": {**m.extra["attn_config"], "clip_qkv": 6}})
    assert clipped.blocks[0].attention.clip_qkv


@pytest.mark.parametrize(
    "fields,field",
    [
        ({"expansion_ratio": 2}, "expansion_ratio"),
        ({"attn_config": {"attn_type": "multiquery_attention"}}, "attn_config.attn_type"),
        ({"attn_config": {"qk_ln": True}}, "attn_config.qk_ln"),
        ({"attn_config": {"alibi": False}}, "attn_config.alibi"),
        ({"attn_config": {"clip_qkv": -1}}, "attn_config.clip_qkv"),
        ({"attn_config": [1]}, "attn_config"),
    ],
)
def test_mpt_forms_transformers_does_not_build_are_one_line_naming_the_field(fields, field):
    """transformers' MptMLP is 4 x d_model whatever expansion_ratio says, MptAttention is multi-head without q/k
    norms, and MptModel always adds ALiBi: configs asking otherwise are refused, not costed as something else."""
    with pytest.raises(HwsimError) as err:
        from_hf_dict({"model_type": "mpt", **fields})
    assert field in str(err.value) and "\n" not in str(err.value)


def test_gpt_neo_alternates_global_and_256_token_local_attention():
    """GPT-Neo-1.3B (HF GPTNeoSelfAttention: a "local" layer masks all but the last window_size keys): attention_types
    [[["global", "local"], 12]] expands to 24 layers alternating global and local (window 256); learned positions,
    bias-free q/k/v and a biased out_proj, a tied head. 1,315,575,808 params = transformers 5.25 on meta (card 1.3B);
    GPT-Neo-2.7B's geometry 2,651,307,520 = transformers. A list that does not expand to num_layers is refused."""
    m = load_model(CONFIGS / "gpt-neo-1.3b.json")
    assert [b.attention.window for b in m.blocks[:4]] == [None, 256, None, 256] and m.layers == 24
    a = m.blocks[0].attention
    assert (a.rotary, a.qkv_bias, a.o_bias, m.embedding.positions, m.tie_embeddings) == (False, False, True, 2048, True)
    assert m.params == 1_315_575_808
    neo27 = {"hidden_size": 2560, "num_layers": 32, "num_heads": 20, "attention_types": [[["global", "local"], 16]]}
    assert from_hf_dict({"model_type": "gpt_neo", **neo27}).params == 2_651_307_520
    # a local layer reads at most 256 cached keys a query; a global one all of them
    ops = trace(m, "decode", batch=1, context=1000).ops
    qk = ops[ops["op"] == "qk"].set_index("layer")["n"]
    assert (qk[0], qk[1]) == (1001, 256)
    for bad in ([[["global", "local"], 11]], [[["global", "sparse"], 12]], [["global", 24]]):
        with pytest.raises(HwsimError) as err:
            from_hf_dict({**m.extra, "attention_types": bad})
        assert "attention_types" in str(err.value) and "\n" not in str(err.value)


def test_glm4_moe_lite_is_deepseek_v3_layers_with_its_own_defaults():
    """GLM-4.7-Flash (HF Glm4MoeLiteForCausalLM): DeepSeek-V3's MLA (q_lora 768, kv_lora 512, nope 192 + rope 64,
    values 256) and layout (a dense first layer, then 64 routed experts of 1536, 4 a token, beside one shared; per
    mlp_layer_types when given), Glm4MoeLiteConfig's defaults for absent fields: 29,943,390,976 params = transformers
    5.25 on meta, written out or left to the defaults (card 30B-A3B); four layers without a query latent 2,644,922,368
    and four all-MoE layers 3,175,635,968 = transformers."""
    m = load_model(CONFIGS / "glm-4.7-flash.json")
    mla = m.blocks[0].attention.mla
    assert (mla.q_lora_rank, mla.kv_lora_rank, mla.nope_dim, mla.rope_dim, mla.v_dim) == (768, 512, 192, 64, 256)
    assert [b.mlp.is_moe for b in m.blocks[:3]] == [False, True, True] and m.blocks[0].mlp.intermediate == 10240
    assert (m.blocks[1].mlp.experts, m.blocks[1].mlp.top_k, m.blocks[1].mlp.shared) == (64, 4, 1536)
    assert m.params == from_hf_dict({"model_type": "glm4_moe_lite"}).params == 29_943_390_976
    no_latent = from_hf_dict({"model_type": "glm4_moe_lite", "q_lora_rank": None, "num_hidden_layers": 4})
    assert no_latent.params == 2_644_922_368 and no_latent.blocks[0].attention.mla.q_lora_rank == 0
    all_moe = {"model_type": "glm4_moe_lite", "num_hidden_layers": 4, "mlp_layer_types": ["sparse"] * 4}
    assert from_hf_dict(all_moe).params == 3_175_635_968


def test_solar_open_runs_its_moe_in_every_layer():
    """Solar-Open-100B (HF SolarOpenDecoderLayer: SolarOpenMoE in every layer, 128 routed experts of 1280, 8 a token,
    beside one shared; GQA of 64 / 8 heads of 128, no q/k norms, full rotary by default): 102,651,793,408 params =
    transformers 5.25 on meta (card 102B total, 12B active; hwsim active 12.05B), the same as SolarOpenConfig's
    defaults; four layers of 16 experts (num_local_experts, its alias) with two shared and half rotary
    3,045,363,712 = transformers."""
    m = load_model(CONFIGS / "solar-open-100b.json")
    assert {(b.mlp.experts, b.mlp.top_k, b.mlp.intermediate, b.mlp.shared) for b in m.blocks} == {(128, 8, 1280, 1280)}
    a = m.blocks[0].attention
    assert (a.heads, a.kv_heads, a.head_dim, a.rotary_dim, a.qk_norm) == (64, 8, 128, 128, None)
    assert m.params == 102_651_793_408 == from_hf_dict({"model_type": "solar_open"}).params
    assert round(m.active_params_per_token / 1e9) == 12
    small = {"num_hidden_layers": 4, "num_local_experts": 16, "n_shared_experts": 2, "partial_rotary_factor": 0.5}
    v = from_hf_dict({"model_type": "solar_open", **small})
    assert v.params == 3_045_363_712 and v.blocks[0].attention.rotary_dim == 64 and v.blocks[0].mlp.experts == 16


def test_mimo_v2_flash_mixes_full_and_sliding_layers_of_their_own_kv_heads():
    """MiMo-V2-Flash (HF MiMoV2FlashAttention / DecoderLayer): full attention on layer 0 and every 6th with 4 KV
    heads, the rest 129-key sliding windows with 8 KV heads and a sink per head; q/k heads of 192, values of 128;
    a dense first MLP then 256 experts of 2048, 8 a token. 308,778,768,832 params = transformers 5.25 on meta (card
    309B total, 15B active; hwsim active 15.4B) = MiMoV2FlashConfig's defaults. The values are multiplied by
    attention_value_scale in HF's forward before cache.update: a vector row (1 op an element) that writes them to
    the cache where v_proj did, so the cache's traffic is unchanged."""
    m = load_model(CONFIGS / "mimo-v2-flash.json")
    kinds = [(b.attention.kv_heads, b.attention.window, b.attention.sinks) for b in m.blocks]
    assert kinds[:7] == [(4, None, False)] + [(8, 129, True)] * 4 + [(4, None, False), (8, 129, True)]
    a = m.blocks[0].attention
    assert (a.heads, a.head_dim, a.v_dim, a.rotary_dim, a.value_scale) == (64, 192, 128, 64, True)
    assert [b.mlp.is_moe for b in m.blocks[:2]] == [False, True] and (
        m.blocks[1].mlp.experts,
        m.blocks[1].mlp.top_k,
    ) == (256, 8)
    assert m.params == 308_778_768_832 == from_hf_dict({"model_type": "mimo_v2_flash"}).params
    assert round(m.active_params_per_token / 1e9) == 15
    ops = trace(m, "decode", batch=2, context=500).ops
    scale = ops[(ops["op"] == "scale") & (ops["layer"] >= 0)]
    assert len(scale) == 48 and set(scale["vector_ops"]) == {2 * 4 * 128, 2 * 8 * 128}
    v = ops[ops["op"] == "v_proj"]
    assert v["kv_write_elems"].sum() == 0 and scale["kv_write_elems"].sum() == v["act_out_elems"].sum()
    # the reference's sliding_window_size is the window less the query
    assert from_hf_dict({**m.extra, "sliding_window_size": 128}).blocks[1].attention.window == 129
    with pytest.raises(HwsimError) as err:  # 64 heads and 2 x 24 sliding KV heads do not group
        from_hf_dict({**m.extra, "num_key_value_heads": 24})
    assert "num_key_value_heads" in str(err.value) and "\n" not in str(err.value)


def test_flex_olmo_is_olmo2_attention_over_seven_experts_five_a_token():
    """FlexOlmo-7x7B-1T (HF FlexOlmoAttention: q/k RMSNorms over all heads at once, as OLMo-2, no clip_qkv; its
    decoder layer normalises the attention and MoE outputs as OLMo-2; FlexOlmoSparseMoeBlock: num_experts 7 of
    11008, 5 a token, a bias-free router, no shared expert): 33,270,665,216 params = transformers 5.25 on meta =
    FlexOlmoConfig's defaults (card: 7 experts of a 7B, 33B total). A variant of 4 layers, 4 experts (through the
    num_local_experts alias) 3 a token, 8 KV heads and attention_bias: 3,154,280,448 = transformers. Seven experts
    five a token split 10 assignments of two tokens unevenly (tests/test_serve_generate.py): generation runs."""
    m = load_model(CONFIGS / "flexolmo-7x7b-1t.json")
    assert {(b.mlp.experts, b.mlp.top_k, b.mlp.intermediate, b.mlp.shared) for b in m.blocks} == {(7, 5, 11008, 0)}
    a = m.blocks[0].attention
    assert (a.heads, a.kv_heads, a.head_dim, a.qk_norm, a.clip_qkv, a.qkv_bias) == (
        32,
        32,
        128,
        "rmsnorm_all",
        False,
        False,
    )
    assert m.params == 33_270_665_216 == from_hf_dict({"model_type": "flex_olmo"}).params
    assert round(m.active_params_per_token / 1e9, 1) == 24.6
    small = {"num_hidden_layers": 4, "num_local_experts": 4, "num_experts_per_tok": 3, "num_key_value_heads": 8}
    v = from_hf_dict({"model_type": "flex_olmo", **small, "attention_bias": True})
    assert v.params == 3_154_280_448 and (v.blocks[0].mlp.experts, v.blocks[0].mlp.top_k) == (4, 3)
    h100 = load_arch("h100-sxm")
    gen = generate(StepCost(h100, m), prompt=64, output=3, batch=1)  # it raised ValueError (the serving basis)
    assert gen.ttft_s == pytest.approx(evaluate(h100, trace(m, "prefill", batch=1, seq=64)).totals["seconds"], rel=1e-9)
    with pytest.raises(HwsimError) as err:
        from_hf_dict({"model_type": "flex_olmo", "num_experts_per_tok": 8})
    assert "num_experts_per_tok" in str(err.value) and "\n" not in str(err.value)


def test_bloom_is_alibi_attention_after_an_embedding_layernorm():
    """BLOOM-560m (HF BloomModel: word_embeddings_layernorm before the blocks; BloomBlock: LayerNorm, ALiBi attention
    from a biased query_key_value stored [heads, 3, head_dim] (tests/test_workload_tensor_map.py reads it), a biased
    dense, LayerNorm, a biased 4 x hidden MLP with BLOOM's tanh GELU; ln_f, tied head): 559,214,592 params =
    transformers 5.25 on meta (card: 559M). The embedding LayerNorm is a norm row of its own and 2 x hidden
    parameters; ALiBi's bias is added to every score (the reference counts BLOOM's baddbmm)."""
    m = load_model(CONFIGS / "bloom-560m.json")
    a = m.blocks[0].attention
    assert (a.heads, a.kv_heads, a.head_dim, a.alibi, a.rotary, a.qkv_bias, a.o_bias) == (
        16,
        16,
        64,
        True,
        False,
        True,
        True,
    )
    assert (m.blocks[0].mlp.intermediate, m.blocks[0].mlp.gated, m.blocks[0].mlp.bias) == (4096, False, True)
    assert m.params == 559_214_592 and m.embedding.tied and m.embedding.norm
    ops = trace(m, "prefill", batch=1, seq=8).ops
    norm = ops[ops["name"] == "embed_norm"]
    assert len(norm) == 1 and int(norm["weight_elems"].iloc[0]) == 2 * 1024 and (ops["op"] == "rope").sum() == 0
    with pytest.raises(HwsimError) as err:
        from_hf_dict({"model_type": "bloom", "hidden_size": 1000, "n_head": 16})
    assert "n_head" in str(err.value) and "\n" not in str(err.value)


def test_dots1_is_qwen3_attention_over_deepseek_experts():
    """dots.llm1 (HF Dots1ForCausalLM: Dots1Attention's per-head q/k RMSNorms, q/k/v/o biased together under
    attention_bias, a window on the layers layer_types names, by default from max_window_layers on; Dots1MoE:
    DeepSeek-V3's layout, routed experts beside n_shared_experts of the same width after first_k_dense_replace dense
    layers): 142,774,373,888 params = transformers 5.25 on meta (card 142B total, 14B active; hwsim active 14.0B);
    4 layers, 2 dense, 16 experts 4 a token, one shared, biases and a 512 window from layer 2: 2,705,786,496 =
    transformers. Dots1Config has no default expert count (transformers cannot build its defaults): refused."""
    m = load_model(CONFIGS / "dots.llm1.inst.json")
    a = m.blocks[0].attention
    assert (a.heads, a.kv_heads, a.head_dim, a.qk_norm, a.rotary_dim, a.window) == (32, 32, 128, "rmsnorm", 128, None)
    assert [b.mlp.is_moe for b in m.blocks[:2]] == [False, True] and m.blocks[0].mlp.intermediate == 10944
    assert (m.blocks[1].mlp.experts, m.blocks[1].mlp.top_k, m.blocks[1].mlp.shared) == (128, 6, 2 * 1408)
    assert m.params == 142_774_373_888 and round(m.active_params_per_token / 1e9) == 14
    small = {"num_hidden_layers": 4, "n_routed_experts": 16, "num_experts_per_tok": 4, "n_shared_experts": 1}
    small |= {"first_k_dense_replace": 2, "attention_bias": True, "sliding_window": 512, "max_window_layers": 2}
    v = from_hf_dict({"model_type": "dots1", **small})
    assert v.params == 2_705_786_496 and [b.attention.window for b in v.blocks] == [None, None, 512, 512]
    assert (v.blocks[0].attention.qkv_bias, v.blocks[0].attention.o_bias) == (True, True)
    with pytest.raises(HwsimError) as err:
        from_hf_dict({"model_type": "dots1"})
    assert "n_routed_experts" in str(err.value) and "\n" not in str(err.value)


def test_glm_moe_dsa_is_deepseek_v32_whose_shared_layers_reuse_the_top_k():
    """GLM-5 (HF GlmMoeDsaForCausalLM: DeepSeek-V3.2's MLA and lightning indexer, GlmMoeDsaConfig's defaults GLM-5's
    geometry): 743,911,199,232 params = transformers 5.25 on meta, written out or left to the defaults (card 744B
    total, 40B active; hwsim active 41.8B). A "shared" layer (indexer_types, index_topk_pattern or index_topk_freq /
    index_skip_topk_offset) has no indexer: its attention reads the previous full layer's top-k, so it has neither
    the indexer's linears nor its key cache nor its scoring rows. 8 layers at index_topk_freq 4 (full on 0, 1, 5)
    52,446,030,592 and 4 layers of pattern FSSF with attention_bias 12,964,563,712 = transformers; its tiny MAC
    reference runs F, F, S, F (tests/test_workload_hf_reference.py)."""
    m = load_model(CONFIGS / "glm-5.json")
    mla = m.blocks[0].attention.mla
    assert (mla.q_lora_rank, mla.kv_lora_rank, mla.nope_dim, mla.rope_dim, mla.v_dim) == (2048, 512, 192, 64, 256)
    assert (mla.indexer.heads, mla.indexer.head_dim, mla.indexer.top_k, mla.indexer.reuse) == (32, 128, 2048, False)
    assert [b.mlp.is_moe for b in m.blocks[:4]] == [False, False, False, True]
    assert m.params == from_hf_dict({"model_type": "glm_moe_dsa"}).params == 743_911_199_232
    assert round(m.active_params_per_token / 1e9, 1) == 41.8
    v = from_hf_dict({"model_type": "glm_moe_dsa", "num_hidden_layers": 8, "index_topk_freq": 4})
    assert [b.attention.mla.indexer.reuse for b in v.blocks] == [False, False, True, True, True, False, True, True]
    assert v.params == 52_446_030_592
    pattern = {
        "model_type": "glm_moe_dsa",
        "num_hidden_layers": 4,
        "index_topk_pattern": "FSSF",
        "attention_bias": True,
    }
    assert from_hf_dict(pattern).params == 12_964_563_712
    ops = trace(v, "decode", batch=1, context=4000).ops
    assert set(ops.loc[ops["name"].str.contains(r"\.indexer\."), "layer"]) == {0, 1, 5}
    qk = ops[ops["op"] == "qk"].set_index("layer")
    assert qk.loc[2, "n"] == qk.loc[0, "n"] == 2048  # a shared layer still reads the top-k only
    full = from_hf_dict({"model_type": "glm_moe_dsa", "num_hidden_layers": 8})
    cache = [trace(x, "decode", batch=1, context=4000).kv_cache_bytes(16) for x in (full, v)]
    assert cache[0] - cache[1] == 5 * 4001 * 128 * (8 + 32 / 128) / 8  # no index keys on the 5 shared layers
    with pytest.raises(HwsimError) as err:  # a shared first layer has no earlier choice to reuse
        from_hf_dict({**pattern, "index_topk_pattern": "SFFF"})
    assert "index_topk_pattern" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "name,model_type,params",
    [
        ("internlm3-8b-instruct.json", "internlm3", 8_804_241_408),
        ("iquest-coder-v1-40b-instruct.json", "iquestcoder", 39_794_283_520),
        ("cwm.json", "cwm", 32_581_097_472),
        ("jais-2-8b-chat.json", "jais2", 8_090_401_280),
    ],
)
def test_llama_run_types_count_their_config_class_defaults(name, model_type, params):
    """InternLM3-8B (card 8B), IQuest-Coder-V1-40B (card 40B), CWM (card 32B): transformers 5.25 builds them as
    LlamaForCausalLM (internlm3, iquestcoder) or CwmForCausalLM (Llama with windows); each config class's defaults are
    the named model's geometry, so the config and the defaults count the same, as transformers on meta does."""
    assert load_model(CONFIGS / name).params == from_hf_dict({"model_type": model_type}).params == params


def test_internlm3_reads_its_bias_aliases_and_cwm_its_window_pattern():
    """InternLM3Config's attribute_map: qkv_bias is attention_bias (q/k/v/o), bias is mlp_bias, and transformers refuses
    them unequal; 4 layers with both 1,698,863,104 params = transformers. CwmConfig: every 4th layer global from layer 0,
    the others an 8192-token window (layer_types when given); IQuestCoderConfig refuses clip_qkv and use_sliding_window."""
    biased = from_hf_dict({"model_type": "internlm3", "qkv_bias": True, "bias": True, "num_hidden_layers": 4})
    b = biased.blocks[0]
    assert biased.params == 1_698_863_104 and (b.attention.qkv_bias, b.attention.o_bias, b.mlp.bias) == (True,) * 3
    for bad, field in (
        ({"model_type": "internlm3", "qkv_bias": True}, "bias"),
        ({"model_type": "iquestcoder", "use_sliding_window": True}, "use_sliding_window"),
        ({"model_type": "iquestcoder", "clip_qkv": 8}, "clip_qkv"),
    ):
        with pytest.raises(HwsimError) as err:
            from_hf_dict(bad)
        assert str(err.value).startswith(field + ":") and "\n" not in str(err.value)
    cwm = load_model(CONFIGS / "cwm.json")
    assert [b.attention.window for b in cwm.blocks[:5]] == [None, 8192, 8192, 8192, None]
    assert sum(b.attention.window is None for b in cwm.blocks) == 16
    types = ["sliding_attention", "full_attention"] * 2
    mixed = from_hf_dict({"model_type": "cwm", "num_hidden_layers": 4, "sliding_window": 1024, "layer_types": types})
    assert [b.attention.window for b in mixed.blocks] == [1024, None, 1024, None]


def test_longcat_flash_runs_two_mla_sublayers_and_a_shortcut_moe_with_zero_experts():
    """LongCat-Flash-Chat (HF LongcatFlashDecoderLayer: two MLA sublayers and two dense MLPs of 12288 per layer, a
    shortcut MoE of 512 experts of 2048 beside 256 zero-computation experts, 12 a token): hwsim runs each of its 28
    layers as two, the first's MLP the MoE with sublayer 0's dense MLP as its shared expert. 560,664,958,976 params =
    transformers 5.25 on meta = LongcatFlashConfig's defaults (card 560B). A token reaches 12 × 512 / 768 = 8 real
    experts on average (assumed, Mlp.routed_per_token): hwsim's 27.95B active lies in the card's 18.6B-31.3B (about 27B
    on average), which validates it. 2 layers without zero experts and with attention_bias 41,539,959,040 =
    transformers."""
    m = load_model(CONFIGS / "longcat-flash-chat.json")
    assert m.layers == 56 and m.params == from_hf_dict({"model_type": "longcat_flash"}).params == 560_664_958_976
    moe, dense = m.blocks[0].mlp, m.blocks[1].mlp
    assert (moe.experts, moe.zero_experts, moe.top_k, moe.intermediate, moe.shared) == (512, 256, 12, 2048, 12288)
    assert not dense.is_moe and dense.intermediate == 12288 and moe.routed_per_token == 8
    assert m.blocks[0].linears(m.hidden)["router"].n == 768
    mla = m.blocks[1].attention.mla
    assert (mla.q_lora_rank, mla.kv_lora_rank, mla.nope_dim, mla.rope_dim, mla.v_dim) == (1536, 512, 128, 64, 128)
    assert 18.6 < m.active_params_per_token / 1e9 < 31.3 and round(m.active_params_per_token / 1e9, 2) == 27.95
    ops = trace(m, "decode", batch=3, context=100).ops
    layer0 = ops[ops["layer"] == 0]
    experts = layer0[layer0["op"] == "down_proj"]
    assert int((experts["m"] * experts["count"]).sum()) == 3 * 8  # 3 tokens, 8 real experts each
    zero = ops[ops["name"].str.endswith(".mlp.zero_experts")]
    assert sorted(set(zero["layer"])) == list(range(0, 56, 2)) and set(zero["vector_ops"]) == {2 * 3 * 6144}
    small = {"model_type": "longcat_flash", "num_layers": 2, "zero_expert_num": 0, "attention_bias": True}
    v = from_hf_dict(small)
    assert v.params == 41_539_959_040 and v.blocks[0].mlp.routed_per_token == 12
    with pytest.raises(HwsimError) as err:  # transformers builds its rotary embedding for head_dim channels
        from_hf_dict({**small, "head_dim": 128})
    assert str(err.value).startswith("head_dim:") and "\n" not in str(err.value)


def test_longcat_flash_sublayers_are_found_in_the_checkpoints_layers():
    """A LongCat-Flash checkpoint's layer i holds hwsim layers 2i and 2i + 1: `self_attn.<s>` and `mlps.<s>` are
    sublayer s's attention and dense MLP (sublayer 0's MLP the MoE layer's shared expert), `mlp.experts` and
    `mlp.router.classifier` the MoE of layer 2i (module names: tests/data/hf_reference.json)."""
    m = from_hf_dict({"model_type": "longcat_flash", "num_layers": 2})
    p = "model.layers.1."
    names = [p + "self_attn.1.q_a_proj.weight", p + "mlps.0.gate_proj.weight", p + "mlps.1.down_proj.weight"]
    names += [p + "mlp.experts.gate_up_proj", p + "mlp.router.classifier.weight"]
    index = index_tensors(names, m)
    got = {
        (layer, role): locate(m, index, layer, role)[0].tensor
        for layer, role in ((3, "q_a_proj"), (2, "shared_gate_proj"), (3, "down_proj"), (2, "gate_proj"), (2, "router"))
    }
    assert got == {
        (3, "q_a_proj"): names[0],
        (2, "shared_gate_proj"): names[1],
        (3, "down_proj"): names[2],
        (2, "gate_proj"): names[3],
        (2, "router"): names[4],
    }


def test_zamba2_runs_a_tied_shared_block_before_its_hybrid_layers_mamba2():
    """Zamba2-2.7B (HF Zamba2HybridLayer: the shared transformer block on the residual stream beside the token
    embeddings, 2 × hidden, then `linear`, then the layer's Mamba-2; num_mem_blocks 2 blocks tied in turn over its 9
    hybrid layers, a rank-128 adapter per layer on the MLP): 2,662,214,560 params = transformers 5.25 on meta (card
    2.7B); Zamba2Config's defaults 2,481,848,336; 8 layers of 4 hybrids over 2 blocks with q/k/v adapters
    794,094,272; 4 layers of 8 KV heads without them 390,822,496 = transformers. A hybrid layer is two hwsim layers;
    a tied block owns only its adapters and `linear` (block_out) but runs every op and keeps its own KV cache."""
    m = load_model(CONFIGS / "zamba2-2.7b.json")
    assert m.params == 2_662_214_560 and m.layers == 54 + 9
    blocks = [b for b in m.blocks if b.concat]
    assert len(blocks) == 9 and [b.tied for b in blocks] == [False, False] + [True] * 7
    a = blocks[0].attention
    assert (a.heads, a.kv_heads, a.head_dim, a.in_width, a.rotary, a.adapter_rank) == (32, 32, 160, 5120, False, 0)
    lin = blocks[0].linears(m.hidden)
    assert (lin["q_proj"].k, lin["block_out"].n, lin["gate_up_adapter_up"].n) == (5120, 2560, 2 * 10240)
    own = sum(lin[r].params for r in ("gate_up_adapter_down", "gate_up_adapter_up", "block_out"))
    assert blocks[2].params(m.hidden, m.norm) == own
    mix = m.blocks[0].mixer
    assert (mix.heads, mix.head_dim, mix.d_state, mix.groups, mix.chunk) == (80, 64, 64, 1, 256)
    ops = trace(m, "decode", batch=1, context=1000).ops
    blocks_at = [i for i, b in enumerate(m.blocks) if b.concat]
    qk = ops[ops["op"] == "qk"]
    assert sorted(set(qk["layer"])) == blocks_at  # every use of a block attends over its own cache
    norm = ops[(ops["name"] == f"layers.{blocks_at[0]}.input_norm")]
    assert int(norm["weight_elems"].iloc[0]) == 2 * 2560  # normed over the stream and the embeddings
    assert from_hf_dict({"model_type": "zamba2"}).params == 2_481_848_336
    t = ["mamba", "hybrid"] * 4
    four = {"model_type": "zamba2", "num_hidden_layers": 8, "layers_block_type": t, "num_mem_blocks": 2}
    assert from_hf_dict({**four, "use_shared_attention_adapter": True}).params == 794_094_272
    gqa = {"model_type": "zamba2", "num_hidden_layers": 4, "layers_block_type": t[:4], "num_key_value_heads": 8}
    assert from_hf_dict(gqa).params == 390_822_496
    for bad, field in (
        ({**gqa, "use_shared_attention_adapter": True}, "num_key_value_heads"),
        ({"model_type": "zamba2", "num_hidden_layers": 8}, "layers_block_type"),
        ({**gqa, "layers_block_type": ["mamba", "attention", "mamba", "hybrid"]}, "layers_block_type"),
    ):
        with pytest.raises(HwsimError) as err:
            from_hf_dict(bad)
        assert str(err.value).startswith(field + ":") and "\n" not in str(err.value)


def test_zamba2_tied_blocks_and_adapters_are_found_where_transformers_stores_them():
    """Zamba2-1.2B's one block (num_mem_blocks 1) serves its 6 hybrid layers: every use's q_proj is the tensor stored
    at the first hybrid layer (5), its adapters that block's list entry of its own hybrid index (module names:
    tests/data/hf_reference.json, named_shapes); its Mamba-2 is the hybrid layer's `mamba_decoder.mamba`."""
    m = load_model(CONFIGS / "zamba2-1.2b.json")
    p = "model.layers.5.shared_transformer."
    names = [p + "self_attn.q_proj.weight", p + "self_attn.linear_q_adapter_list.3.0.weight"]
    names += [p + "feed_forward.gate_up_proj.weight", "model.layers.23.linear.weight"]
    names += ["model.layers.23.mamba_decoder.mamba.in_proj.weight", "model.layers.22.mamba.in_proj.weight"]
    index = index_tensors(names, m)
    at = [i for i, b in enumerate(m.blocks) if b.concat]  # hybrid 3 is checkpoint layer 23: hwsim 26 and 27
    assert at[3] == 26 and m.blocks[27].mixer is not None and not m.blocks[27].concat
    got = [locate(m, index, i, r)[0] for i, r in ((26, "q_proj"), (26, "q_adapter_down"), (26, "up_proj"))]
    assert [x.tensor for x in got] == [names[0], names[1], names[2]] and got[2].rows == (8192, 2 * 8192)
    assert locate(m, index, 26, "block_out")[0].tensor == names[3]
    assert (
        locate(m, index, 27, "in_proj")[0].tensor == names[4] and locate(m, index, 25, "in_proj")[0].tensor == names[5]
    )


@pytest.mark.parametrize(
    "name,model_type,params",
    [
        ("sarvam-30b.json", "sarvam_moe", 32_152_648_064),
        ("param2-17b-a2.4b.json", "param2moe", 17_151_124_096),
        ("sarvam-105b.json", "sarvam_mla", 106_031_763_456),
        ("minicpm3-4b.json", "minicpm3", 4_073_875_968),
        ("youtu-llm-2b.json", "youtu", 1_961_560_064),
    ],
)
def test_types_transformers_runs_as_glm4_moe_or_deepseek_count_their_class_defaults(name, model_type, params):
    """transformers 5.25 builds sarvam_moe and param2moe as Glm4MoeForCausalLM, sarvam_mla as DeepseekV3ForCausalLM,
    each under its own config class, whose defaults are the checkpoint its docstring names (cards: Sarvam-30B,
    Param2-17B-A2.4B, Sarvam-105B); MiniCPM3-4B (card 4B) is DeepSeek-V2's MLA over Llama's dense layers. Each
    config = its defaults = transformers on meta."""
    assert load_model(CONFIGS / name).params == from_hf_dict({"model_type": model_type}).params == params


def test_sarvam_param2_and_minicpm3_read_their_own_names_and_forms():
    """Sarvam-MoE / Param-2 (their attribute_map: num_experts, num_shared_experts, use_qkv_bias; q/k RMSNorms per
    head by default, whole-head rotary): Param-2 of 4 layers, 16 experts, 1 shared, q/k/v biases 1,002,568,192 params,
    Sarvam-MoE of 4 layers, 16 experts, without q/k norms 3,032,715,264, Sarvam-MLA of 4 layers, 16 experts, 2 shared,
    a 512 query latent 3,918,766,080 = transformers. MiniCPM3: no query latent, biases: 4 layers 458,459,776 =
    transformers; its embeddings × scale_emb are a row of their own (Embedding.scale, as Granite's multiplier)."""
    p2 = {"model_type": "param2moe", "num_experts": 16, "num_shared_experts": 1, "use_qkv_bias": True}
    v = from_hf_dict({**p2, "num_hidden_layers": 4})
    a = v.blocks[0].attention
    assert v.params == 1_002_568_192 and (a.qkv_bias, a.o_bias, a.qk_norm, a.rotary_dim) == (True, False, "rmsnorm", 64)
    assert (v.blocks[1].mlp.experts, v.blocks[1].mlp.shared) == (16, 2048) and v.tie_embeddings
    plain = from_hf_dict({"model_type": "sarvam_moe", "num_experts": 16, "num_hidden_layers": 4, "use_qk_norm": False})
    assert plain.params == 3_032_715_264 and plain.blocks[0].attention.qk_norm is None
    mla = {"model_type": "sarvam_mla", "num_experts": 16, "num_shared_experts": 2, "num_hidden_layers": 4}
    latent = from_hf_dict({**mla, "q_lora_rank": 512})
    assert latent.params == 3_918_766_080 and latent.blocks[0].attention.mla.q_lora_rank == 512
    assert from_hf_dict({"model_type": "sarvam_mla"}).blocks[0].attention.mla.q_lora_rank == 0
    mini = {"model_type": "minicpm3", "q_lora_rank": None, "num_hidden_layers": 4, "attention_bias": True}
    m = from_hf_dict({**mini, "mlp_bias": True})
    assert m.params == 458_459_776 and m.blocks[0].attention.mla.v_dim == 64 and m.embedding.scale
    ops = trace(load_model(CONFIGS / "minicpm3-4b.json"), "decode", batch=1, context=8).ops
    assert list(ops["op"][:2]) == ["embed", "scale"] and ops["layer"].iloc[1] == -1
    assert not from_hf_dict({**mini, "scale_emb": 1}).embedding.scale
    # Youtu-LLM (HF YoutuForCausalLM: DeepSeek-V3's MLA over Qwen3's dense MLP): without a query latent, biased,
    # untied, 4 layers 731,412,736 = transformers
    youtu = {"model_type": "youtu", "q_lora_rank": None, "num_hidden_layers": 4, "attention_bias": True}
    y = from_hf_dict({**youtu, "tie_word_embeddings": False})
    assert y.params == 731_412_736 and not y.embedding.scale and y.blocks[0].mlp.intermediate == 6144


def test_vaultgemma_is_gemma2_without_its_post_norms():
    """VaultGemma (HF VaultGemmaDecoderLayer: Gemma-2's layer with post_attention_layernorm and
    post_feedforward_layernorm deleted; soft-capping and alternating 4096-token windows kept): VaultGemmaConfig's
    defaults 2,614,222,080 params = transformers 5.25 on meta, 26 × 2 × 2304 fewer than Gemma-2 of the same widths."""
    m = load_model(CONFIGS / "vaultgemma-defaults.json")
    assert m.params == from_hf_dict({"model_type": "vaultgemma"}).params == 2_614_222_080
    gemma2 = from_hf_dict({**m.extra, "model_type": "gemma2"})
    assert gemma2.params - m.params == 26 * 2 * 2304 and {b.norms for b in m.blocks} == {2}
    a = [b.attention for b in m.blocks[:2]]
    assert [(x.window, x.softcap) for x in a] == [(4096, True), (None, True)] and m.embedding.logit_softcap


def test_exaone_moe_is_exaone4_attention_over_deepseek_experts():
    """K-EXAONE's type (HF ExaoneMoeForCausalLM: EXAONE-4's attention, per-head q/k norms, three sliding layers with
    rotary then a global one without (NoPE), in pre-norm layers; DeepSeek-V3's MoE under its own names num_experts /
    num_shared_experts, dense layers by first_k_dense_replace or mlp_layer_types): ExaoneMoeConfig's defaults
    28,550,639,616 params = transformers 5.25 on meta; 4 layers of 8 experts, 2 shared, a 1024 window, dense / sparse
    alternating 1,761,711,104 = transformers."""
    m = load_model(CONFIGS / "exaone-moe-defaults.json")
    assert m.params == from_hf_dict({"model_type": "exaone_moe"}).params == 28_550_639_616
    assert [(b.attention.window, b.attention.rotary) for b in m.blocks[:4]] == [(4096, True)] * 3 + [(None, False)]
    assert [b.mlp.is_moe for b in m.blocks[:2]] == [False, True] and m.blocks[0].attention.qk_norm == "rmsnorm"
    assert (m.blocks[1].mlp.experts, m.blocks[1].mlp.top_k, m.blocks[1].mlp.shared) == (64, 8, 1024)
    kinds = ["dense", "sparse"] * 2
    small = {"num_hidden_layers": 4, "num_experts": 8, "num_shared_experts": 2, "sliding_window": 1024}
    v = from_hf_dict({"model_type": "exaone_moe", **small, "mlp_layer_types": kinds})
    assert v.params == 1_761_711_104 and [b.mlp.is_moe for b in v.blocks] == [False, True, False, True]


def test_hy_v3_is_apertus_attention_over_routed_and_shared_experts():
    """Hy3-preview (HF HYV3ForCausalLM: ApertusAttention's per-head q/k RMSNorms, GQA of 64 / 8 heads of 128; a dense
    first layer (mlp_layer_types), then HYV3MoE: 192 experts of 1536, 8 a token by sigmoid scores, beside one shared):
    HYV3Config's defaults 295,033,528,320 params = transformers 5.25 on meta (hwsim active 20.7B); 4 layers, 2 dense,
    16 experts (num_local_experts), 2 shared, attention_bias 2,298,704,896 = transformers. MLP biases (its shared
    experts' only) are refused."""
    m = load_model(CONFIGS / "hy3-preview.json")
    assert m.params == from_hf_dict({"model_type": "hy_v3"}).params == 295_033_528_320
    assert round(m.active_params_per_token / 1e9, 1) == 20.7
    a = m.blocks[0].attention
    assert (a.heads, a.kv_heads, a.head_dim, a.qk_norm) == (64, 8, 128, "rmsnorm")
    assert [b.mlp.is_moe for b in m.blocks[:2]] == [False, True] and m.blocks[0].mlp.intermediate == 13312
    assert (m.blocks[1].mlp.experts, m.blocks[1].mlp.top_k, m.blocks[1].mlp.shared) == (192, 8, 1536)
    small = {"num_hidden_layers": 4, "num_local_experts": 16, "num_shared_experts": 2, "attention_bias": True}
    v = from_hf_dict({"model_type": "hy_v3", **small, "mlp_layer_types": ["dense", "dense", "sparse", "sparse"]})
    assert v.params == 2_298_704_896 and v.blocks[0].attention.o_bias
    with pytest.raises(HwsimError) as err:
        from_hf_dict({"model_type": "hy_v3", "mlp_bias": True})
    assert str(err.value).startswith("mlp_bias:") and "\n" not in str(err.value)


def test_afmoe_gates_its_attention_and_rotates_only_its_sliding_layers():
    """AFMoE (HF AfmoeAttention: per-head q/k RMSNorms, output × sigmoid(gate_proj(x)) from a linear of its own,
    rotary only on the sliding layers; AfmoeDecoderLayer: pre- and post-norms; a dense first layer, then 64 experts of
    1408, 6 a token, beside 2 shared, the router's expert_bias a parameter): AfmoeConfig's defaults 19,232,600,000
    params = transformers 5.25 on meta; 4 layers, 2 dense, 8 experts, 1 shared, 4 KV heads, biases 1,110,006,800 =
    transformers."""
    m = load_model(CONFIGS / "afmoe-defaults.json")
    assert m.params == from_hf_dict({"model_type": "afmoe"}).params == 19_232_600_000
    kinds = [(b.attention.window, b.attention.rotary) for b in m.blocks[:4]]
    assert kinds == [(1024, True)] * 3 + [(None, False)] and {b.norms for b in m.blocks} == {4}
    a = m.blocks[0].attention
    assert (a.gate_proj, a.qk_norm, a.head_dim) == (True, "rmsnorm", 128)
    assert m.blocks[0].linears(m.hidden)["attn_gate_proj"].n == 16 * 128
    moe = m.blocks[1].mlp
    assert (moe.experts, moe.top_k, moe.shared, moe.router_bias) == (64, 6, 2 * 1408, True)
    ops = trace(m, "decode", batch=1, context=8).ops
    assert (ops["op"] == "attn_gate_proj").sum() == 32 and (ops["name"].str.endswith("attn_gate")).sum() == 32
    small = {"num_hidden_layers": 4, "num_experts": 8, "num_shared_experts": 1, "num_key_value_heads": 4}
    v = from_hf_dict({"model_type": "afmoe", **small, "attention_bias": True, "num_dense_layers": 2})
    assert v.params == 1_110_006_800 and [b.mlp.is_moe for b in v.blocks] == [False, False, True, True]


def test_axk1_norms_its_moe_output_and_spaces_its_moe_layers():
    """A.X-K1 (HF AXK1ForCausalLM: DeepSeek-V3's MLA, always with a query latent; AXK1MoE: routed and shared experts
    whose summed output is RMSNormed (Mlp.out_norm: hidden weights, a norm row); MoE layers from first_k_dense_replace
    on, every moe_layer_freq-th, or mlp_layer_types): AXK1Config's defaults 518,983,052,288 params = transformers 5.25
    on meta (hwsim active 32.8B); 4 layers, 8 experts, moe_layer_freq 2 4,338,882,560 = transformers (MoE on layer 2
    only)."""
    m = load_model(CONFIGS / "a.x-k1.json")
    assert m.params == from_hf_dict({"model_type": "axk1"}).params == 518_983_052_288
    assert round(m.active_params_per_token / 1e9, 1) == 32.8
    moe = m.blocks[1].mlp
    assert (moe.experts, moe.top_k, moe.shared, moe.out_norm) == (192, 8, 2048, True) and not m.blocks[0].mlp.out_norm
    ops = trace(m, "decode", batch=1, context=8).ops
    assert (ops["name"].str.endswith("mlp.out_norm")).sum() == 60
    v = from_hf_dict({"model_type": "axk1", "num_hidden_layers": 4, "n_routed_experts": 8, "moe_layer_freq": 2})
    assert v.params == 4_338_882_560 and [b.mlp.is_moe for b in v.blocks] == [False, False, True, False]
    with pytest.raises(HwsimError) as err:
        from_hf_dict({"model_type": "axk1", "q_lora_rank": None})
    assert str(err.value).startswith("q_lora_rank:") and "\n" not in str(err.value)


@pytest.mark.parametrize("model_type", ["zamba", "deepseek_v4", "qwen4_exp", "minimax_m3_vl_text", "gemma3n_text"])
def test_types_hwsim_does_not_model_are_refused_naming_what_it_lacks(model_type):
    """Decoder types transformers 5.25 builds whose blocks hwsim has not (readers.NOT_MODELLED): one line naming the
    type and the mechanism, not the bare list of supported types."""
    with pytest.raises(HwsimError) as err:
        from_hf_dict({"model_type": model_type})
    msg = str(err.value)
    assert msg.startswith(f"model_type: {model_type} is not modelled: ") and "\n" not in msg and "supported:" not in msg


def test_hyperclovax_is_granite_with_post_norms():
    """HyperCLOVA X (HF HyperCLOVAXDecoderLayer: Granite's layer, µP multipliers included, plus post_norm1 /
    post_norm2 after attention and MLP under use_post_norm, default true): HyperCLOVAXConfig's defaults 6,738,677,760
    params = transformers 5.25 on meta (Granite's defaults + 2 × 32 × 4096); without post-norms, head_dim 64 and
    biases, 4 layers 937,504,768 = transformers; embedding_multiplier scales the embeddings as Granite's."""
    m = load_model(CONFIGS / "hyperclovax-defaults.json")
    assert m.params == from_hf_dict({"model_type": "hyperclovax"}).params == 6_738_677_760
    assert {b.norms for b in m.blocks} == {4} and not m.embedding.scale
    small = {"model_type": "hyperclovax", "use_post_norm": False, "num_hidden_layers": 4, "head_dim": 64}
    v = from_hf_dict({**small, "attention_bias": True})
    assert v.params == 937_504_768 and {b.norms for b in v.blocks} == {2} and v.blocks[0].attention.head_dim == 64
    assert from_hf_dict({**small, "embedding_multiplier": 12.0}).embedding.scale


def test_jais2_is_llama_attention_over_a_biased_relu2_mlp_under_layernorms():
    """Jais-2 (HF Jais2ForCausalLM: LlamaAttention biased by default, Nemotron's non-gated MLP (up, ReLU², down) biased
    by default, nn.LayerNorm with bias everywhere): 8,090,401,280 params = transformers 5.25 on meta (card 8B); 4 layers
    of 2 KV heads without attention biases 1,804,647,936 = transformers."""
    m = load_model(CONFIGS / "jais-2-8b-chat.json")
    b = m.blocks[0]
    assert (m.norm, m.activation, b.mlp.gated, b.mlp.bias, b.attention.qkv_bias) == (
        "layernorm",
        "relu2",
        False,
        True,
        True,
    )
    v = from_hf_dict({"model_type": "jais2", "num_hidden_layers": 4, "attention_bias": False, "num_key_value_heads": 2})
    assert v.params == 1_804_647_936 and not v.blocks[0].attention.o_bias


def test_granite_swa_adds_sinks_and_windows_to_granite():
    """Granite-SWA (HF GraniteSWAAttention: Granite's attention with a learned sink logit per head and a window on the
    layers layer_types names, by default all but every 4th from layer 0, 128 tokens): granite-swash-2b's geometry
    (GraniteSWAConfig's defaults) 2,144,463,840 params = transformers 5.25 on meta; GraniteMoeSWAConfig's defaults
    37,039,117,312 and 4 layers of 4 experts with a shared MLP of 512, a 256 window, 8 KV heads 2,619,445,376 =
    transformers."""
    m = load_model(CONFIGS / "granite-swash-2b.json")
    assert m.params == from_hf_dict({"model_type": "granite_swa"}).params == 2_144_463_840 and m.tie_embeddings
    assert [(b.attention.window, b.attention.sinks) for b in m.blocks[:5]] == [(None, True)] + [(128, True)] * 3 + [
        (None, True)
    ]
    moe = load_model(CONFIGS / "granitemoe-swa-defaults.json")
    assert moe.params == from_hf_dict({"model_type": "granitemoe_swa"}).params == 37_039_117_312
    small = {"num_hidden_layers": 4, "shared_intermediate_size": 512, "num_local_experts": 4, "sliding_window": 256}
    v = from_hf_dict({"model_type": "granitemoe_swa", **small, "num_key_value_heads": 8})
    assert v.params == 2_619_445_376 and v.blocks[1].attention.window == 256 and v.blocks[0].mlp.shared == 512


def test_cohere2_moe_runs_parallel_layers_with_a_dense_prefix_of_its_own_pattern():
    """Command A+'s type (HF Cohere2MoeDecoderLayer: one norm feeding attention and MLP side by side; rotary on sliding
    layers only, and on the dense prefix under prefix_dense_sliding_window_pattern 1 (force_rope); experts of
    intermediate_size): Cohere2MoeConfig's defaults 190,004,928,512 params = transformers 5.25 on meta; 4 layers, one
    dense, one shared expert, biases, RMSNorms (rms_norm_eps set), 8 KV heads 18,203,590,656; 4 layers, 2 dense of 4096
    alternating windows by their own pattern 12,230,762,496 = transformers."""
    m = load_model(CONFIGS / "command-a-plus-defaults.json")
    assert m.params == from_hf_dict({"model_type": "cohere2_moe"}).params == 190_004_928_512
    assert [(b.attention.window, b.attention.rotary) for b in m.blocks[:4]] == [(4096, True)] * 3 + [(None, False)]
    assert m.norm == "layernorm_weight" and {(b.parallel, b.norms) for b in m.blocks} == {(True, 1)}
    small = {"model_type": "cohere2_moe", "num_hidden_layers": 4, "num_shared_experts": 1, "attention_bias": True}
    v = from_hf_dict({**small, "first_k_dense_replace": 1, "rms_norm_eps": 1e-5, "num_key_value_heads": 8})
    assert v.params == 18_203_590_656 and v.norm == "rmsnorm"
    assert [(b.attention.rotary, b.mlp.is_moe) for b in v.blocks] == [(True, False)] + [(True, True)] * 3
    prefix = {"model_type": "cohere2_moe", "num_hidden_layers": 4, "first_k_dense_replace": 2}
    w = from_hf_dict({**prefix, "prefix_dense_intermediate_size": 4096, "prefix_dense_sliding_window_pattern": 2})
    assert w.params == 12_230_762_496 and [b.attention.window for b in w.blocks] == [4096, None, 4096, 4096]
    assert w.blocks[0].mlp.intermediate == 4096 and not w.blocks[1].attention.rotary
