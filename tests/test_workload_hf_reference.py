"""hwsim against transformers (tests/data/hf_reference.json, made by tests/tools/hf_reference.py with
transformers 5.25 + torch 2.13 on the meta device and, for MACs, seeded tiny configs on CPU; no torch here)."""

import json
from pathlib import Path

import pytest

from hwsim.workload import from_hf_dict, load_model, trace
from hwsim.workload.blocks import DeltaNet, Lightning, ShortConv, Ssd, Ssm

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "data" / "hf_reference.json").read_text())["types"]
MIXER_OPS = {
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "qk",
    "av",
    "q_a_proj",
    "q_b_proj",
    "kv_a_proj",
    "kv_b_proj",
    "in_proj",
    "x_proj",
    "dt_proj",
    "out_proj",
    "ssd_cb",
    "ssd_diag",
    "ssd_states",
    "ssd_off",
    "ssd_readout",
    "in_proj_qkvz",
    "in_proj_ba",
    "in_proj_qkv",
    "in_proj_z",
    "in_proj_b",
    "in_proj_a",
    "gdn_kkt",
    "gdn_wy",
    "gdn_diag",
    "gdn_off",
    "gdn_states",
    "indexer_wq_b",
    "indexer_wk",
    "indexer_weights_proj",
    "index_qk",
    "index_reduce",
    "qkv_proj",
    "output_gate",
    "lin_intra_qk",
    "lin_intra_av",
    "lin_inter",
    "lin_states",
    "lin_readout",
    "attn_gate_proj",  # AFMoE's attention output gate
    "q_adapter_down",  # Zamba2's attention adapters (its shared block's self_attn)
    "q_adapter_up",
    "k_adapter_down",
    "k_adapter_up",
    "v_adapter_down",
    "v_adapter_up",
}


def test_every_type_has_a_mac_reference():
    """The generator's tiny runs succeed for every type (a failure is recorded as tiny_error)."""
    assert {t: REF[t].get("tiny_error") for t in REF if "tiny" not in REF[t]} == {}


@pytest.mark.parametrize("model_type", sorted(REF))
def test_parameter_count_equals_transformers(model_type):
    ref = REF[model_type]
    assert load_model(ROOT / ref["source"]).params == ref["params"]


# Gemma-4's per-layer input projections: modules of the decoder layer itself, in none of the reference's groups
OTHER_OPS = {"per_layer_input_gate", "per_layer_projection", "block_out"}  # Zamba2's hybrid `linear` too


def _groups(ops) -> dict:
    lin = ops[(ops["macs"] > 0) & ~ops["op"].isin(OTHER_OPS)]
    mixer = lin["op"].isin(MIXER_OPS) & (lin["layer"] >= 0)
    return {
        "mixer": int(lin.loc[mixer, "macs"].sum()),
        "lm_head": int(lin.loc[lin["op"] == "lm_head", "macs"].sum()),
        "mlp": int(lin.loc[~mixer & (lin["layer"] >= 0), "macs"].sum()),
    }


def _ssm_vector_macs(m, batch: int, tokens: int, positions: int) -> int:
    """Multiplies HF's reference Mamba-1 path (transformers 5.25 modeling_mamba / modeling_jamba, no causal_conv1d
    / mamba_ssm kernels) runs as conv1d / matmul, which FlopCounterMode counts and hwsim puts on the vector units
    instead (its conv and scan rows carry vector_ops, macs 0): the depthwise conv1d, d_inner × d_conv per output
    position, and the scan read-out y = C·h, a matmul of d_inner × d_state per token. `positions`: the conv's
    output positions per channel: a prefill, padded by d_conv - 1, evaluates seq + d_conv - 1; mamba's pinned
    decode reference ran on a fresh cache (the tool passed past_key_values, which MambaForCausalLM ignores), a
    d_conv window padded: 2·d_conv - 1; Jamba's decode continues the prefill's cache (causal_conv1d_update over
    the cached d_conv inputs and the new one, unpadded): 2."""
    out = 0
    for layer in m.blocks:
        mix = layer.mixer
        if isinstance(mix, Ssm):
            out += batch * mix.d_inner * mix.d_conv * positions
            out += batch * tokens * mix.d_inner * mix.d_state
    return out


