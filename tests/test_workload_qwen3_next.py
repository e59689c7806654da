"""qwen3_next (Qwen3-Next-80B-A3B): Gated DeltaNet layers (hwsim.workload.blocks.DeltaNet) and gated attention
layers, every layer a MoE with a sigmoid-gated shared expert.

Sources: parameter counts and tensor names/shapes are transformers 5.25 (Qwen3NextForCausalLM on the meta device,
torch 2.13; Qwen3-Next-80B-A3B pinned in tests/data/hf_reference.json, the tiny config's run for this test in a
throwaway venv and pinned here); the mixer's structure is HF's Qwen3NextGatedDeltaNet."""

import json
from pathlib import Path

import pytest

from hwsim.errors import HwsimError
from hwsim.workload import from_hf_dict, kv, load_model, trace
from hwsim.workload.blocks import Attention, DeltaNet
from hwsim.workload.tensor_map import match_checkpoint

CONFIGS = Path(__file__).parent / "data" / "hf_configs"
NEXT = CONFIGS / "qwen3-next-80b-a3b-instruct.json"
# random small sizes: DeltaNet / attention / DeltaNet, 2 key heads of 8 and 6 value heads of 10 (groups of 3),
# conv 3, head_dim 12 rotated on half, q/k/v/o biases, 6 experts + a shared one, layer 1 dense (mlp_only_layers)
TINY = {
    "model_type": "qwen3_next",
    "hidden_size": 40,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 12,
    "partial_rotary_factor": 0.5,
    "num_hidden_layers": 3,
    "layer_types": ["linear_attention", "full_attention", "linear_attention"],
    "linear_num_key_heads": 2,
    "linear_num_value_heads": 6,
    "linear_key_head_dim": 8,
    "linear_value_head_dim": 10,
    "linear_conv_kernel_dim": 3,
    "num_experts": 6,
    "num_experts_per_tok": 2,
    "moe_intermediate_size": 14,
    "shared_expert_intermediate_size": 18,
    "mlp_only_layers": [1],
    "intermediate_size": 30,
    "vocab_size": 91,
    "attention_bias": True,
}


def _tiny_checkpoint() -> dict:
    """The ≥2-D parameters of TINY as transformers 5.25 names and shapes them."""
    out = {"model.embed_tokens.weight": (91, 40), "lm_head.weight": (91, 40)}
    for i in (0, 2):
        p = f"model.layers.{i}."
        out |= {
            p + "linear_attn.conv1d.weight": (92, 1, 3),
            p + "linear_attn.in_proj_qkvz.weight": (152, 40),
            p + "linear_attn.in_proj_ba.weight": (12, 40),
            p + "linear_attn.out_proj.weight": (40, 60),
            p + "mlp.gate.weight": (6, 40),
            p + "mlp.experts.gate_up_proj": (6, 28, 40),
            p + "mlp.experts.down_proj": (6, 40, 14),
            p + "mlp.shared_expert.gate_proj.weight": (18, 40),
            p + "mlp.shared_expert.up_proj.weight": (18, 40),
            p + "mlp.shared_expert.down_proj.weight": (40, 18),
            p + "mlp.shared_expert_gate.weight": (1, 40),
        }
    p = "model.layers.1."
    return out | {
        p + "self_attn.q_proj.weight": (96, 40),
        p + "self_attn.k_proj.weight": (24, 40),
        p + "self_attn.v_proj.weight": (24, 40),
        p + "self_attn.o_proj.weight": (40, 48),
        p + "mlp.gate_proj.weight": (30, 40),
        p + "mlp.up_proj.weight": (30, 40),
        p + "mlp.down_proj.weight": (40, 30),
    }


def test_tiny_qwen3_next_params_and_checkpoint_names_equal_transformers():
    """62,604 parameters (transformers 5.25 on meta) and every linear found in the names it builds."""
    m = from_hf_dict(dict(TINY))
    assert m.params == 62_604
    rows = match_checkpoint(m, _tiny_checkpoint())
    assert len(rows) == 2 * (3 + 8) + 4 + 3 and all(r["ok"] for r in rows)


def test_qwen3_next_layout():
    """Layer types from full_attention_interval (every 4th full attention); the DeltaNet's widths (in_proj_qkvz
    2 × key + 2 × value, in_proj_ba 2 per value head, conv over q|k|v without bias, A_log / dt_bias per value head,
    one head_v norm weight); the attention's q_proj doubled by its output gate, its q/k norms and biases; the MoE's
    shared expert behind a sigmoid gate."""
    m = load_model(NEXT)
    kinds = ["D" if isinstance(b.mixer, DeltaNet) else "A" for b in m.blocks]
    assert "".join(kinds) == "DDDA" * 12
    gdn, attn = m.blocks[0].mixer, m.blocks[3].mixer
    assert isinstance(gdn, DeltaNet) and isinstance(attn, Attention)
    assert (gdn.key_dim, gdn.value_dim, gdn.conv_dim) == (2048, 4096, 8192)
    assert {r: (lin.k, lin.n) for r, lin in gdn.linears(2048).items()} == {
        "in_proj_qkvz": (2048, 12288),
        "in_proj_ba": (2048, 64),
        "out_proj": (4096, 2048),
    }
    assert gdn.other_params("rmsnorm") == 8192 * 4 + 2 * 32 + 128
    assert attn.linears(2048)["q_proj"].n == 2 * 16 * 256 and attn.output_gate and attn.rotary_dim == 64
    mlp = m.blocks[0].mlp
    assert (mlp.experts, mlp.top_k, mlp.intermediate, mlp.shared, mlp.shared_gate) == (512, 10, 512, 512, True)
    interval = from_hf_dict({**json.loads(NEXT.read_text()), "full_attention_interval": 2, "num_hidden_layers": 4})
    assert [isinstance(b.mixer, DeltaNet) for b in interval.blocks] == [True, False, True, False]


