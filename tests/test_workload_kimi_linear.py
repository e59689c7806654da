"""kimi_linear (Kimi-Linear-48B-A3B): Kimi Delta Attention layers (hwsim.workload.blocks.DeltaNet with a decay per
key channel) interleaved with MLA layers, a DeepSeek-V3 MoE after a dense first layer.

Sources: parameter counts, layer types and tensor names/shapes are transformers 5.25 (KimiLinearForCausalLM on the
meta device, torch 2.13), pinned in tests/data/kimi_linear_reference.json by tests/tools/kimi_linear_reference.py;
the mixer's structure is HF's KimiLinearDeltaAttention and the Kimi Linear report (arXiv:2510.26692, §3)."""

import json
from pathlib import Path

import pytest

from hwsim.errors import HwsimError
from hwsim.workload import from_hf_dict, kv, load_model, trace
from hwsim.workload.blocks import Attention, DeltaNet
from hwsim.workload.tensor_map import match_checkpoint

DATA = Path(__file__).parent / "data"
KIMI = DATA / "hf_configs" / "kimi-linear-48b-a3b-instruct.json"
REF = json.loads((DATA / "kimi_linear_reference.json").read_text())
TINY = REF["tiny"]["config"]


def _kinds(m) -> list[str]:
    return ["linear_attention" if isinstance(b.mixer, DeltaNet) else "full_attention" for b in m.blocks]


def test_kimi_linear_params_and_layers_equal_transformers():
    """49,122,675,072 parameters (transformers 5.25 on meta; the card says 48B total, 3B active): MLA on 1-indexed
    layers 4, 8, ..., 24, 27 from linear_attn_config, a dense first layer. Active per token 3.48B (hwsim's count
    with both embedding tables: 8 + 1 of 256 experts)."""
    m = load_model(KIMI)
    assert m.model_type == "kimi_linear" and m.params == REF["flagship"]["params"] == 49_122_675_072
    assert _kinds(m) == REF["flagship"]["layer_types"]
    assert [b.mlp.is_moe for b in m.blocks] == [t == "sparse" for t in REF["flagship"]["mlp_layer_types"]]
    assert m.active_params_per_token == 3_484_453_248
    assert trace(m, "decode", batch=1, context=8).totals()["params"] == m.params


def test_tiny_kimi_linear_params_and_checkpoint_names_equal_transformers():
    """301,864 parameters and every linear of the tiny model found in the names transformers builds (KDA's
    q/k/v/o_proj, forget_gate.f_a/f_b_proj, b_proj, g_a/g_b_proj; MLA's q_proj, kv_a_proj_with_mqa, kv_b_proj)."""
    m = from_hf_dict(dict(TINY))
    assert m.params == REF["tiny"]["params"] == 301_864
    assert _kinds(m) == REF["tiny"]["layer_types"]
    rows = match_checkpoint(m, {k: tuple(v) for k, v in REF["tiny"]["state_dict"].items()})
    # KDA 9 linears (x2), MLA 4 (x2), dense MLP 3, three MoE layers of router + 3 stacked + 3 shared
    assert len(rows) == 50 and all(r["ok"] for r in rows)


def test_kda_layout():
    """KDA's widths: q/k/v_proj of heads × head_dim, the forget and output gates of rank head_dim, β per head; conv
    over q|k|v without bias, dt_bias per key channel, A_log per head, one head_dim norm weight. MLA without q LoRA
    and without rotary (HF applies none)."""
    m = load_model(KIMI)
    kda, mla = m.blocks[0].mixer, m.blocks[3].mixer
    assert isinstance(kda, DeltaNet) and kda.channel_decay and isinstance(mla, Attention)
    assert {r: (lin.k, lin.n) for r, lin in kda.linears(2304).items()} == {
        "q_proj": (2304, 4096),
        "k_proj": (2304, 4096),
        "v_proj": (2304, 4096),
        "f_a_proj": (2304, 128),
        "f_b_proj": (128, 4096),
        "b_proj": (2304, 32),
        "g_a_proj": (2304, 128),
        "g_b_proj": (128, 4096),
        "o_proj": (4096, 2304),
    }
    assert kda.other_params("rmsnorm") == 3 * 4096 * 4 + 4096 + 32 + 128
    assert not mla.rotary and "q_proj" in mla.linears(2304) and mla.mla.kv_lora_rank == 512
    mlp = m.blocks[1].mlp
    assert (mlp.experts, mlp.top_k, mlp.intermediate, mlp.shared) == (256, 8, 1024, 1024)
    assert m.blocks[0].mlp.intermediate == 9216