def _depthwise_conv_macs(channels: int, d_conv: int, batch: int, tokens: int, decode: bool) -> int:
    """HF's causal depthwise conv1d (transformers 5.25 causal_conv1d_fn / causal_conv1d_update, torch path), which
    FlopCounterMode counts and hwsim puts on the vector units: d_conv taps per output position and channel, at
    t + d_conv - 1 positions in a prefill (padded by d_conv - 1), 2 in decode (the cached d_conv inputs and the new
    one, unpadded)."""
    return batch * channels * d_conv * (2 if decode else tokens + d_conv - 1)


def _short_conv_reference_extra(m, batch: int, tokens: int, decode: bool) -> int:
    """LFM2's gated short convolution (transformers 5.25 modeling_lfm2): its depthwise conv (hwsim: vector ops), per
    conv layer; in_proj and out_proj are linears on both sides."""
    return sum(
        _depthwise_conv_macs(layer.mixer.width, layer.mixer.d_conv, batch, tokens, decode)
        for layer in m.blocks
        if isinstance(layer.mixer, ShortConv)
    )


def _lightning_reference_extra(m, batch: int, decode: bool) -> int:
    """MiniMax's lightning attention (transformers 5.25 modeling_minimax, torch path): a prefill of whole blocks is
    hwsim's four block products exactly; in decode HF forms the state's update kᵀ·v as a matmul (head_dim² per head),
    which hwsim counts as vector ops (lightning.update), beside the read-out q·kv both count."""
    if not decode:
        return 0
    return sum(batch * x.heads * x.head_dim**2 for x in (layer.mixer for layer in m.blocks) if isinstance(x, Lightning))


def _ssd_reference_extra(m, batch: int, tokens: int, decode: bool) -> int:
    """What HF's torch path for Mamba-2 (transformers 5.25 modeling_mamba2 / nemotron_h, no mamba_ssm kernels)
    counts beyond hwsim's SSD rows, per Mamba-2 layer:
    - the depthwise conv1d over x|B|C (on the vector units in hwsim, as for Mamba-1): in a prefill padded by
      d_conv - 1, t + d_conv - 1 output positions; in decode causal_conv1d_update, the cached d_conv inputs and
      the new one unpadded, 2 output positions;
    - in a prefill, C·Bᵀ per head (HF repeats B and C over the heads of a group; hwsim counts it once per group,
      as the mamba_ssm kernel does) and the chunk-to-chunk state passing, which HF runs as an einsum over a
      (chunks+1)² decay matrix and hwsim as a sequential scan of vector ops.
    Decode is the recurrence on both sides (HF selective_state_update: its bmm is hwsim's ssd_readout)."""
    out = 0
    for mix in [layer.mixer for layer in m.blocks] + [layer.ssm for layer in m.blocks]:  # Falcon-H1: ssm beside
        if not isinstance(mix, Ssd):
            continue
        H, P, N, G = mix.heads, mix.head_dim, mix.d_state, mix.groups
        out += _depthwise_conv_macs(mix.conv_dim, mix.d_conv, batch, tokens, decode)
        if not decode:  # whole chunks (the tiny run's 12 tokens in chunks of 4): hwsim's per-token chunk width is exact
            q = mix.chunk
            assert tokens % q == 0
            c = tokens // q
            out += batch * (c + 1) ** 2 * H * P * N + batch * c * (H - G) * q * q * N
    return out


def _gdn_reference_extra(m, batch: int, tokens: int, decode: bool) -> int:
    """What HF's torch path for the Gated DeltaNet (transformers 5.25 modeling_qwen3_next, no fla / causal_conv1d
    kernels) counts beyond hwsim's rows, per DeltaNet layer: the depthwise conv1d over q|k|v (vector ops in hwsim)
    at t + d_conv - 1 output positions in a prefill, 2 in decode (as Mamba-2's); less, in a prefill, the UT
    transform's products T·(β·K·decay) and T·(β·V) (hwsim's gdn_wy rows), which HF runs as
    torch.linalg.solve_triangular, a call torch's FLOP counter does not count. The tiny prefill is one whole chunk
    of 64 tokens (HF pads to whole chunks; hwsim counts each token at the full chunk width). Decode is the
    recurrence on both sides: elementwise products in HF (no MACs), hwsim's gdn.update vector row."""
    out = 0
    for layer in m.blocks:
        mix = layer.mixer
        if not isinstance(mix, DeltaNet):
            continue
        out += _depthwise_conv_macs(mix.conv_dim, mix.d_conv, batch, tokens, decode)
        if not decode:
            assert tokens % mix.chunk == 0
            out -= batch * tokens * mix.v_heads * mix.chunk * (mix.head_k + mix.head_v)
    return out


