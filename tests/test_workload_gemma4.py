"""gemma4 / gemma4_text (Gemma 4): sliding and full attention layers of their own geometry, value norms, keys as
values on full attention (attention_k_eq_v), the MoE block beside the dense MLP (enable_moe_block), and E2B/E4B's
per-layer input embeddings and KV sharing.

Sources: parameter counts and tensor names/shapes are transformers 5.25 (Gemma4ForCausalLM on the meta device,
torch 2.13, in a throwaway venv: the tiny configs below and Gemma4TextConfig's defaults pinned here; Gemma-4-31B-it,
Gemma-4-26B-A4B-it and Gemma-4-E2B-it with their wrappers in tests/data/hf_reference.json); the structure is HF's
Gemma4TextAttention / Gemma4TextDecoderLayer."""

import json
from pathlib import Path

import pytest

from hwsim.errors import HwsimError
from hwsim.workload import from_hf_dict, kv, load_model, trace
from hwsim.workload.blocks import Attention
from hwsim.workload.tensor_map import match_checkpoint

CONFIGS = Path(__file__).parent / "data" / "hf_configs"
DENSE = CONFIGS / "gemma-4-31b-it.json"
MOE = CONFIGS / "gemma-4-26b-a4b-it.json"
E2B = CONFIGS / "gemma-4-e2b-it.json"
# random small sizes: sliding (2 KV heads of 12, window 16) / full / sliding, the last forced to full attention as
# Gemma4TextConfig does; full layers 1 KV head of 20 whose values are the keys' projection
TINY = {
    "model_type": "gemma4_text",
    "hidden_size": 40,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 12,
    "global_head_dim": 20,
    "num_hidden_layers": 3,
    "layer_types": ["sliding_attention", "full_attention", "sliding_attention"],
    "sliding_window": 16,
    "intermediate_size": 30,
    "vocab_size": 91,
    "hidden_size_per_layer_input": 0,
    "attention_k_eq_v": True,
    "num_global_key_value_heads": 1,
}
TINY_MOE = {**TINY, "enable_moe_block": True, "num_experts": 6, "top_k_experts": 2, "moe_intermediate_size": 14}


def _tiny_checkpoint(moe: bool) -> dict:
    """The linear weights of TINY / TINY_MOE as transformers 5.25 names and shapes them."""
    out = {"model.embed_tokens.weight": (91, 40)}
    for i in range(3):
        p = f"model.layers.{i}."
        if i == 0:
            out |= {
                p + "self_attn.q_proj.weight": (48, 40),
                p + "self_attn.k_proj.weight": (24, 40),
                p + "self_attn.v_proj.weight": (24, 40),
                p + "self_attn.o_proj.weight": (40, 48),
            }
        else:
            out |= {
                p + "self_attn.q_proj.weight": (80, 40),
                p + "self_attn.k_proj.weight": (20, 40),
                p + "self_attn.o_proj.weight": (40, 80),
            }
        out |= {p + f"mlp.{r}.weight": (30, 40) for r in ("gate_proj", "up_proj")} | {
            p + "mlp.down_proj.weight": (40, 30)
        }
        if moe:
            out |= {
                p + "router.proj.weight": (6, 40),
                p + "experts.gate_up_proj": (6, 28, 40),
                p + "experts.down_proj": (6, 40, 14),
            }
    return out


@pytest.mark.parametrize("cfg,params,moe", [(TINY, 35_224, False), (TINY_MOE, 66_682, True)])
def test_tiny_params_and_checkpoint_names_equal_transformers(cfg, params, moe):
    """35,224 / 66,682 parameters (transformers 5.25 on meta: the MoE layer adds the router's scale and per-expert
    scale and three norms) and every linear found where transformers puts it (the dense MLP under `mlp.`, the
    router under `router.proj`, the stacked experts under the layer's `experts`)."""
    m = from_hf_dict(dict(cfg))
    assert m.params == params
    rows = match_checkpoint(m, _tiny_checkpoint(moe))
    assert len(rows) == sum(len(layer.linears(m.hidden)) for layer in m.blocks) and all(r["ok"] for r in rows)
    assert [type(b.mixer) for b in m.blocks] == [Attention] * 3
    assert [b.mixer.window for b in m.blocks] == [16, None, None]  # the last layer forced to full attention