def test_default_placement_and_transformers_field_names():
    """Without layer lists, HF's default placement (MLA on i > 0, i % 4 == 0); transformers' own field names read
    as the hub's."""
    cfg = {k: v for k, v in TINY.items() if k != "linear_attn_config"}
    m = from_hf_dict({**cfg, "num_hidden_layers": 9, "linear_num_heads": 4, "linear_head_dim": 16})
    assert [i for i, k in enumerate(_kinds(m)) if k == "full_attention"] == [4, 8]
    renamed = {k: v for k, v in TINY.items() if k not in ("num_experts", "num_experts_per_token")}
    m2 = from_hf_dict({**renamed, "num_local_experts": 8, "num_experts_per_tok": 2})
    assert m2.params == REF["tiny"]["params"]


def test_kimi_linear_cache_is_mla_latent_plus_the_kda_state():
    """7 MLA layers cache the latent (512 + 64 per token: HF 5.25's KimiLinearAttention caches the normed latent and
    the unrotated rope key, cache.update(kv_nope, k_rot)); 20 KDA layers keep 32 × 128 × 128 per sequence plus the
    conv window (3 of 12,288 channels), whatever the context."""
    m = load_model(KIMI)
    assert kv.token_elems(m.blocks) == 7 * (512 + 64)
    assert kv.state_elems(m.blocks) == 20 * (32 * 128 * 128 + 12288 * 3)


def test_channel_decay_costs_more_gates_than_a_head_decay_with_the_same_products():
    """The same chunk products as a Gated DeltaNet of the same widths; the scan row (prefill) and update row
    (decode) carry the per-channel decay's extra vector ops: softplus and scale per key channel instead of per head,
    the exp per channel, the decayed q and k (assumed counts, blocks.DeltaNet / layer_ops.delta_net)."""
    m = from_hf_dict(dict(TINY))
    kda = m.blocks[0].mixer
    gdn = DeltaNet(kda.k_heads, kda.v_heads, kda.head_k, kda.head_v, kda.d_conv)
    from hwsim.workload.layer_ops import VECTOR_OPS

    def rows(mixer, phase, **kw):
        model = from_hf_dict(dict(TINY))
        object.__setattr__(model.blocks[0], "mixer", mixer)
        ops = trace(model, phase, **kw).ops.query("layer == 0")
        return dict(zip(ops["op"], ops["macs"])), dict(zip(ops["name"].str.split(".", n=2).str[2], ops["vector_ops"]))

    (km, kv_), (gm, gv) = rows(kda, "prefill", batch=2, seq=64), rows(gdn, "prefill", batch=2, seq=64)
    for op in ("gdn_kkt", "gdn_wy", "gdn_diag", "gdn_off", "gdn_states"):
        assert km[op] == gm[op] > 0
    M, H, kd = 2 * 64, kda.v_heads, kda.key_dim
    extra = (VECTOR_OPS["softplus"] + 2) * M * (kd - H) + (VECTOR_OPS["exp"] + 2) * M * kd
    assert kv_["gdn.scan"] - gv["gdn.scan"] == extra
    (_, kd_), (_, gd) = rows(kda, "decode", batch=3, context=40), rows(gdn, "decode", batch=3, context=40)
    M = 3
    extra = (VECTOR_OPS["softplus"] + 2) * M * (kd - H) + (VECTOR_OPS["exp"] + 2) * M * kd
    assert kd_["gdn.update"] - gd["gdn.update"] == extra


def test_bad_kimi_linear_configs_are_one_line():
    lin = TINY["linear_attn_config"]
    for change, field in (
        ({"linear_attn_config": {**lin, "full_attn_layers": [2, 3]}}, "linear_attn_config"),
        ({"linear_attn_config": [1, 2]}, "linear_attn_config"),
        ({"linear_attn_config": {**lin, "num_heads": 0}}, "num_heads"),
        ({"linear_attn_config": None, "layer_types": ["linear_attention", "mamba"] * 2}, "layer_types"),
    ):
        with pytest.raises(HwsimError) as err:
            from_hf_dict({**TINY, **change})
        assert err.value.field == field and "\n" not in str(err.value)


def test_kimi_linear_refuses_tensor_parallelism_in_one_line():
    from hwsim.serve.shard import Parallel, shard_model

    with pytest.raises(HwsimError, match="Kimi Delta Attention.*tensor parallelism"):
        shard_model(load_model(KIMI), Parallel(tp=2))


