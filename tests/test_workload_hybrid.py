"""Mamba-2 and hybrid (attention + Mamba-2 + MLP-only layers) models: the Nemotron-H reader, the state / KV split
of hwsim.workload.kv, and how serving sizes its cache for them (hwsim.serve.kvcache)."""

import json
from pathlib import Path

import numpy as np
import pytest

from hwsim.arch import load_arch
from hwsim.engine import Precision
from hwsim.errors import HwsimError
from hwsim.serve.kvcache import NO_BLOCK_LIMIT, capacity_blocks
from hwsim.core.precision import resolve_precision
from hwsim.workload import from_hf_dict, kv, load_model, trace
from hwsim.workload.blocks import Attention, Ssd

CONFIGS = Path(__file__).parent / "data" / "hf_configs"
NEMOTRON = CONFIGS / "nemotron-h-8b-base-8k.json"
CODESTRAL = CONFIGS / "mamba-codestral-7b-v0.1.json"
BAMBA = CONFIGS / "bamba-9b.json"
GRANITE_H = CONFIGS / "granite-4.0-h-tiny.json"
JAMBA = CONFIGS / "jamba-v0.1.json"


def _cfg(path: Path) -> dict:
    return json.loads(path.read_text())


def test_nemotron_h_layers_follow_the_pattern():
    """Nemotron-H-8B: 52 layers, 24 Mamba-2 ('M'), 4 attention ('*', no rotary embedding), 24 MLP-only ('-')."""
    m = load_model(NEMOTRON)
    pattern = _cfg(NEMOTRON)["hybrid_override_pattern"]
    kinds = ["M" if isinstance(b.mixer, Ssd) else "*" if isinstance(b.mixer, Attention) else "-" for b in m.blocks]
    assert "".join(kinds) == pattern and (kinds.count("M"), kinds.count("*"), kinds.count("-")) == (24, 4, 24)
    attn = next(b.mixer for b in m.blocks if isinstance(b.mixer, Attention))
    assert (attn.heads, attn.kv_heads, attn.head_dim, attn.rotary) == (32, 8, 128, False)
    mlp_only = next(b for b in m.blocks if b.mixer is None)
    assert mlp_only.mlp is not None and not mlp_only.mlp.gated and mlp_only.mlp.activation == "relu2"
    ops = trace(m, "decode", context=100).ops
    assert not ops["op"].isin(["rope", "gate_proj"]).any()


def test_hybrid_cache_is_attention_kv_plus_a_fixed_state():
    """The attention layers' K/V grows with the context, the Mamba layers' state does not."""
    m = load_model(NEMOTRON)
    state = kv.state_elems(m.blocks)
    mix = next(b.mixer for b in m.blocks if isinstance(b.mixer, Ssd))
    assert state == 24 * (128 * 64 * 128 + (128 * 64 + 2 * 8 * 128) * 3)
    assert kv.token_elems(m.blocks) == 4 * 8 * 128 * 2  # 4 attention layers, 8 KV heads of 128, K and V
    for ctx in (0, 99, 4095):
        got = trace(m, "decode", batch=2, context=ctx).kv_cache_bytes(16)
        assert got == 2 * (state + (ctx + 1) * kv.token_elems(m.blocks)) * 2
    assert mix.state_elems * 24 == state


@pytest.mark.parametrize(
    "change,field",
    [
        ({"hybrid_override_pattern": "M-X*"}, "hybrid_override_pattern"),
        ({"num_hidden_layers": 51}, "num_hidden_layers"),
        ({"n_groups": 3}, "n_groups"),
        ({"mamba_num_heads": 0}, "mamba_num_heads"),
        ({"hybrid_override_pattern": "M-E*", "num_hidden_layers": 4, "moe_latent_size": 1024}, "moe_latent_size"),
    ],
)
def test_bad_nemotron_h_config_is_one_line_naming_the_field(change, field):
    with pytest.raises(HwsimError) as err:
        from_hf_dict({**_cfg(NEMOTRON), **change})
    assert err.value.field == field and "\n" not in str(err.value)


