"""Command R+ (cohere with use_qk_norm): per-head LayerNorms on q and k, each head with its own weights
(transformers CohereAttention: CohereLayerNorm of shape (heads, head_dim) and (kv_heads, head_dim)). hwsim
refused the flag before.

The config is tests/data/hf_configs/c4ai-command-r-plus.json (CohereForAI/c4ai-command-r-plus's config.json,
written out from its published fields; the model card says 104B parameters). Its parameter count below is
transformers 5.25's on the meta device (AutoModelForCausalLM.from_config, sum of numel, torch 2.13), as
tests/tools/hf_reference.py counts the pinned types."""

from pathlib import Path

import pytest

from hwsim.errors import HwsimError
from hwsim.workload import from_hf_dict, load_model, trace

CONFIG = Path(__file__).resolve().parent / "data" / "hf_configs" / "c4ai-command-r-plus.json"
TRANSFORMERS_PARAMS = 103_810_674_688


def test_command_r_plus_parameter_count_equals_transformers():
    assert load_model(CONFIG).params == TRANSFORMERS_PARAMS


def test_q_and_k_norms_are_per_head_layernorms_with_per_head_weights():
    ops = trace(load_model(CONFIG), "decode", context=100).ops
    q, k = (ops[ops["name"] == f"layers.0.{n}"].iloc[0] for n in ("q_norm", "k_norm"))
    # one token: 96 query heads and 8 KV heads, each normed over its 128 elements; each norm reads all its weights
    assert (q["m"], q["n"], q["weight_elems"]) == (96, 128, 96 * 128)
    assert (k["m"], k["n"], k["weight_elems"]) == (8, 128, 8 * 128)
    assert q["vector_ops"] == 96 * 128 * 6  # LayerNorm without its bias add (layernorm_weight)


def test_cohere2_with_qk_norm_is_refused_in_one_line():
    cfg = {
        "model_type": "cohere2",
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_attention_heads": 4,
        "num_hidden_layers": 4,
        "vocab_size": 300,
        "use_qk_norm": True,
    }
    with pytest.raises(HwsimError) as e:
        from_hf_dict(cfg)
    assert e.value.field == "use_qk_norm"