def test_a_misspelt_moe_field_read_through_the_renamed_view_is_named():
    """The MoE fields are read through a view with DeepSeek's names: a slip in one of them still warns."""
    from hwsim.errors import HwsimWarning

    cfg = dict(TINY)
    cfg["moe_intermediat_size"] = cfg.pop("moe_intermediate_size")
    with pytest.warns(HwsimWarning, match="did you mean moe_intermediate_size"):
        from_hf_dict(cfg)


def _rotary_twin(path):
    """The same model with DeepSeek's rotary MLA in place of Kimi's (every MLA layer's mixer, rotary=True)."""
    import dataclasses

    twin = load_model(path)
    for b in twin.blocks:
        if isinstance(b.mixer, Attention):
            object.__setattr__(b, "mixer", dataclasses.replace(b.mixer, rotary=True))
    return twin


@pytest.mark.parametrize("mla", kv.MLA_MODES)
@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_kimi_mla_has_no_rope_row_and_still_caches_the_rope_key(phase, mla):
    """HF's KimiLinearAttention (transformers 5.25) applies no rotary: kv_a_proj_with_mqa still yields the
    qk_rope_head_dim key (parameters as DeepSeek's), which cache.update stores unrotated beside the normed latent
    and expand_kv copies to every head. So an MLA layer has no rope row; its cache writes and reads are the rotary
    twin's (the rope key now written by kv_a_norm), and the step's vector ops drop by exactly the twin's rope rows."""
    m, twin = load_model(KIMI), _rotary_twin(KIMI)
    shape = {"seq": 48} if phase == "prefill" else {}
    got = trace(m, phase, batch=3, context=200, mla=mla, **shape).ops
    ref = trace(twin, phase, batch=3, context=200, mla=mla, **shape).ops
    assert not (got["op"] == "rope").any()
    rope = ref[ref["op"] == "rope"]
    assert len(rope) == 7 and len(ref) - len(got) == 7  # one per MLA layer, nothing else removed
    assert ref["vector_ops"].sum() - got["vector_ops"].sum() == rope["vector_ops"].sum()
    for col in ("kv_read_elems", "kv_write_elems", "macs", "weight_elems"):
        assert got[col].sum() == ref[col].sum()
    a, H, M = m.blocks[3].mixer.mla, m.blocks[3].mixer.heads, 3 * (48 if phase == "prefill" else 1)
    layer = got[got["layer"] == 3]
    per_token = a.kv_lora_rank + a.rope_dim if mla != "expanded" else H * (a.nope_dim + a.rope_dim + a.v_dim)
    assert layer["kv_write_elems"].sum() == M * per_token  # 512 + 64, or 32 × (128 + 64 + 128)


def test_serving_an_mla_of_kimi_runs_no_rope_row():
    """Serving's step basis (each form: batched decode, prompt chunks) holds no rope row either."""
    from hwsim.serve.basis import build_basis

    basis = build_basis(load_model(KIMI))
    names = {n for rs in (basis.token, basis.seq, basis.context, basis.one) if rs is not None for n in rs.names}
    assert "layers.3.kv_a_norm" in names and not {n for n in names if n.endswith(".rope")}


# column sums of DeepSeek traces (batch 2, context 100, prefill seq 64) from hwsim at 77aa6e2, before Kimi's MLA lost
# its rope row: the rotary MLA's rows must stay bit-identical
_DEEPSEEK = {
    ("deepseek-v2-lite", "decode", "absorbed"): (4997560320, 4883552, 5743552, 4763840, 5933952, 31104),
    ("deepseek-v2-lite", "prefill", "expanded"): (290245312512, 339918848, 322760704, 244097024, 45342720, 17694720),
    ("deepseek-v2-lite", "decode", "latent"): (16255162368, 4883552, 4886464, 26218688, 30689280, 31104),
    ("deepseek-v3.2-exp", "decode", "absorbed"): (76769953920, 34398148, 59228450, 46848802, 14983552, 85888),
    ("deepseek-v3.2-exp", "prefill", "latent"): (
        4947883753472,
        2548765696,
        2896724480,
        2740665344,
        828335104,
        5496832,
    ),
}


@pytest.mark.parametrize("key", list(_DEEPSEEK))
def test_deepseek_mla_keeps_its_rope_row_and_numbers(key):
    name, phase, mla = key
    shape = {"seq": 64} if phase == "prefill" else {}
    ops = trace(load_model(name), phase, batch=2, context=100, mla=mla, **shape).ops
    assert (ops["name"] == "layers.1.rope").any()
    cols = ("macs", "vector_ops", "act_in_elems", "act_out_elems", "kv_read_elems", "kv_write_elems")
    assert tuple(int(ops[c].sum()) for c in cols) == _DEEPSEEK[key]