def test_nemotron_h_moe_layer_is_non_gated_experts_with_a_shared_one():
    """'E': NemotronHMoE = a bias-free router over n_routed_experts non-gated experts (up, down) and one shared
    non-gated MLP of moe_shared_expert_intermediate_size (transformers 5.25 NemotronHExperts / NemotronHMLP)."""
    cfg = {
        **_cfg(NEMOTRON),
        "hybrid_override_pattern": "ME*-",
        "num_hidden_layers": 4,
        "n_routed_experts": 16,
        "num_experts_per_tok": 4,
        "moe_intermediate_size": 1024,
        "moe_shared_expert_intermediate_size": 2048,
    }
    m = from_hf_dict(cfg)
    lin = m.blocks[1].linears(m.hidden)
    h = 4096
    assert set(lin) == {"router", "up_proj", "down_proj", "shared_up_proj", "shared_down_proj"}
    assert lin["router"].params == 16 * h
    assert lin["up_proj"].params == lin["down_proj"].params == 16 * 1024 * h
    assert lin["shared_up_proj"].params == 2048 * h
    assert m.active_params_per_token == m.params - 12 * 2 * 1024 * h


def test_nemotron_h_moe_params_and_checkpoint_names_equal_transformers():
    """A small Nemotron-H with every layer kind (pattern "ME*-"): 88,568 parameters and these layer-1 (MoE) tensor
    names and shapes are what transformers 5.25 builds on the meta device (NemotronHForCausalLM, run in this
    session: no MoE Nemotron-H config is pinned in hf_reference.json); hwsim finds every linear there."""
    from hwsim.workload.tensor_map import match_checkpoint

    cfg = {
        "model_type": "nemotron_h",
        "hidden_size": 64,
        "hybrid_override_pattern": "ME*-",
        "num_hidden_layers": 4,
        "n_routed_experts": 4,
        "moe_intermediate_size": 32,
        "moe_shared_expert_intermediate_size": 48,
        "intermediate_size": 96,
        "vocab_size": 100,
        "mamba_num_heads": 8,
        "mamba_head_dim": 16,
        "ssm_state_size": 8,
        "n_groups": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
    }
    m = from_hf_dict(cfg)
    assert m.params == 88_568
    p = "model.layers."
    shapes = {
        p + "0.mixer.in_proj.weight": (8 * 16 * 2 + 2 * 2 * 8 + 8, 64),
        p + "0.mixer.out_proj.weight": (64, 128),
        p + "1.mixer.experts.up_proj": (4, 32, 64),
        p + "1.mixer.experts.down_proj": (4, 64, 32),
        p + "1.mixer.gate.weight": (4, 64),
        p + "1.mixer.shared_experts.up_proj.weight": (48, 64),
        p + "1.mixer.shared_experts.down_proj.weight": (64, 48),
        p + "2.mixer.q_proj.weight": (64, 64),
        p + "2.mixer.k_proj.weight": (32, 64),
        p + "2.mixer.v_proj.weight": (32, 64),
        p + "2.mixer.o_proj.weight": (64, 64),
        p + "3.mixer.up_proj.weight": (96, 64),
        p + "3.mixer.down_proj.weight": (64, 96),
    }
    rows = match_checkpoint(m, shapes)
    assert len(rows) == 13 and all(r["ok"] for r in rows)


def test_serving_prices_blocks_by_attention_tokens_and_reserves_the_state():
    """A block holds block_size tokens of the attention layers' K/V only; the SSM state of max_seqs sequences is
    reserved beside the weights (vLLM's one Mamba state slot per schedulable sequence)."""
    m = load_model(NEMOTRON)
    arch = load_arch("h100-sxm")
    rp = resolve_precision(Precision())
    one, info1 = capacity_blocks(arch, m, rp, 16, 0.9, 2048, max_seqs=1)
    many, info2 = capacity_blocks(arch, m, rp, 16, 0.9, 2048, max_seqs=256)
    assert info1["kv_block_bytes"] == 16 * kv.token_elems(m.blocks) * 2
    assert info2["state_bytes"] == 256 * kv.state_elems(m.blocks) * 2
    freed = info2["state_bytes"] - info1["state_bytes"]
    assert one - many == pytest.approx(freed / info1["kv_block_bytes"], abs=1)
    pure, info = capacity_blocks(arch, load_model(CODESTRAL), rp, 16, 0.9, 2048, max_seqs=256)
    assert pure == NO_BLOCK_LIMIT and info["kv_block_bytes"] == 0