def test_keys_as_values_and_full_layer_geometry():
    """Gemma-4-31B: sliding layers 16 KV heads of 256 with v_proj and a window of 1024; every 6th layer full
    attention with 4 global KV heads of 512, no v_proj (values are k_proj's output), rope on a quarter of each head;
    without attention_k_eq_v the full layers keep num_key_value_heads and their v_proj (40,024 parameters in the
    tiny config, transformers 5.25)."""
    m = load_model(DENSE)
    slide, full = m.blocks[0].mixer, m.blocks[5].mixer
    assert (slide.kv_heads, slide.head_dim, slide.window, slide.rotary_dim) == (16, 256, 1024, 256)
    assert (full.kv_heads, full.head_dim, full.window, full.rotary_dim, full.k_eq_v) == (4, 512, None, 128, True)
    assert "v_proj" not in full.linears(5376) and "v_proj" in slide.linears(5376)
    plain = from_hf_dict({**TINY, "attention_k_eq_v": False})
    assert plain.params == 40_024 and plain.blocks[1].mixer.kv_heads == 2 and "v_proj" in plain.blocks[1].linears(40)


def test_value_norm_writes_the_cache_and_the_cache_holds_both():
    """The values are RMSNormed (no weights) before the cache: the v_norm row writes them, v_proj (or, under
    k_eq_v, nothing) does not; a full layer caches keys and values of its own (k_eq_v shares the projection, not
    the cache): 50 sliding layers × 2 × 16 × 256 + 10 full × 2 × 4 × 512 elements per token, the sliding ones
    bounded by their window."""
    m = load_model(DENSE)
    ops = trace(m, "decode", batch=2, context=100).ops
    for layer, kv_heads, dim in ((0, 16, 256), (5, 4, 512)):
        rows = ops[ops["layer"] == layer].set_index("name").rename(index=lambda n: n.split(".", 2)[2])
        assert rows.loc["v_norm", "kv_write_elems"] == 2 * kv_heads * dim
        assert rows.loc["rope", "kv_write_elems"] == 2 * kv_heads * dim
        assert rows.loc["v_norm", "weight_elems"] == 0
    assert "v_proj" not in set(ops.loc[ops["layer"] == 5, "op"])
    assert kv.token_elems(m.blocks) == 50 * 2 * 16 * 256 + 10 * 2 * 4 * 512
    short, long = (trace(m, "decode", batch=1, context=c).kv_cache_bytes(16) for c in (2000, 3000))
    assert long - short == 1000 * 10 * 2 * 4 * 512 * 2  # only the full layers grow past the window


def test_moe_block_beside_the_dense_mlp():
    """Gemma-4-26B-A4B: in every layer 128 experts of 704, 8 per token, beside the dense MLP of 2112 (the shared
    expert's rows, no gate); its norms and scales are priced rows."""
    m = load_model(MOE)
    mlp = m.blocks[0].mlp
    assert (mlp.experts, mlp.top_k, mlp.intermediate, mlp.shared, mlp.shared_gate, mlp.dense_beside) == (
        128,
        8,
        704,
        2112,
        False,
        True,
    )
    names = set(trace(m, "decode", context=10).ops.query("layer == 0")["name"].str.split(".", n=2).str[2])
    assert {"router", "shared.gate_proj", "mlp.router_norm", "mlp.experts_pre_norm", "mlp.combine"} <= names


TINY_PLE = {
    **TINY,
    "num_hidden_layers": 4,
    "layer_types": ["sliding_attention", "full_attention"] * 2,
    "attention_k_eq_v": False,
    "hidden_size_per_layer_input": 6,
    "vocab_size_per_layer_input": 50,
    "num_kv_shared_layers": 2,
    "use_double_wide_mlp": True,
}


