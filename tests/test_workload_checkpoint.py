"""Checkpoint folders: tensor names/shapes/dtypes from safetensors headers, matched to the config's counts."""

import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from hwsim.errors import HwsimError
from hwsim.workload import checkpoint_tensors, from_hf_dict, load_model

TINY = {
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 160,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "vocab_size": 100,
    "tie_word_embeddings": False,
}


def _llama_tensors(cfg):
    """Tensors named and shaped as HF LlamaForCausalLM stores them (out_features × in_features)."""
    h, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    kv = h // cfg["num_attention_heads"] * cfg["num_key_value_heads"]
    t = {"model.embed_tokens.weight": (v, h), "model.norm.weight": (h,), "lm_head.weight": (v, h)}
    for n in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{n}."
        t |= {
            p + "self_attn.q_proj.weight": (h, h),
            p + "self_attn.k_proj.weight": (kv, h),
            p + "self_attn.v_proj.weight": (kv, h),
            p + "self_attn.o_proj.weight": (h, h),
            p + "mlp.gate_proj.weight": (i, h),
            p + "mlp.up_proj.weight": (i, h),
            p + "mlp.down_proj.weight": (h, i),
            p + "input_layernorm.weight": (h,),
            p + "post_attention_layernorm.weight": (h,),
        }
    return {k: np.zeros(s, dtype=np.float16) for k, s in t.items()}


def test_sharded_checkpoint_matches_config(tmp_path):
    tensors = _llama_tensors(TINY)
    names = sorted(tensors)
    half = len(names) // 2
    shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    for fname, keys in shards.items():
        save_file({k: tensors[k] for k in keys}, str(tmp_path / fname))
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": {k: f for f, keys in shards.items() for k in keys}})
    )
    (tmp_path / "config.json").write_text(json.dumps(TINY))

    table = checkpoint_tensors(tmp_path)
    assert len(table) == len(tensors)
    row = table.set_index("name").loc["model.layers.1.self_attn.k_proj.weight"]
    assert row["shape"] == (32, 64) and row["dtype"] == "float16"
    assert int(table["numel"].sum()) == load_model(tmp_path).params == from_hf_dict(TINY).params


def test_checkpoint_errors(tmp_path):
    with pytest.raises(HwsimError, match="no \\*.safetensors"):
        checkpoint_tensors(tmp_path)
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "missing.safetensors"}}))
    with pytest.raises(HwsimError, match="missing.safetensors"):
        checkpoint_tensors(tmp_path)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00\x01garbage")
    with pytest.raises(HwsimError, match="not a readable safetensors"):
        checkpoint_tensors(bad)