EXPERTS_SEEN = ("dbrx",)  # MoE types whose experts HF's FLOP counter sees (the MLP group compared too)


@pytest.mark.parametrize("model_type", sorted(t for t in REF if "tiny" in REF[t]))
def test_macs_per_group_equal_transformers(model_type):
    """Prefill (logits on every token) and one decode step after it. The MLP group is compared for dense
    models only (and DBRX's): transformers 5 runs stacked experts through kernels its FLOP counter does not see.
    MLA (deepseek) is traced in mode "latent", transformers 5's form: the cache holds the normed latent + rope
    key and kv_b_proj up-projects the whole cached span again every step (DeepseekV2Attention.expand_kv after
    cache.update). hwsim's default "absorbed" decode folds kv_b_proj into the query and output instead (same
    result, different MACs), and "expanded" caches the up-projected K/V (transformers 4), so neither is HF 5's
    count. Mamba: the mixer adds _ssm_vector_macs to hwsim's projections; Mamba-2: _ssd_reference_extra to
    hwsim's projections and SSD rows; Gated DeltaNet: _gdn_reference_extra; LFM2's short convolution:
    _short_conv_reference_extra; MiniMax's lightning attention: _lightning_reference_extra."""
    tiny = REF[model_type]["tiny"]
    m = from_hf_dict(dict(tiny["config"]))
    b, s = tiny["batch"], tiny["seq"]
    pre = _groups(trace(m, "prefill", batch=b, seq=s, logits="all", mla="latent").ops)
    dec = _groups(trace(m, "decode", batch=b, context=s, mla="latent").ops)
    d_conv = max((layer.mixer.d_conv for layer in m.blocks if isinstance(layer.mixer, Ssm)), default=0)
    pre["mixer"] += _ssm_vector_macs(m, b, s, s + d_conv - 1)
    dec["mixer"] += _ssm_vector_macs(m, b, 1, 2 * d_conv - 1 if model_type == "mamba" else 2)
    pre["mixer"] += _ssd_reference_extra(m, b, s, decode=False)
    dec["mixer"] += _ssd_reference_extra(m, b, 1, decode=True)
    pre["mixer"] += _gdn_reference_extra(m, b, s, decode=False)
    dec["mixer"] += _gdn_reference_extra(m, b, 1, decode=True)
    dec["mixer"] += _lightning_reference_extra(m, b, decode=True)
    pre["mixer"] += _short_conv_reference_extra(m, b, s, decode=False)
    dec["mixer"] += _short_conv_reference_extra(m, b, 1, decode=True)
    # DBRX's experts are plain matmuls on per-expert views of its flat w1 / v1 / w2: the counter sees them
    keys = ("mixer", "lm_head") if m.is_moe and model_type not in EXPERTS_SEEN else ("mixer", "lm_head", "mlp")
    assert {k: pre[k] for k in keys} == {k: tiny["prefill_macs"][k] for k in keys}
    assert {k: dec[k] for k in keys} == {k: tiny["decode_macs"][k] for k in keys}


@pytest.mark.parametrize("model_type", sorted(t for t in REF if "tiny" in REF[t]))
def test_clamps_and_query_scales_equal_transformers(model_type):
    """Elements of the elementwise ops in HF's attention forward that hwsim prices on rows of their own
    (the reference's ElementCounter): clip_qkv's clamps (OLMoE's three on q, k and v after their norms, DBRX's one
    on the fused Wqkv output; olmoe_clip is OLMoE's tiny run with clip_qkv 8) and the multiply of the queries by a
    factor per position (Ministral-3's get_llama_4_attn_scale, Llama-4's NoPE layers' attn_temperature_tuning), and
    ALiBi's bias added to every score (MPT; in hwsim's softmax row, one op a score); every other type has none of
    them, on both sides. Prefill and decode."""
    tiny = REF[model_type]["tiny"]
    m = from_hf_dict(dict(tiny["config"]))
    b, s = tiny["batch"], tiny["seq"]
    alibi = [i for i, layer in enumerate(m.blocks) if layer.attention is not None and layer.attention.alibi]
    for phase, tr in (
        ("prefill_macs", trace(m, "prefill", batch=b, seq=s, logits="all")),
        ("decode_macs", trace(m, "decode", batch=b, context=s)),
    ):
        ops = tr.ops
        elems = ops["m"] * ops["n"] * ops["count"]
        scores = ops[(ops["op"] == "softmax") & ops["layer"].isin(alibi)]
        got = {
            "clamp": int(elems[ops["op"] == "clamp"].sum()),
            "token_scale": int(elems[ops["name"].str.endswith("query_scale")].sum()),
            "score_bias": int((scores["m"] * scores["n"]).sum()),
        }
        assert got == tiny[phase].get("elements", {"clamp": 0, "token_scale": 0, "score_bias": 0}), phase