def test_qwen3_next_cache_is_attention_kv_plus_the_delta_rule_state():
    """The 12 attention layers' K/V grow with the context; the 36 DeltaNet layers keep 32 × 128 × 128 per sequence
    plus the conv window (3 of 8,192 channels), whatever the context."""
    m = load_model(NEXT)
    assert kv.token_elems(m.blocks) == 12 * 2 * 2 * 256
    assert kv.state_elems(m.blocks) == 36 * (32 * 128 * 128 + 8192 * 3)
    short, long = (trace(m, "decode", batch=2, context=c).kv_cache_bytes(16) for c in (10, 1010))
    assert long - short == 2 * 1000 * kv.token_elems(m.blocks) * 2


def test_gated_deltanet_prefill_is_chunked_and_decode_the_recurrence():
    """Prefill: the chunked products per token at the full chunk width (64); decode: the recurrence on the vector
    units (no chunk products); the state read and written every step."""
    m = from_hf_dict(dict(TINY))
    gdn = m.blocks[0].mixer
    pre = trace(m, "prefill", batch=2, seq=64).ops.query("layer == 0")
    macs = dict(zip(pre["op"], pre["macs"]))
    t, q, H, Dk, Dv = 2 * 64, 64, 6, 8, 10
    assert (macs["gdn_kkt"], macs["gdn_wy"], macs["gdn_diag"]) == (t * H * q * Dk, t * H * q * 18, t * H * q * 18)
    assert (macs["gdn_off"], macs["gdn_states"]) == (2 * t * H * Dk * Dv, t * H * Dk * Dv)
    dec = trace(m, "decode", batch=3, context=40).ops.query("layer == 0")
    assert not set(dec["op"]) & {"gdn_kkt", "gdn_wy", "gdn_diag", "gdn_off", "gdn_states"}
    state = 3 * gdn.state_elems
    assert (dec["kv_read_elems"].sum(), dec["kv_write_elems"].sum()) == (state, state)
    assert dec.query("name.str.endswith('gdn.update')")["vector_ops"].sum() >= 7 * 3 * H * Dk * Dv


def test_attention_output_gate_is_priced():
    m = from_hf_dict(dict(TINY))
    ops = trace(m, "decode", batch=2, context=8).ops.query("layer == 1")
    gate = ops.query("op == 'act' and name.str.endswith('attn_gate')")
    assert len(gate) == 1 and gate["act_in_elems"].sum() == 2 * 2 * 4 * 12


def test_bad_qwen3_next_configs_are_one_line():
    for change, field in (
        ({"layer_types": ["linear_attention", "mamba", "full_attention"]}, "layer_types"),
        ({"linear_num_value_heads": 5}, "linear_num_value_heads"),
    ):
        with pytest.raises(HwsimError) as err:
            from_hf_dict({**TINY, **change})
        assert err.value.field == field and "\n" not in str(err.value)


def test_qwen3_next_refuses_tensor_parallelism_in_one_line():
    from hwsim.serve.shard import Parallel, shard_model

    with pytest.raises(HwsimError, match="Gated DeltaNet.*tensor parallelism"):
        shard_model(load_model(NEXT), Parallel(tp=2))


def test_a_skip_list_naming_checkpoint_modules_reaches_the_ops():
    """fp8 quantization_config's modules_to_not_convert names HF module paths (`mlp.gate`, the router;
    `mlp.shared_expert_gate`; `linear_attn.in_proj_ba`): the ops standing for them keep the checkpoint's dtype (they
    took fp8 before: the op names `router`, `shared_gate`, `in_proj_ba` are not those paths), the rest is fp8."""
    cfg = json.loads(NEXT.read_text())
    skip = ["lm_head", "mlp.gate", "mlp.shared_expert_gate", "linear_attn.in_proj_ba"]
    m = from_hf_dict({**cfg, "quantization_config": {"quant_method": "fp8", "modules_to_not_convert": skip}})
    names = list(trace(m, "decode", context=8).ops.query("layer == 0 and kind == 'linear'")["name"])
    kept = {n.split(".", 2)[2] for n, f in zip(names, m.op_weight_formats(names)) if f != "fp8_e4m3"}
    assert kept == {"in_proj_ba", "router", "shared_gate"}
