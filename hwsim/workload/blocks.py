"""A model is a stack of blocks: each layer is a token mixer (attention, an SSM: Mamba-1 `Ssm`, Mamba-2 `Ssd`, the
delta-rule linear attentions `DeltaNet` (Gated DeltaNet, Kimi Delta Attention), LFM2's gated short convolution
`ShortConv`, or MiniMax's lightning attention `Lightning`) and an optional MLP, or an MLP alone (hybrids such as
Nemotron-H).

Blocks are frozen dataclasses, so identical layers compare equal: the trace builder costs each distinct
layer once and tiles it. Each block lists its linear ops (role → in, out, bias, copies) and its other
parameters (norm weights, sinks, SSM tensors), the single source of parameter counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

# parameters per normalised element; "layernorm_weight": LayerNorm without a bias (Cohere)
# "layernorm_none": LayerNorm with neither weight nor bias (OLMo's OlmoLayerNorm)
NORM_PARAMS = {"rmsnorm": 1, "layernorm": 2, "layernorm_weight": 1, "layernorm_none": 0, "l2": 0}
# learned scalars of an activation, per MLP module: xIELU's alpha_p and alpha_n (Huang et al. 2024, arXiv:2411.13010;
# HF XIELUActivation, Apertus)
ACT_PARAMS = {"xielu": 2}


def qk_norm_kind(qk_norm: str) -> tuple[str, bool]:
    """(the norm, whether its weights are per head: one set per head and token position, as `_all` (one norm over
    all heads) and `_heads` (each head normed alone, with its own weights) both have)."""
    for suffix in ("_all", "_heads"):
        if qk_norm.endswith(suffix):
            return qk_norm.removesuffix(suffix), True
    return qk_norm, False


@dataclass(frozen=True)
class Linear:
    k: int  # in features
    n: int  # out features
    bias: bool = False
    copies: int = 1  # experts stored (a role shared by all routed experts)

    @property
    def params(self) -> int:
        return (self.k * self.n + (self.n if self.bias else 0)) * self.copies


# a low-rank adapter's two linears (Zamba2's per-layer LoRAs beside its shared block's projections): `<name>_adapter_down`
# (in → rank) and `<name>_adapter_up` (rank → out), its output added to the projection's
ADAPTER_PARTS = ("_adapter_down", "_adapter_up")


def adapter_linears(name: str, k: int, rank: int, n: int) -> dict[str, Linear]:
    return {name + "_adapter_down": Linear(k, rank), name + "_adapter_up": Linear(rank, n)}


@dataclass(frozen=True)
class Indexer:
    """DeepSeek Sparse Attention's lightning indexer (DeepSeek-V3.2-Exp, DeepSeek-AI 2025, "DeepSeek-V3.2-Exp:
    Boosting Long-Context Efficiency with DeepSeek Sparse Attention", §2.1; HF DeepseekV32Indexer): per query token
    `heads` small query heads of `head_dim` (wq_b, from the MLA's normed query latent), one key of `head_dim` per
    token shared by them (wk, then a LayerNorm with bias; rotary on its first qk_rope_head_dim channels) and a weight
    per head (weights_proj); a token's index score against each cached token is Σ_h w_h · relu(q_h · k), and the
    main attention reads only the `top_k` tokens of highest score. The indexer's keys are cached beside the latent.

    Formats, as DeepSeek's reference runs it whatever precision the rest of the model takes (DeepSeek-V3.2-Exp
    inference/model.py Indexer and kernel.py fp8_index; vLLM's DeepSeek-V3.2 indexer alike): q and k rotated, then
    quantized to fp8 e4m3 in blocks of 128 with an fp32 scale each (act_quant); the key cache holds the fp8 key and
    its fp32 scale (k_cache + k_scale_cache: 128 + 4 bytes a token at head_dim 128, vLLM's 132-byte
    DeepseekV32IndexerCache rows); the scores are fp8 GEMMs whose relu, per-head weighting and sum over heads run in
    fp32, and the logits the top-k reads are fp32. weights_proj is built in the default dtype (bf16) where the other
    linears take the checkpoint's fp8 (the reference's Linear(dtype=torch.get_default_dtype()); vLLM builds it with
    no quant_config), so a quantized checkpoint stores it unquantized."""

    KEY_FORMAT: ClassVar[str] = "fp8_e4m3_g128_sfp32"  # the cached key and the quantized query
    # its storage bits per element, an fp8 element + an fp32 scale per 128 (the workload layer reads no format
    # names; tests/test_workload_deepseek_v32.py checks KEY_FORMAT resolves to them)
    KEY_BITS: ClassVar[float] = 8 + 32 / 128
    SCORE_FORMAT: ClassVar[str] = "fp32"  # relu · weight summed over heads, the logits, the top-k's reads
    UNQUANTIZED: ClassVar[tuple[str, ...]] = ("indexer.weights_proj",)  # HF module names kept at the checkpoint dtype

    heads: int  # index_n_heads
    head_dim: int  # index_head_dim
    top_k: int  # index_topk
    # GLM-5's "shared" layers (HF GlmMoeDsaAttention, indexer_types): the attention reads the top_k tokens the
    # previous "full" layer's indexer chose, with no indexer of its own (no projections, key cache or scoring)
    reuse: bool = False

    def linears(self, hidden: int, q_lora_rank: int) -> dict[str, Linear]:
        if self.reuse:
            return {}
        return {
            "indexer_wq_b": Linear(q_lora_rank, self.heads * self.head_dim),
            "indexer_wk": Linear(hidden, self.head_dim),
            "indexer_weights_proj": Linear(hidden, self.heads),
        }


@dataclass(frozen=True)
class Mla:
    """DeepSeek multi-head latent attention (DeepSeek-V2 paper, arXiv:2405.04434, §2.1)."""

    q_lora_rank: int  # 0: a plain q_proj
    kv_lora_rank: int
    rope_dim: int  # qk_rope_head_dim (the decoupled rope key, shared by all heads)
    nope_dim: int  # qk_nope_head_dim
    v_dim: int
    indexer: Indexer | None = None  # DeepSeek Sparse Attention (DeepSeek-V3.2): each query reads top_k tokens


@dataclass(frozen=True)
class Attention:
    heads: int
    kv_heads: int
    head_dim: int  # query/key width per head (MLA: nope + rope)
    v_dim: int  # value width per head
    qkv_bias: bool = False
    o_bias: bool = False
    rotary: bool = True
    rotary_dim: int | None = None  # channels of each q/k head that rope rotates (partial_rotary_factor); None: all
    output_gate: bool = False  # Qwen3-Next: q_proj also yields a gate per head channel, output × sigmoid(gate)
    # AFMoE (HF AfmoeAttention): the same gate from a linear of its own (attn_gate_proj, hidden → heads × head_dim)
    gate_proj: bool = False
    # "rmsnorm" (per head, weights of head_dim each for q and k), "l2" (no weights), "rmsnorm_all" (OLMo-2:
    # over all heads at once, weights of q_dim and kv_dim) or "layernorm_weight_heads" (Command R+: per head,
    # each head its own weights: (heads, head_dim) for q, (kv_heads, head_dim) for k)
    qk_norm: str | None = None
    window: int | None = None  # sliding window: each query sees at most this many keys
    chunk: int | None = None  # chunked (local) attention: keys of the query's own chunk only
    sinks: bool = False  # one learned sink logit per head (gpt-oss)
    softcap: bool = False  # tanh soft-capping of the scores (Gemma-2)
    sub_norm: bool = False  # BitNet: RMSNorm before o_proj
    mla: Mla | None = None
    # Gemma-4 (HF Gemma4TextAttention): `v_norm` an RMSNorm without weights over each value head before the cache;
    # `k_eq_v` (attention_k_eq_v, its full-attention layers) no v_proj: the values are k_proj's output, normed apart
    # from the keys (v_norm, no rope), and cached as their own tensor as usual
    v_norm: bool = False
    k_eq_v: bool = False
    # Gemma-4 KV sharing (num_kv_shared_layers): no k_proj / v_proj / k_norm / v_norm; the layer attends over the
    # cache of the last earlier layer of its type and caches nothing of its own
    kv_reuse: bool = False
    # OLMo / OLMoE / DBRX (clip_qkv set): q, k and v clamped to ±clip_qkv after their projections (and OLMoE's q/k
    # norms), before rope and the cache
    clip_qkv: bool = False
    # the queries times a factor of their position: Ministral-3 (HF Ministral3Attention, after rope) 1 + β·log(1 +
    # floor(pos / original_max_position_embeddings)); Llama-4's NoPE layers under attn_temperature_tuning (HF
    # Llama4TextAttention) 1 + attn_scale·log1p(floor((pos + 1) / floor_scale))
    query_scale: bool = False
    # ALiBi (Press et al. 2022, arXiv:2108.12409; MPT): no rotary, a bias per head and key distance added to every
    # score (HF MptAttention: attention_scores + position_bias)
    alibi: bool = False
    # MiMo-V2-Flash (HF MiMoV2FlashAttention): the values times attention_value_scale before the cache
    value_scale: bool = False
    # Zamba2's shared attention (HF Zamba2Attention): q/k/v read `in_width` channels (the residual stream beside the
    # token embeddings, 2 × hidden; 0: hidden), and under use_shared_attention_adapter each of q, k and v adds a
    # low-rank adapter of its own per layer (down to adapter_rank, up to the projection's width: a LoRA in the base
    # model), its sum with the projection being what the cache stores
    in_width: int = 0
    adapter_rank: int = 0

    @property
    def limit(self) -> int | None:
        """Most keys a query attends to (window, chunk or a sparse attention's top-k), None when unbounded."""
        return self.window or self.chunk or (self.mla.indexer.top_k if self.mla and self.mla.indexer else None)

    @property
    def held(self) -> int | None:
        """Most tokens of a sequence this layer's cache holds (a window or chunk's ring buffer), None when every
        token stays cached (a sparse attention's top-k selects among all of them)."""
        return self.window or self.chunk

    def linears(self, hidden: int) -> dict[str, Linear]:
        h, H = hidden, self.heads
        if self.mla is not None:
            a = self.mla
            out = {}
            if a.q_lora_rank:
                out["q_a_proj"] = Linear(h, a.q_lora_rank, self.qkv_bias)
                out["q_b_proj"] = Linear(a.q_lora_rank, H * self.head_dim)
            else:
                out["q_proj"] = Linear(h, H * self.head_dim)
            out["kv_a_proj"] = Linear(h, a.kv_lora_rank + a.rope_dim, self.qkv_bias)
            out["kv_b_proj"] = Linear(a.kv_lora_rank, H * (a.nope_dim + a.v_dim))
            out["o_proj"] = Linear(H * a.v_dim, h, self.o_bias)
            if a.indexer is not None:
                out.update(a.indexer.linears(h, a.q_lora_rank))
            return out
        x = self.in_width or h
        out = {
            "q_proj": Linear(x, H * self.head_dim * (2 if self.output_gate else 1), self.qkv_bias),
            "k_proj": Linear(x, self.kv_heads * self.head_dim, self.qkv_bias),
            "v_proj": Linear(x, self.kv_heads * self.v_dim, self.qkv_bias),
            "o_proj": Linear(H * self.v_dim, h, self.o_bias),
        }
        if self.k_eq_v or self.kv_reuse:
            del out["v_proj"]
        if self.kv_reuse:
            del out["k_proj"]
        if self.gate_proj:
            out["attn_gate_proj"] = Linear(x, H * self.head_dim)
        if self.adapter_rank:
            for role in ("q_proj", "k_proj", "v_proj"):
                out.update(adapter_linears(role[0], x, self.adapter_rank, out[role].n))
        return out

    def other_params(self, norm: str) -> int:
        p = NORM_PARAMS[norm]
        extra = 0
        if self.qk_norm:
            kind, per_head = qk_norm_kind(self.qk_norm)
            kv_heads = 0 if self.kv_reuse else self.kv_heads  # a KV-sharing layer norms its queries only
            widths = (self.heads + kv_heads) * self.head_dim if per_head else (2 - self.kv_reuse) * self.head_dim
            extra = widths * NORM_PARAMS[kind]
        if self.sinks:
            extra += self.heads
        if self.sub_norm:
            extra += self.heads * self.v_dim * p
        if self.mla is not None:
            extra += (self.mla.q_lora_rank + self.mla.kv_lora_rank) * p
            if self.mla.indexer is not None and not self.mla.indexer.reuse:  # its key LayerNorm: weight and bias
                extra += self.mla.indexer.head_dim * NORM_PARAMS["layernorm"]
        return extra


@dataclass(frozen=True)
class Mlp:
    intermediate: int  # per routed expert (or of the dense MLP)
    gated: bool
    activation: str
    bias: bool = False
    experts: int = 1  # routed experts; 1 = dense
    top_k: int = 1
    shared: int = 0  # intermediate width of the always-on shared expert(s), 0 if none
    shared_gate: bool = False  # Qwen2-MoE: sigmoid gate Linear(hidden, 1) on the shared expert
    router_bias: bool = False
    sub_norm: bool = False  # BitNet: RMSNorm before down_proj
    # Gemma-4 (enable_moe_block; HF Gemma4TextDecoderLayer): the layer's dense MLP (`shared`, no gate) and the routed
    # experts side by side, the experts on their own pre-norm of the MLP's input, each output RMSNormed before the
    # two are summed; the router reads an RMSNorm without weights times a learned per-channel scale, and a learned
    # scale per expert multiplies the routing weights (3 norms + 1 scale of hidden, one weight per expert)
    dense_beside: bool = False
    # LongCat-Flash's zero-computation experts (zero_expert_num; Meituan, "LongCat-Flash Technical Report",
    # arXiv:2509.01322, §2.1; HF LongcatFlashMoE): the router scores experts + zero_experts and picks top_k of them; a
    # zero expert returns the token itself times its routing weight, so a token reaches routed_per_token real experts
    zero_experts: int = 0
    # Zamba2's shared MLP (HF Zamba2MLP): a low-rank adapter of its own per layer beside the fused gate_up projection
    adapter_rank: int = 0
    # A.X-K1 (HF AXK1MoE): an RMSNorm on the MoE block's output (hidden weights)
    out_norm: bool = False

    @property
    def is_moe(self) -> bool:
        return self.experts > 1

    @property
    def routed_per_token(self) -> float:
        """Real experts a token reaches on average: top_k, or with zero experts its share of them,
        top_k × experts / (experts + zero_experts) (assumed: the router balanced over every slot, as LongCat-Flash's
        expert bias is trained to keep the average; 8 of 12 at 512 experts and 256 zero ones)."""
        return self.top_k * self.experts / (self.experts + self.zero_experts)

    def expert_linears(self, hidden: int, width: int, copies: int = 1) -> dict[str, Linear]:
        out = {"gate_proj": Linear(hidden, width, self.bias, copies)} if self.gated else {}
        out["up_proj"] = Linear(hidden, width, self.bias, copies)
        out["down_proj"] = Linear(width, hidden, self.bias, copies)
        return out

    def linears(self, hidden: int) -> dict[str, Linear]:
        if not self.is_moe:
            out = self.expert_linears(hidden, self.intermediate)
            if self.adapter_rank:  # beside gate and up at once (Zamba2's gate_up_proj)
                width = (2 if self.gated else 1) * self.intermediate
                out.update(adapter_linears("gate_up", hidden, self.adapter_rank, width))
            return out
        out = {"router": Linear(hidden, self.experts + self.zero_experts, self.router_bias)}
        out.update(self.expert_linears(hidden, self.intermediate, self.experts))
        if self.shared:
            out.update({f"shared_{r}": lin for r, lin in self.expert_linears(hidden, self.shared).items()})
            if self.shared_gate:
                out["shared_gate"] = Linear(hidden, 1)
        return out

    def other_params(self, norm: str, hidden: int = 0) -> int:
        sub = self.intermediate * NORM_PARAMS[norm] if self.sub_norm else 0
        sub += ACT_PARAMS.get(self.activation, 0) + (hidden * NORM_PARAMS[norm] if self.out_norm else 0)
        return sub + ((3 * NORM_PARAMS[norm] + 1) * hidden + self.experts if self.dense_beside else 0)

    def idle_params(self, hidden: int) -> int:
        """Parameters of the routed experts one token does not use."""
        if not self.is_moe:
            return 0
        one = sum(lin.params for lin in self.expert_linears(hidden, self.intermediate).values())
        return round((self.experts - self.routed_per_token) * one)


@dataclass(frozen=True)
class Ssm:
    """Mamba (Gu & Dao 2023, arXiv:2312.00752) selective-scan mixer, as HF MambaMixer lays it out."""

    d_inner: int
    d_state: int
    d_conv: int
    dt_rank: int
    bias: bool = False
    conv_bias: bool = True
    bcdt_norms: bool = False  # Jamba: RMSNorms on dt (dt_rank), B and C (d_state each) after x_proj
    bcdt_weights: bool = True  # their weights (Falcon-Mamba's norms have none)

    def linears(self, hidden: int) -> dict[str, Linear]:
        e = self.d_inner
        return {
            "in_proj": Linear(hidden, 2 * e, self.bias),
            "x_proj": Linear(e, self.dt_rank + 2 * self.d_state),
            "dt_proj": Linear(self.dt_rank, e, True),
            "out_proj": Linear(e, hidden, self.bias),
        }

    def other_params(self, norm: str) -> int:
        e = self.d_inner
        norms = (self.dt_rank + 2 * self.d_state) * NORM_PARAMS[norm] if self.bcdt_norms and self.bcdt_weights else 0
        return e * self.d_conv + (e if self.conv_bias else 0) + e * self.d_state + e + norms  # conv1d, A_log, D

    @property
    def state_elems(self) -> int:
        """Recurrent state per sequence: the scan state plus the causal-conv window."""
        return self.d_inner * (self.d_state + self.d_conv - 1)


@dataclass(frozen=True)
class Ssd:
    """Mamba-2 mixer (Dao & Gu 2024, "Transformers are SSMs", arXiv:2405.21060, §7.1 and Figure 6), as HF
    Mamba2Mixer / NemotronHMamba2Mixer lay it out: in_proj → [z | x | B | C | dt] (x of heads × head_dim, B and C
    of n_groups × d_state, dt one per head), a causal depthwise conv1d over x|B|C, the SSD scan (scalar decay
    A per head, a d_state-wide state per head channel), a gated RMSNorm (RMSNorm(y · silu(z)), weight d_inner,
    normalised per group), out_proj."""

    heads: int
    head_dim: int
    d_state: int
    groups: int  # n_groups: B and C are shared by heads / groups heads each
    d_conv: int
    chunk: int  # chunk_size of the chunked SSD algorithm (§6)
    bias: bool = False  # in_proj / out_proj
    conv_bias: bool = True
    out_bias: bool | None = None  # out_proj's bias when it differs from in_proj's (Falcon-H1: projectors_bias)
    gated_norm: bool = True  # the gated RMSNorm (Falcon-H1 without mamba_rms_norm: y · silu(z), no norm)

    @property
    def d_inner(self) -> int:
        return self.heads * self.head_dim

    @property
    def conv_dim(self) -> int:
        """Channels the conv1d runs over: x, B and C."""
        return self.d_inner + 2 * self.groups * self.d_state

    def linears(self, hidden: int) -> dict[str, Linear]:
        e = self.d_inner
        return {
            "in_proj": Linear(hidden, e + self.conv_dim + self.heads, self.bias),
            "out_proj": Linear(e, hidden, self.bias if self.out_bias is None else self.out_bias),
        }

    def other_params(self, norm: str) -> int:
        conv = self.conv_dim * self.d_conv + (self.conv_dim if self.conv_bias else 0)
        # conv1d, dt_bias / A_log / D per head, gated-norm weight
        return conv + 3 * self.heads + (self.d_inner if self.gated_norm else 0)

    @property
    def state_elems(self) -> int:
        """Recurrent state per sequence: the SSM state (heads × head_dim × d_state) and the last d_conv - 1
        inputs of the conv (what vLLM's Mamba-2 cache keeps; HF's cache keeps d_conv)."""
        return self.d_inner * self.d_state + self.conv_dim * (self.d_conv - 1)


@dataclass(frozen=True)
class DeltaNet:
    """Gated delta-rule linear attention. `channel_decay` False: the Gated DeltaNet mixer (Yang, Kautz &
    Hatamizadeh 2024, "Gated Delta Networks: Improving Mamba2 with Delta Rule", arXiv:2412.06464), as HF
    Qwen3NextGatedDeltaNet lays it out: in_proj_qkvz → [q | k | v | z] (q and k of k_heads × head_k, v and the output
    gate z of v_heads × head_v), in_proj_ba → [β | a] (one each per value head), a causal depthwise conv1d without
    bias over q|k|v (SiLU), L2-normed q and k, the gated delta rule (β = sigmoid, decay g = −exp(A_log) ·
    softplus(a + dt_bias) per value head; each value head keeps a head_k × head_v state and shares q and k with the
    v_heads / k_heads heads of its group), an RMSNorm per head (head_v weights, shared) gated by silu(z), out_proj.
    `channel_decay` True: Kimi Delta Attention (Moonshot AI, "Kimi Linear: An Expressive, Efficient Attention
    Architecture", arXiv:2510.26692, §3; HF KimiLinearDeltaAttention), the same delta rule with a decay per key
    channel instead of per head: separate q_proj / k_proj / v_proj (k_heads = v_heads, head_k = head_v), the same
    conv, a low-rank forget gate f_b_proj(f_a_proj(x)) (rank head_k) + dt_bias per channel, softplus, × −exp(A_log)
    per head, β = sigmoid(b_proj(x)) per head, an output gate g_b_proj(g_a_proj(x)) (rank head_k) through a
    sigmoid-gated RMSNorm (head_v weights, shared), o_proj. `split`: Qwen3.5's layout of the Gated DeltaNet (HF
    Qwen3_5GatedDeltaNet), the same mixer with its input projections apart, in_proj_qkv → [q | k | v], in_proj_z → z,
    in_proj_b → β, in_proj_a → a (the same weights and products as in_proj_qkvz and in_proj_ba, in four GEMMs).
    `chunk`: the chunk length of the chunked algorithm (fla's chunk_gated_delta_rule / chunk_kda and HF's torch
    path: 64)."""

    k_heads: int
    v_heads: int
    head_k: int
    head_v: int
    d_conv: int
    chunk: int = 64
    channel_decay: bool = False  # KDA: decay per key channel, its own projections
    split: bool = False  # Qwen3.5: in_proj_qkv, in_proj_z, in_proj_b, in_proj_a instead of in_proj_qkvz, in_proj_ba

    @property
    def key_dim(self) -> int:
        return self.k_heads * self.head_k

    @property
    def value_dim(self) -> int:
        return self.v_heads * self.head_v

    @property
    def conv_dim(self) -> int:
        """Channels the conv1d runs over: q, k and v."""
        return 2 * self.key_dim + self.value_dim

    @property
    def decays(self) -> int:
        """Decay gates per token: one per value head (Gated DeltaNet) or per key channel (KDA)."""
        return self.key_dim if self.channel_decay else self.v_heads

    @property
    def out_role(self) -> str:
        return "o_proj" if self.channel_decay else "out_proj"

    def linears(self, hidden: int) -> dict[str, Linear]:
        if self.channel_decay:
            r = self.head_k  # the forget and output gates' rank (HF: linear_head_dim)
            return {
                "q_proj": Linear(hidden, self.key_dim),
                "k_proj": Linear(hidden, self.key_dim),
                "v_proj": Linear(hidden, self.value_dim),
                "f_a_proj": Linear(hidden, r),
                "f_b_proj": Linear(r, self.key_dim),
                "b_proj": Linear(hidden, self.v_heads),
                "g_a_proj": Linear(hidden, r),
                "g_b_proj": Linear(r, self.value_dim),
                "o_proj": Linear(self.value_dim, hidden),
            }
        if self.split:
            return {
                "in_proj_qkv": Linear(hidden, self.conv_dim),
                "in_proj_z": Linear(hidden, self.value_dim),
                "in_proj_b": Linear(hidden, self.v_heads),
                "in_proj_a": Linear(hidden, self.v_heads),
                "out_proj": Linear(self.value_dim, hidden),
            }
        return {
            "in_proj_qkvz": Linear(hidden, 2 * self.key_dim + 2 * self.value_dim),
            "in_proj_ba": Linear(hidden, 2 * self.v_heads),
            "out_proj": Linear(self.value_dim, hidden),
        }

    def other_params(self, norm: str) -> int:
        # conv1d, A_log (per value head), dt_bias (per decay), the gated norm
        return self.conv_dim * self.d_conv + self.v_heads + self.decays + self.head_v

    @property
    def state_elems(self) -> int:
        """Recurrent state per sequence: head_k × head_v per value head and the last d_conv - 1 inputs of the conv
        (as vLLM keeps a Mamba-style conv window)."""
        return self.v_heads * self.head_k * self.head_v + self.conv_dim * (self.d_conv - 1)


@dataclass(frozen=True)
class ShortConv:
    """LFM2's gated short convolution (Liquid AI, LFM2 technical report, arXiv:2511.23404; HF Lfm2ShortConv):
    in_proj → [B | C | x] (width channels each), B · x, a causal depthwise conv1d of d_conv taps over it
    (conv_L_cache), C · the result, out_proj; in_proj, the conv and out_proj all biased under conv_bias. No
    state beyond the conv window: its last d_conv − 1 inputs per channel are what a sequence keeps."""

    width: int  # channels (hidden_size)
    d_conv: int
    bias: bool = False

    def linears(self, hidden: int) -> dict[str, Linear]:
        return {
            "in_proj": Linear(hidden, 3 * self.width, self.bias),
            "out_proj": Linear(self.width, hidden, self.bias),
        }

    def other_params(self, norm: str) -> int:
        return self.width * self.d_conv + (self.width if self.bias else 0)  # conv1d

    @property
    def state_elems(self) -> int:
        """Recurrent state per sequence: the last d_conv - 1 inputs of the conv (as vLLM keeps a Mamba-style conv
        window; HF's cache keeps d_conv)."""
        return self.width * (self.d_conv - 1)


@dataclass(frozen=True)
class Lightning:
    """MiniMax-Text-01's lightning attention (MiniMax, "MiniMax-01: Scaling Foundation Models with Lightning
    Attention", arXiv:2501.08313, §2.2; Qin et al., "Lightning Attention-2", arXiv:2401.04658), as HF
    MiniMaxLightningAttention lays it out: qkv_proj → SiLU → q, k, v of head_dim per head (no positional embedding);
    a linear attention whose state (head_dim × head_dim per head, K^T V) decays by a fixed rate per head and token
    (a buffer, no parameter); RMSNorm over all heads (weights heads × head_dim), times sigmoid(output_gate(x)),
    out_proj. `block`: the block length of the blockwise prefill (block_size, 256)."""

    heads: int
    head_dim: int
    block: int = 256

    @property
    def width(self) -> int:
        return self.heads * self.head_dim

    def linears(self, hidden: int) -> dict[str, Linear]:
        return {
            "qkv_proj": Linear(hidden, 3 * self.width),
            "output_gate": Linear(hidden, self.width),
            "out_proj": Linear(self.width, hidden),
        }

    def other_params(self, norm: str) -> int:
        return self.width * NORM_PARAMS[norm]  # the output RMSNorm

    @property
    def state_elems(self) -> int:
        """Recurrent state per sequence: head_dim × head_dim per head."""
        return self.heads * self.head_dim * self.head_dim


# mixers that keep a fixed state per sequence instead of per-token K/V
RECURRENT = (Ssm, Ssd, DeltaNet, ShortConv, Lightning)


@dataclass(frozen=True)
class Layer:
    mixer: Attention | Ssm | Ssd | DeltaNet | ShortConv | Lightning | None  # None: MLP only (Nemotron-H's "-")
    mlp: Mlp | None
    norms: int  # norm weights of width hidden in this layer (input/post-attention/pre-/post-feedforward)
    parallel: bool = False  # attention and MLP read the same input (GPT-J/Falcon parallel residual)
    ssm: Ssd | None = None  # a Mamba-2 mixer beside the attention mixer, on the same normed input (Falcon-H1)
    # Gemma-4's per-layer input (hidden_size_per_layer_input, HF Gemma4TextDecoderLayer): after the MLP's residual,
    # per_layer_input_gate (hidden → this width), the activation times the layer's slice of the per-layer embedding,
    # per_layer_projection back to hidden, an RMSNorm (hidden weights) and a residual add
    per_layer_input: int = 0
    # Zamba2's shared transformer block (HF Zamba2AttentionDecoderLayer inside a Zamba2HybridLayer): its input is the
    # residual stream beside the token embeddings (2 × hidden), RMSNormed over both (2 × hidden weights: `norms` 3
    # counts them with the pre-MLP norm); attention (Attention.in_width) with no residual of its own, the pre-MLP
    # norm, the MLP, then `block_out` (the hybrid layer's `linear`, hidden → hidden), whose output the next layer
    # (the hybrid layer's Mamba-2) adds to its input
    concat: bool = False
    # the block's attention and MLP weights (and norms) are an earlier layer's (Zamba2 ties every num_mem_blocks-th
    # hybrid layer's block): only its adapters and block_out are its own parameters; its ops run as any layer's
    tied: bool = False

    @property
    def attention(self) -> Attention | None:
        return self.mixer if isinstance(self.mixer, Attention) else None

    def linears(self, hidden: int) -> dict[str, Linear]:
        out = {} if self.mixer is None else dict(self.mixer.linears(hidden))
        if self.ssm is not None:
            out.update(self.ssm.linears(hidden))
        if self.mlp is not None:
            out.update(self.mlp.linears(hidden))
        if self.per_layer_input:
            out["per_layer_input_gate"] = Linear(hidden, self.per_layer_input)
            out["per_layer_projection"] = Linear(self.per_layer_input, hidden)
        if self.concat:
            out["block_out"] = Linear(hidden, hidden)
        return out

    def params(self, hidden: int, norm: str) -> int:
        if self.tied:  # its own: the adapters and block_out
            own = ("block_out",) + tuple(r for r in self.linears(hidden) if r.endswith(ADAPTER_PARTS))
            return sum(lin.params for r, lin in self.linears(hidden).items() if r in own)
        p = sum(lin.params for lin in self.linears(hidden).values())
        p += 0 if self.mixer is None else self.mixer.other_params(norm)
        p += 0 if self.ssm is None else self.ssm.other_params(norm)
        p += (self.norms + (self.per_layer_input > 0)) * hidden * NORM_PARAMS[norm]
        if self.mlp is not None:
            p += self.mlp.other_params(norm, hidden)
        return p

    def idle_params(self, hidden: int) -> int:
        return 0 if self.mlp is None else self.mlp.idle_params(hidden)


@dataclass(frozen=True)
class Embedding:
    """Everything outside the layers: token (+ position, token-type) tables, final norm, LM head."""

    vocab: int
    positions: int = 0  # rows of a learned position table
    token_types: int = 0  # rows of a token-type table (BERT)
    tied: bool = False  # lm_head shares the token table
    scale: bool = False  # Gemma: embeddings × sqrt(hidden)
    final_norm: bool = True
    norm: bool = False  # a LayerNorm on the embeddings before the first layer (BLOOM's word_embeddings_layernorm)
    logit_softcap: bool = False  # Gemma-2: tanh soft-capping of the logits
    head_bias: bool = False  # Phi-1/2: the LM head has a bias
    # Gemma-4's per-layer embeddings (PLE, HF Gemma4TextModel): a table of per_layer_vocab rows holding `per_layer`
    # channels for every layer (scaled by sqrt(per_layer)), plus per_layer_model_projection (hidden → layers ×
    # per_layer, scaled by 1/sqrt(hidden)) and its RMSNorm (per_layer weights); the two summed and scaled by 1/sqrt(2)
    # feed each layer's Layer.per_layer_input
    per_layer: int = 0
    per_layer_vocab: int = 0

    def per_layer_params(self, hidden: int, layers: int) -> int:
        """The per-layer embedding table, its projection and the projection's norm (0 without PLE)."""
        width = layers * self.per_layer
        return self.per_layer_vocab * width + hidden * width + self.per_layer if self.per_layer else 0


# model types whose vLLM modelling code builds the MoE router unquantized whatever the checkpoint's quantization
# method (no quant_config), each with its router's HF module: a quantized checkpoint's router is stored and run at its
# dtype, a 16-bit GEMM on 16-bit activations (DeepSeek-V3's fp8 release keeps the gate in bf16, with no
# weight_scale_inv). From vLLM's modelling files (vllm/model_executor/models/):
# - deepseek_v2.py (DeepSeek-V2, V3, V3.2): DeepseekV2MoE's gate, a GateLinear built without a quant_config (earlier
#   a ReplicatedLinear with quant_config=None), fp32 logits out;
# - qwen2_moe.py: Qwen2MoeSparseMoeBlock's gate, ReplicatedLinear(..., quant_config=None);
# - mixtral.py: MixtralMoE's gate, ReplicatedLinear(..., quant_config=None) ("Gate always runs at half / full
#   precision for now");
# - gpt_oss.py: MLPBlock's router, a plain torch.nn.Linear in the model dtype;
# - llama4.py: Llama4MoE's router, ReplicatedLinear(..., quant_config=None).
# Not listed: qwen3_moe.py builds Qwen3MoeSparseMoeBlock's gate with quant_config=quant_config (its checkpoint's skip
# list decides); glm4_moe.py (GLM-4.5) and minimax_m2.py build an fp32
# gate on fp32 inputs (nn.Linear(dtype=torch.float32), ReplicatedLinear(params_dtype=torch.float32)): unquantized but
# not the checkpoint's dtype, and hwsim has no per-op fp32 activations, so those are left to the checkpoint's rules.
ROUTER_UNQUANTIZED: dict[str, str] = {
    "deepseek_v2": "mlp.gate",
    "deepseek_v3": "mlp.gate",
    "deepseek_v32": "mlp.gate",
    "qwen2_moe": "mlp.gate",
    "mixtral": "block_sparse_moe.gate",
    "gpt_oss": "mlp.router",
    "llama4_text": "feed_forward.router",
}
# MLA's absorbed decode products (hwsim.workload.layer_ops.mla: q_absorb = W_UK, v_up = W_UV, both cut from
# kv_b_proj): vLLM's MLA backends (MLACommonBaseImpl.process_weights_after_loading, vllm/model_executor/layers/
# attention/mla_attention.py) dequantize kv_b_proj at load into W_UK_T / W_UV in the activation dtype and run both
# bmm's in 16 bits whatever the quantization method ("we currently do not have quantized bmm's"; only ROCm's
# AITER paths requantize them). So a quantized checkpoint costs them at its dtype, weights and activations; kv_b_proj
# itself (prefill, the latent cache) stays at its own format, and is what the footprint counts
# (hwsim.engine.cost.format_exception_bytes skips these rows); vLLM's extra 16-bit copies (heads × kv_lora_rank ×
# (nope + v) × 2 bytes a layer) are not counted.
MLA_ABSORBED: tuple[str, ...] = ("q_absorb", "v_up")


def unquantized_modules(blocks: tuple[Layer, ...], model_type: str = "") -> tuple[str, ...]:
    """HF module names a quantized checkpoint of these blocks keeps at its dtype because the modelling code builds
    them unquantized whatever the quantization method: DeepSeek-V3.2's indexer weights_proj (Indexer.UNQUANTIZED),
    MLA's absorbed decode products (MLA_ABSORBED), and the MoE router of the types in ROUTER_UNQUANTIZED
    (`model_type`), where a layer is a MoE."""
    out: tuple[str, ...] = ()
    for layer in blocks:
        a = layer.mixer
        if isinstance(a, Attention) and a.mla is not None and a.mla.indexer is not None:
            out = Indexer.UNQUANTIZED
            break
    if any(isinstance(layer.mixer, Attention) and layer.mixer.mla is not None for layer in blocks):
        out += MLA_ABSORBED
    if model_type in ROUTER_UNQUANTIZED and any(layer.mlp is not None and layer.mlp.is_moe for layer in blocks):
        out += (ROUTER_UNQUANTIZED[model_type],)
    return out