def test_per_layer_embeddings_and_kv_sharing_equal_transformers():
    """TINY_PLE (per-layer inputs of 6 over a 50-row table, the last 2 of 4 layers sharing the first two's keys and
    values with double-wide MLPs): 55,862 parameters (transformers 5.25 on meta); a sharing layer has q_proj and
    o_proj only (and the per-layer input's gate and projection), its MLP 60 wide; Gemma4TextConfig's defaults (PLE of
    256 per layer) 5,077,177,856."""
    m = from_hf_dict(dict(TINY_PLE))
    assert m.params == 55_862
    assert [b.mixer.kv_reuse for b in m.blocks] == [False, False, True, True]
    assert set(m.blocks[3].linears(40)) == {
        "q_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
        "per_layer_input_gate",
        "per_layer_projection",
    }
    assert [b.mlp.intermediate for b in m.blocks] == [30, 30, 60, 60]
    assert m.param_breakdown()["per_layer_embedding"] == 50 * 4 * 6 + 40 * 4 * 6 + 6
    assert from_hf_dict({"model_type": "gemma4_text"}).params == 5_077_177_856


def test_e2b_cache_and_rows():
    """Gemma-4-E2B: layers 15-34 share the keys and values of layer 13 (sliding) or 14 (full) and cache nothing:
    a token adds 12 sliding × 2 × 256 + 3 full × 2 × 512 elements; a sharing layer's decode rows read the shared
    cache (its attention's kv reads) but project and write no keys; the per-layer embedding is one gathered row of
    35 × 256 per token and a projection of hidden × 8,960."""
    m = load_model(E2B)
    assert [i for i, b in enumerate(m.blocks) if b.mixer.kv_reuse] == list(range(15, 35))
    assert kv.token_elems(m.blocks) == 12 * 2 * 256 + 3 * 2 * 512
    ops = trace(m, "decode", batch=2, context=100).ops
    shared = ops[ops["layer"] == 20]
    assert not set(shared["op"]) & {"k_proj", "v_proj"} and shared["kv_write_elems"].sum() == 0
    assert shared.loc[shared["op"] == "qk", "kv_read_elems"].sum() == 2 * 101 * 256
    head = ops[ops["layer"] < 0].set_index("name")
    assert head.loc["embed_tokens_per_layer", "weight_elems"] == 2 * 35 * 256
    assert head.loc["per_layer_model_projection", "macs"] == 2 * 1536 * 35 * 256
    assert {"per_layer_input_gate", "per_layer_projection"} <= set(shared["op"])


def test_refusals_are_one_line():
    """KV sharing whose earlier layers lack one of the shared layer types (transformers raises too) or that shares
    every layer, bidirectional attention, unknown layer types and too many experts per token are refused in one
    line, a wrapper's field named inside text_config."""
    for base, change, field in (
        (TINY_PLE, {"layer_types": ["sliding_attention"] * 3 + ["full_attention"]}, "num_kv_shared_layers"),
        (TINY_PLE, {"num_kv_shared_layers": 4}, "num_kv_shared_layers"),
        (TINY_MOE, {"use_bidirectional_attention": "all"}, "use_bidirectional_attention"),
        (TINY_MOE, {"layer_types": ["sliding_attention", "chunked_attention", "full_attention"]}, "layer_types"),
        (TINY_MOE, {"top_k_experts": 7}, "top_k_experts"),
    ):
        with pytest.raises(HwsimError) as err:
            from_hf_dict({**base, **change})
        assert err.value.field == field and "\n" not in str(err.value)
    cfg = json.loads(DENSE.read_text())
    cfg["text_config"]["num_kv_shared_layers"] = 60
    with pytest.raises(HwsimError) as err, pytest.warns(UserWarning):
        from_hf_dict(cfg)
    assert err.value.field == "text_config.num_kv_shared_layers"