def test_ssd_decode_is_the_recurrence():
    """Mamba-2 decode: one state read-out per head (HF selective_state_update's bmm, heads × head_dim × d_state
    per sequence) and no chunked products; the state (heads × head_dim × d_state + the conv window) is read and
    written, and the cache does not grow with the context."""
    m = from_hf_dict(dict(REF["mamba2"]["tiny"]["config"]))
    mix = m.blocks[0].mixer
    assert isinstance(mix, Ssd)
    ops = trace(m, "decode", batch=3, context=40).ops
    layer0 = ops[ops["layer"] == 0]
    assert set(layer0["op"]) & {"ssd_cb", "ssd_diag", "ssd_states", "ssd_off"} == set()
    assert layer0.loc[layer0["op"] == "ssd_readout", "macs"].sum() == 3 * mix.heads * mix.head_dim * mix.d_state
    state = 3 * (mix.heads * mix.head_dim * mix.d_state + mix.conv_dim * (mix.d_conv - 1))
    assert (layer0["kv_read_elems"].sum(), layer0["kv_write_elems"].sum()) == (state, state)
    short, long = (trace(m, "decode", batch=3, context=c).kv_cache_bytes(16) for c in (10, 10_000))
    assert short == long == m.layers * state * 2


def test_mla_modes_differ_only_in_decode_kv_b_proj():
    """On the tiny DeepSeek-V2 config: prefill is the same computation in every mode; in decode "latent"
    up-projects batch × span latents where "expanded" up-projects the batch's new tokens only, and "absorbed"
    has no kv_b_proj at all (q_absorb / v_up instead)."""
    tiny = REF["deepseek_v2"]["tiny"]
    m = from_hf_dict(dict(tiny["config"]))
    b, s = tiny["batch"], tiny["seq"]
    pre = {
        mode: trace(m, "prefill", batch=b, seq=s, mla=mode).ops["macs"].sum()
        for mode in ("latent", "expanded", "absorbed")
    }
    assert len(set(pre.values())) == 1
    rows = {
        mode: trace(m, "decode", batch=b, context=s, mla=mode).ops.query("op == 'kv_b_proj'")["m"].unique()
        for mode in ("latent", "expanded", "absorbed")
    }
    assert [list(rows["latent"]), list(rows["expanded"]), list(rows["absorbed"])] == [[b * (s + 1)], [b], []]
    cache = {mode: trace(m, "decode", batch=b, context=s, mla=mode).kv_cache_bytes(16) for mode in rows}
    assert cache["latent"] == cache["absorbed"] == 4 * b * (s + 1) * (32 + 8) * 2  # 4 layers, latent + rope key


@pytest.mark.parametrize("model_type", sorted(t for t in REF if "wrapper" in REF[t]))
def test_a_wrapper_is_traced_as_its_language_model(model_type):
    """gemma3 / llama4 / mistral3 / qwen2_vl / qwen2_5_vl configs: hwsim counts the language model, which equals transformers'
    text model class built from text_config (test_parameter_count_equals_transformers; Qwen2-VL's and Qwen2.5-VL's text
    configs have no causal-LM class, its reference is the wrapper's count) and the whole wrapper less its vision encoder and
    projector, except where transformers 5.25 ties the wrapper's LM head and the text class
    does not: Mistral3Config defaults tie_word_embeddings to true at the top level, which Mistral-Small-3.1's
    config.json (4.50-era, an untied checkpoint with its own lm_head) does not set; hwsim follows text_config."""
    ref = REF[model_type]
    m = load_model(ROOT / ref["source"])
    wrapper = ref["wrapper"]
    assert wrapper["params"] > wrapper["language_model"]  # the vision encoder and projector, not traced
    tied_by_wrapper_only = model_type == "mistral3"
    assert not (tied_by_wrapper_only and m.tie_embeddings)
    assert wrapper["language_model"] == m.params - (m.vocab * m.hidden if tied_by_wrapper_only else 0)