def test_hybrid_serves_with_batched_decode(capsys):
    """hwsim serve on Nemotron-H: the state is not priced per token (the cache holds far more blocks than a
    dense 8B's), and a decode step of n sequences costs what the batch-n decode trace costs (the step-cost
    basis is exact for Mamba-2 rows)."""
    from hwsim.cli import main
    from hwsim.serve.parallel import machine_cost
    from hwsim.engine import evaluate

    m = load_model(NEMOTRON)
    arch = load_arch("h100-sxm")
    sc = machine_cost(arch, m, Precision(), None, None)
    assert all(sc.polynomial.values())
    for n in (1, 16):
        got = float(sc.iteration(np.ones(n, dtype=np.int64), np.full(n, 700), n).seconds)
        want = evaluate(arch, trace(m, "decode", batch=n, context=700), Precision()).ops["seconds"].sum()
        assert got == pytest.approx(want, rel=1e-9)
    argv = ["serve", "--arch", "h100-sxm", "--model", str(NEMOTRON), "--num-requests", "20", "--rate", "5"]
    assert main([*argv, "--input-len", "512", "--output-len", "32", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["preemptions"] == 0 and s["kv_capacity_blocks"] > 100_000


def test_bamba_attention_at_its_indices_and_an_mlp_in_every_layer():
    """Bamba-9B: attention on layers 9, 18, 27 (attn_layer_indices), Mamba-2 (128 heads × 64, one group, state
    128) on the others, each layer followed by a gated MLP; mamba_d_head "auto" is mamba_expand × hidden / heads."""
    m = load_model(BAMBA)
    assert [i for i, b in enumerate(m.blocks) if isinstance(b.mixer, Attention)] == [9, 18, 27]
    mix = m.blocks[0].mixer
    assert isinstance(mix, Ssd) and (mix.heads, mix.head_dim, mix.groups, mix.d_state) == (128, 64, 1, 128)
    assert all(b.mlp is not None and b.mlp.gated and b.norms == 2 for b in m.blocks)
    auto = from_hf_dict({**_cfg(BAMBA), "mamba_d_head": "auto", "mamba_n_heads": 64})
    assert isinstance(auto.blocks[0].mixer, Ssd) and auto.blocks[0].mixer.head_dim == 2 * 4096 // 64
    with pytest.raises(HwsimError) as err:
        from_hf_dict({**_cfg(BAMBA), "mamba_d_head": 32})
    assert err.value.field == "mamba_n_heads"
    with pytest.raises(HwsimError) as err:
        from_hf_dict({**_cfg(BAMBA), "attn_layer_indices": [40]})
    assert err.value.field == "attn_layer_indices"


def test_granite_h_moe_and_dense_variants():
    """GraniteMoeHybrid: layer_types' legacy "mamba" / "attention" (remapped on load), NoPE attention unless
    position_embedding_type is "rope", routed gated experts beside the always-on shared_mlp; with
    num_local_experts 0 the shared_mlp alone is the layer's MLP, stored as the fused input_linear (gate then up)."""
    from hwsim.workload.tensor_map import index_tensors, locate

    cfg = _cfg(GRANITE_H)
    m = load_model(GRANITE_H)
    assert [i for i, b in enumerate(m.blocks) if isinstance(b.mixer, Attention)] == [5, 15, 25, 35]
    assert not any(b.mixer.rotary for b in m.blocks if isinstance(b.mixer, Attention))
    mlp = m.blocks[0].mlp
    assert mlp is not None and (mlp.experts, mlp.top_k, mlp.intermediate, mlp.shared) == (64, 6, 512, 1024)
    renamed = {
        **cfg,
        "layer_types": ["full_attention" if t == "attention" else "linear_attention" for t in cfg["layer_types"]],
    }
    assert from_hf_dict(renamed).blocks == m.blocks
    roped = from_hf_dict({**cfg, "position_embedding_type": "rope"})
    assert all(b.mixer.rotary for b in roped.blocks if isinstance(b.mixer, Attention))
    dense = from_hf_dict({**cfg, "num_local_experts": 0})
    d = dense.blocks[0].mlp
    assert d is not None and (d.experts, d.intermediate, d.gated) == (1, 1024, True)
    assert m.params - dense.params == 40 * (64 * 1536 + 64 * 3 * 512 * 1536)
    index = index_tensors(
        ["model.layers.0.shared_mlp.input_linear.weight", "model.layers.0.shared_mlp.output_linear.weight"]
    )
    assert [locate(dense, index, 0, r)[0].rows for r in ("gate_proj", "up_proj", "down_proj")] == [
        (0, 1024),
        (1024, 2048),
        None,
    ]
    with pytest.raises(HwsimError) as err:
        from_hf_dict({**cfg, "layer_types": ["mamba"] * 39 + ["cross"]})
    assert err.value.field == "layer_types"


def test_jamba_layout_and_its_mamba_norms():
    """Jamba-v0.1: attention (no positional embedding) on layers 4, 12, 20, 28; MoE (16 experts, top-2) on odd
    layers; Mamba-1 elsewhere with RMSNorms on dt (256), B and C (16 each): 288 weights more per Mamba layer
    than plain Mamba; its state is fixed, its 4 attention layers' K/V grows."""
    from dataclasses import replace

    m = load_model(JAMBA)
    assert [i for i, b in enumerate(m.blocks) if isinstance(b.mixer, Attention)] == [4, 12, 20, 28]
    assert [i for i, b in enumerate(m.blocks) if b.mlp is not None and b.mlp.is_moe] == list(range(1, 32, 2))
    mix = m.blocks[0].mixer
    assert (
        mix.bcdt_norms and mix.other_params("rmsnorm") - replace(mix, bcdt_norms=False).other_params("rmsnorm") == 288
    )
    ops = trace(m, "decode", context=50).ops
    assert (ops["name"] == "layers.0.bcdt_norm").sum() == 1 and not (ops["op"] == "rope").any()
    assert kv.token_elems(m.blocks) == 4 * 8 * 128 * 2
    with pytest.raises(HwsimError) as err:
        from_hf_dict({**_cfg(JAMBA), "attn_layer_offset": 8})
    assert err.value.field == "attn_layer_offset"


@pytest.mark.parametrize(
    "name",
    [
        "mamba-130m-hf.json",
        "mamba-codestral-7b-v0.1.json",
        "jamba-v0.1.json",
        "granite-4.0-h-tiny.json",
        "falcon-h1-1.5b-base.json",
        "qwen3-next-80b-a3b-instruct.json",
        "qwen3.5-27b.json",
        "qwen3.5-35b-a3b.json",
        "kimi-linear-48b-a3b-instruct.json",
        "lfm2-1.2b.json",
        "lfm2-8b-a1b.json",
        "minimax-text-01.json",
    ],
)
def test_a_decode_step_of_an_ssm_model_costs_its_batched_trace(name):
    """Serving's step-cost basis is exact for the SSM rows (their state read every step, the one-token form's
    rows named apart), so a decode iteration of n sequences costs what the batch-n decode trace does (before,
    the rows were not polynomial in the shape and each sequence was costed alone: mamba-130m 2.6x the trace)."""
    from hwsim.engine import evaluate
    from hwsim.serve.parallel import machine_cost

    m = load_model(CONFIGS / name)
    arch = load_arch("h100-sxm")
    sc = machine_cost(arch, m, Precision(), None, None)
    assert sc.polynomial["context"]
    got = float(sc.iteration(np.ones(16, dtype=np.int64), np.full(16, 300), 16).seconds)
    want = evaluate(arch, trace(m, "decode", batch=16, context=300), Precision()).ops["seconds"].sum()
    assert got == pytest.approx(want, rel=1e-9)


def test_falcon_h1_runs_attention_and_mamba2_side_by_side():
    """Falcon-H1: every layer holds GQA attention (rotary) and a Mamba-2 mixer of mamba_d_ssm channels on the same
    normed input; its cache is both, K/V growing and the state fixed; without mamba_rms_norm the mixer's output is
    only gated (no norm weights), with it the gated RMSNorm adds d_ssm weights per layer; projectors_bias gives
    out_proj a bias apart from in_proj; tensor parallelism refuses it in one line."""
    from hwsim.serve.shard import Parallel, shard_model

    cfg = json.loads((CONFIGS / "falcon-h1-1.5b-base.json").read_text())
    m = from_hf_dict(cfg)
    layer = m.blocks[0]
    assert isinstance(layer.mixer, Attention) and layer.mixer.rotary and isinstance(layer.ssm, Ssd)
    assert layer.ssm.d_inner == 3072 and not layer.ssm.gated_norm
    names = set(trace(m, "decode", context=10).ops["name"].str.split(".", n=2).str[2])
    assert {"q_proj", "in_proj", "ssd.readout", "ssd_gate", "ssm_residual", "mlp.gate_proj"} <= names
    assert kv.token_elems(m.blocks) == 24 * 2 * 128 * 2
    assert kv.state_elems(m.blocks) == 24 * layer.ssm.state_elems
    normed = from_hf_dict({**cfg, "mamba_rms_norm": True})
    assert normed.params - m.params == 24 * 3072
    biased = from_hf_dict({**cfg, "projectors_bias": True})
    assert biased.params - m.params == 24 * 2048
    with pytest.raises(HwsimError, match="tensor parallelism"):
        shard_model(m, Parallel(tp=2))
