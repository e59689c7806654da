"""Op rows of one layer, built from its blocks (mixer, MLP, norms). trace.py tiles them over layers.

Row order and names of the dense attention + MLP layer are the ones hwsim has always emitted (the
pinned Llama/Mistral/OPT/… traces), and new blocks add rows around them.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwsim.workload.blocks import (
    ACT_PARAMS,
    NORM_PARAMS,
    Attention,
    DeltaNet,
    Indexer,
    Layer,
    Lightning,
    Mlp,
    ShortConv,
    Ssd,
    Ssm,
    qk_norm_kind,
)
from hwsim.workload.kv import attended_tokens

# Approximate element operations per element for elementwise ops (assumed: one op per arithmetic step).
VECTOR_OPS = {
    "rmsnorm": 4,
    "layernorm": 7,
    "layernorm_weight": 6,  # assumed: LayerNorm less its bias add
    "layernorm_none": 5,  # assumed: LayerNorm less its scale and bias
    "l2": 4,
    "softmax": 5,
    "silu": 4,
    "gelu": 8,
    "gelu_new": 8,
    "relu": 1,
    "relu2": 2,
    "gelu_pytorch_tanh": 8,
    "xielu": 8,  # assumed: a select of x·(αp·x + β) and (expm1(min(x, ε)) − x)·αn + β·x, both branches evaluated
    "rope": 3,
    "residual": 1,
    "gate_mul": 1,
    "position_add": 1,
    "softcap": 3,
    "scale": 1,
    "sigmoid": 4,
    "softplus": 4,
    "conv_tap": 2,
    "scan": 7,
    "exp": 4,  # assumed: as softplus / silu (a transcendental in a few steps)
    "clamp": 2,  # assumed: a max and a min
    "alibi": 1,  # assumed: one add of the head's distance bias per score (the bias table built once per step)
}
# a query scale's factor per token and layer (Ministral-3's HF get_llama_4_attn_scale, Llama-4's attn_scales: computed
# in every layer): the divide and floor, an add, the log (as exp's steps), a multiply and an add (assumed: one op
# each but the log)
_QUERY_SCALE_OPS = 2 + 4 + 2
ATTENTION_FORMS = ("unfused", "fused")
# op roles whose operands run at formats of their own whatever precision the caller gives (operand → format; the
# others take the caller's): DeepSeek-V3.2's lightning indexer as the reference runs it (blocks.Indexer). The
# engines cost these rows at the caller's precision with these operands replaced (hwsim.engine.machine.with_fixed_rows:
# the analytical and cycle engines, roofline and explain).
FIXED_OPERANDS: dict[str, dict[str, str]] = {
    "index_rope": {"kv": Indexer.KEY_FORMAT},  # the key it writes to the index cache (the query goes on in bf16)
    "index_qk": {"activations": Indexer.KEY_FORMAT, "kv": Indexer.KEY_FORMAT},  # fp8 q · fp8 cached k
    "index_reduce": {"activations": Indexer.SCORE_FORMAT},  # relu · fp32 head weights, summed; fp32 logits out
    "index_topk": {"activations": Indexer.SCORE_FORMAT},  # reads the fp32 logits, writes int32 indices
}


class Ops:
    """Accumulates op rows for one layer template (plain lists; tiled over layers with numpy)."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def add(
        self,
        name: str,
        kind: str,
        op: str,
        m: int,
        n: int,
        k: int,
        count: int = 1,
        *,
        macs: int = 0,
        vector_ops: int = 0,
        weight: int = 0,
        act_in: int = 0,
        act_out: int = 0,
        kv_read: int = 0,
        kv_write: int = 0,
    ) -> None:
        self.rows.append((name, kind, op, m, n, k, count, macs, vector_ops, weight, act_in, act_out, kv_read, kv_write))

    def linear(
        self,
        name: str,
        op: str,
        m: int,
        k: int,
        n: int,
        *,
        bias: bool = False,
        count: int = 1,
        out_to_kv: bool = False,
        kv_read: int = 0,
    ) -> None:
        out = m * n * count
        self.add(
            name,
            "linear",
            op,
            m,
            n,
            k,
            count,
            macs=m * n * k * count,
            weight=(k * n + (n if bias else 0)) * count,
            act_in=m * k * count - kv_read,
            act_out=0 if out_to_kv else out,
            kv_write=out if out_to_kv else 0,
            kv_read=kv_read,
        )

    def elementwise(
        self,
        name: str,
        op: str,
        rows: int,
        width: int,
        per_elem: int,
        *,
        inputs: int = 1,
        weight: int = 0,
        kv_read: int = 0,
        kv_write: int = 0,
        out: int | None = None,
        extra_ops: int = 0,
        extra_in: int = 0,
    ) -> None:
        elems = rows * width
        self.add(
            name,
            "elementwise",
            op,
            rows,
            width,
            1,
            1,
            vector_ops=per_elem * elems + extra_ops,
            weight=weight,
            act_in=inputs * elems + extra_in,
            act_out=elems if out is None else out,
            kv_read=kv_read,
            kv_write=kv_write,
        )


@dataclass(frozen=True)
class Step:
    """The shape of one step: `batch` sequences of `t` new tokens ending at `span` tokens."""

    batch: int
    t: int
    span: int
    hidden: int
    norm: str
    attention: str = "unfused"  # ATTENTION_FORMS
    mla: str = "absorbed"  # kv.MLA_MODES

    @property
    def M(self) -> int:
        return self.batch * self.t

    def norm_op(self, ops: Ops, name: str, rows: int, width: int | None = None) -> None:
        width = self.hidden if width is None else width
        ops.elementwise(name, "norm", rows, width, VECTOR_OPS[self.norm], weight=width * NORM_PARAMS[self.norm])


def attention_core(
    ops: Ops, s: Step, attn: Attention, *, kv_groups: int, d_qk: int, d_v: int, kv_shared: bool = False
) -> None:
    """Scores and weighted sum over the cached keys: qk, softmax, av (unfused, the score matrix in memory)
    or one `attn_fused` row per layer (scores on chip; docs/interfaces.md). `kv_groups` KV heads each
    serve heads/kv_groups query heads; `kv_shared`: V is a slice of the K tensor (MLA latent)."""
    b, t, heads = s.batch, s.t, attn.heads
    keys = attended_tokens(attn, s.span)  # keys each query attends to
    # keys the step's queries need between them: a window's slide over the step's t queries; for a sparse
    # attention's top-k (DeepSeek-V3.2) the same count, a lower bound (each query picks its own k of the span)
    keys_read = min(s.span, keys + t - 1)
    scores = b * heads * t * keys
    soft_ops = VECTOR_OPS["softmax"] * scores + (VECTOR_OPS["softcap"] * scores if attn.softcap else 0)
    soft_ops += VECTOR_OPS["alibi"] * scores if attn.alibi else 0
    if attn.sinks:
        soft_ops += VECTOR_OPS["softmax"] * b * heads * t
    sinks = heads if attn.sinks else 0
    k_elems, v_elems = b * kv_groups * keys_read * d_qk, b * kv_groups * keys_read * d_v
    q_elems, o_elems = b * heads * t * d_qk, b * heads * t * d_v
    if s.attention == "fused":
        ops.add(
            "attn",
            "attention",
            "attn_fused",
            t * heads // kv_groups,
            d_v,
            keys,
            b * kv_groups,
            macs=scores * (d_qk + d_v),
            vector_ops=soft_ops,
            weight=sinks,
            act_in=q_elems,
            act_out=o_elems,
            kv_read=k_elems if kv_shared else k_elems + v_elems,
        )
        return
    ops.add(
        "attn.qk",
        "attention",
        "qk",
        t,
        keys,
        d_qk,
        b * heads,
        macs=scores * d_qk,
        act_in=q_elems,
        act_out=scores,
        kv_read=k_elems,
    )
    ops.add(
        "attn.softmax",
        "elementwise",
        "softmax",
        b * heads * t,
        keys,
        1,
        1,
        vector_ops=soft_ops,
        weight=sinks,
        act_in=scores,
        act_out=scores,
    )
    ops.add(
        "attn.av",
        "attention",
        "av",
        t,
        d_v,
        keys,
        b * heads,
        macs=scores * d_v,
        act_in=scores,
        act_out=o_elems,
        kv_read=v_elems,
    )


def _rope(
    ops: Ops,
    M: int,
    q_width: int,
    k_width: int,
    *,
    k_to_cache: bool = True,
    part: tuple = (1, 1),
    name: str = "rope",
    op: str = "rope",
) -> None:
    """Rotary embedding of q and k (k then written to the cache). `part` = (rotated, head) channels: with a partial
    rotary embedding (GLM-4.5, Qwen3-Next) only that share of each head is rotated, the rest passes through; the
    row still reads q and k whole and writes them (the pass-through channels are copied, as HF's torch.cat does)."""
    q_el, k_el = M * q_width, M * k_width
    rot, whole = part
    ops.add(
        name,
        "elementwise",
        op,
        M,
        q_width + k_width,
        1,
        1,
        vector_ops=VECTOR_OPS["rope"] * (q_el + k_el) * rot // whole,
        act_in=q_el + k_el,
        act_out=q_el + (0 if k_to_cache else k_el),
        kv_write=k_el if k_to_cache else 0,
    )


def _qk_norm(ops: Ops, s: Step, attn: Attention, rows_q: int, rows_k: int) -> None:
    assert attn.qk_norm is not None, "called for attention with q/k norms only"
    kind, per_head_weights = qk_norm_kind(attn.qk_norm)
    per = VECTOR_OPS[kind]
    norms = (("q_norm", rows_q, attn.heads), ("k_norm", rows_k, attn.kv_heads))
    for name, rows, heads in norms[:1] if attn.kv_reuse else norms:  # a KV-sharing layer has no keys of its own
        weights = (heads if per_head_weights else 1) * attn.head_dim * NORM_PARAMS[kind]
        if attn.qk_norm.endswith("_all"):  # one norm over all heads of a token (OLMo-2)
            rows, width = rows // heads, heads * attn.head_dim
        else:  # each head normed over its head_dim (with its own weights under `_heads`: Command R+)
            width = attn.head_dim
        ops.elementwise(name, "norm", rows, width, per, weight=weights)


def _adapter(ops: Ops, M: int, lin: dict, name: str, kv: bool = False, prefix: str = "") -> None:
    """A low-rank adapter beside a projection (blocks.adapter_linears: Zamba2's LoRAs): down, up, and the add of its
    output to the projection's (1 op an element), which writes the cache when the projection's output is cached."""
    down, up = lin[name + "_adapter_down"], lin[name + "_adapter_up"]
    ops.linear(f"{prefix}{name}_adapter_down", f"{name}_adapter_down", M, down.k, down.n)
    ops.linear(f"{prefix}{name}_adapter_up", f"{name}_adapter_up", M, up.k, up.n)
    elems = M * up.n
    ops.elementwise(
        f"{prefix}{name}_adapter_add",
        "residual",
        M,
        up.n,
        VECTOR_OPS["residual"],
        inputs=2,
        out=0 if kv else None,
        kv_write=elems if kv else 0,
    )


def mha(ops: Ops, s: Step, attn: Attention, hidden: int) -> None:
    """q/k/v projections (+ q/k norm, rope), attention over the cache, o_proj."""
    M, lin = s.M, attn.linears(hidden)
    for role in ("q_proj", "k_proj", "v_proj"):
        if role not in lin:  # Gemma-4's k_eq_v: no v_proj
            continue
        w = lin[role]
        # without rope, k_proj/v_proj outputs go straight to the cache; with rope, only v does (unless normed first)
        # (a clamp of q, k and v comes between them and the cache)
        to_kv = not attn.clip_qkv and (
            (role == "v_proj" and not attn.v_norm and not attn.value_scale)
            or (role == "k_proj" and not attn.rotary and not attn.qk_norm)
        )
        ops.linear(role, role, M, w.k, w.n, bias=w.bias, out_to_kv=to_kv and not attn.adapter_rank)
        if attn.adapter_rank:  # Zamba2: the layer's low-rank adapter beside it, added (that sum is what is cached)
            _adapter(ops, M, lin, role[0], kv=to_kv)
    q_dim, kv_dim = attn.heads * attn.head_dim, attn.kv_heads * attn.head_dim
    if attn.qk_norm:
        _qk_norm(ops, s, attn, M * attn.heads, M * attn.kv_heads)
    if attn.clip_qkv:  # OLMo / OLMoE / DBRX: q, k and v clamped (after the q/k norms); v, and unrotated k, cached
        v_el, k_el = M * attn.kv_heads * attn.v_dim, M * kv_dim
        cached = v_el + (0 if attn.rotary else k_el)
        width = q_dim + kv_dim + attn.kv_heads * attn.v_dim
        ops.elementwise("qkv_clip", "clamp", M, width, VECTOR_OPS["clamp"], out=M * width - cached, kv_write=cached)
    if attn.value_scale:  # MiMo-V2-Flash: the values times a scalar, then cached
        v_el = M * attn.kv_heads * attn.v_dim
        ops.elementwise(
            "value_scale", "scale", M, attn.kv_heads * attn.v_dim, VECTOR_OPS["scale"], out=0, kv_write=v_el
        )
    if attn.v_norm and not attn.kv_reuse:  # Gemma-4: each value head RMSNormed without weights, then cached
        v_el = M * attn.kv_heads * attn.v_dim
        ops.elementwise("v_norm", "norm", M * attn.kv_heads, attn.v_dim, VECTOR_OPS["rmsnorm"], out=0, kv_write=v_el)
    if attn.rotary:
        _rope(
            ops,
            M,
            q_dim,
            0 if attn.kv_reuse else kv_dim,  # a KV-sharing layer rotates its queries only
            k_to_cache=not attn.kv_reuse,
            part=(attn.head_dim if attn.rotary_dim is None else attn.rotary_dim, attn.head_dim),
        )
    elif attn.qk_norm and not attn.clip_qkv:  # NoPE layer with a norm: the normed keys are what the cache stores
        ops.rows[-1] = ops.rows[-1][:11] + (0, 0, M * kv_dim)
    if attn.query_scale:  # Ministral-3, Llama-4's NoPE layers: the queries times their position's factor
        ops.elementwise("query_scale", "scale", M, q_dim, VECTOR_OPS["scale"], inputs=1, extra_ops=_QUERY_SCALE_OPS * M)
    attention_core(ops, s, attn, kv_groups=attn.kv_heads, d_qk=attn.head_dim, d_v=attn.v_dim)
    if attn.gate_proj:  # AFMoE: the gate from a linear of its own
        w = lin["attn_gate_proj"]
        ops.linear("attn_gate_proj", "attn_gate_proj", M, w.k, w.n)
    if attn.output_gate or attn.gate_proj:  # the attention output times sigmoid(gate): Qwen3-Next's q_proj's other half
        gate_ops = VECTOR_OPS["sigmoid"] + VECTOR_OPS["gate_mul"]
        ops.elementwise("attn_gate", "act", M, attn.heads * attn.v_dim, gate_ops, inputs=2)
    if attn.sub_norm:
        s.norm_op(ops, "attn_sub_norm", M, attn.heads * attn.v_dim)
    w = lin["o_proj"]
    ops.linear("o_proj", "o_proj", M, w.k, w.n, bias=w.bias)


def mla(ops: Ops, s: Step, attn: Attention, hidden: int) -> None:
    """DeepSeek MLA. Decode in mode "absorbed" runs as serving kernels do (FlashMLA, vLLM; DeepSeek-V2 §2.1.3):
    W_UK is absorbed into the query (q_absorb: per head nope → latent), all heads attend over the cached
    latent + rope key as one shared KV head (MQA-like, d_qk = latent + rope, d_v = latent), and W_UV
    maps the latent output back per head (v_up). Prefill, and every step in modes "latent" and "expanded",
    up-projects the latent with kv_b_proj and runs ordinary multi-head attention (d_qk = nope + rope,
    d_v = v_dim). The cache holds the latent + rope key ("absorbed"; "latent", transformers 5's
    DeepseekV2/V3Attention, which up-projects the whole cached span again every step) or the expanded
    per-head K and V ("expanded": DeepSeek's own modelling code and transformers 4, up-projecting new tokens
    only). Without a positional encoding (attn.rotary False: Kimi-Linear, whose MLA HF runs as DeepSeek's with
    the rope channels unrotated, still cached) there is no rope row: kv_a_norm also carries the rope key from
    kv_a_proj's output to the cache (the shared key, or its copy per head in the expanded cache)."""
    a, M, H, lin = attn.mla, s.M, attn.heads, attn.linears(hidden)
    assert a is not None, "called for multi-head latent attention only"
    if a.q_lora_rank:
        w = lin["q_a_proj"]
        ops.linear("q_a_proj", "q_a_proj", M, w.k, w.n, bias=w.bias)
        s.norm_op(ops, "q_a_norm", M, a.q_lora_rank)
        ops.linear("q_b_proj", "q_b_proj", M, a.q_lora_rank, H * attn.head_dim)
    else:
        ops.linear("q_proj", "q_proj", M, hidden, H * attn.head_dim)
    w = lin["kv_a_proj"]
    ops.linear("kv_a_proj", "kv_a_proj", M, w.k, w.n, bias=w.bias)
    latent = s.mla != "expanded"
    k_rope = (1 if latent else H) * a.rope_dim  # rope key channels cached per token
    # kv_a_norm normalises the latent; in the absorbed cache that normed latent is what is stored
    ops.elementwise(
        "kv_a_norm",
        "norm",
        M,
        a.kv_lora_rank,
        VECTOR_OPS[s.norm],
        weight=a.kv_lora_rank * NORM_PARAMS[s.norm],
        out=0 if latent else None,
        kv_write=(M * a.kv_lora_rank if latent else 0) + (0 if attn.rotary else M * k_rope),
        extra_in=0 if attn.rotary else M * a.rope_dim,
    )
    if a.indexer is not None and not a.indexer.reuse:  # a reusing layer reads another layer's top-k
        _indexer(ops, s, attn, hidden)
    if s.mla == "absorbed" and s.t == 1:
        if attn.rotary:
            _rope(ops, M, H * a.rope_dim, k_rope)
        ops.linear("q_absorb", "q_absorb", M, a.nope_dim, a.kv_lora_rank, count=H)
        attention_core(ops, s, attn, kv_groups=1, d_qk=a.kv_lora_rank + a.rope_dim, d_v=a.kv_lora_rank, kv_shared=True)
        ops.linear("v_up", "v_up", M, a.kv_lora_rank, a.v_dim, count=H)
    else:
        # expanded: up-project the new tokens' latents (the result is cached); latent cache: the latents of
        # the whole span (the cached ones are read back from the cache)
        rows = s.batch * s.span if latent else M
        ops.linear(
            "kv_b_proj",
            "kv_b_proj",
            rows,
            a.kv_lora_rank,
            H * (a.nope_dim + a.v_dim),
            out_to_kv=not latent,
            kv_read=(rows - M) * a.kv_lora_rank,
        )
        if attn.rotary:
            _rope(ops, M, H * a.rope_dim, k_rope)
        attention_core(ops, s, attn, kv_groups=H, d_qk=attn.head_dim, d_v=a.v_dim)
    w = lin["o_proj"]
    ops.linear("o_proj", "o_proj", M, w.k, w.n, bias=w.bias)


def _indexer(ops: Ops, s: Step, attn: Attention, hidden: int) -> None:
    """DeepSeek Sparse Attention's lightning indexer (blocks.Indexer; HF DeepseekV32Indexer, DeepSeek's reference
    inference/model.py Indexer): wq_b on the normed query latent, wk → LayerNorm → rotary on the first
    qk_rope_head_dim channels of q and k (the key then cached), weights_proj; then each of the step's t queries
    scored against every cached token (the whole span, unlike the main attention): `indexer.qk` = the heads'
    q · kᵀ (one key per token shared by the heads: m = t × heads, as the reference's fp8 MQA-logits kernel runs it),
    `indexer.reduce` = relu and the weighted sum over heads (HF's matmul of the weights with the scores); the
    per-head scores stay on chip between the two (the reference fuses them, DeepGEMM fp8_mqa_logits), only the
    t × span logits are written. `indexer.topk` selects the top_k per query (vector ops, 2 per logit: assumed, a
    radix-select pass compares and counts each) into a buffer of top_k indices per query whatever the span (-1 where
    fewer tokens exist; assumed, as a serving engine's fixed-size index buffer). The rows run at the reference's
    formats whatever the caller's precision (FIXED_OPERANDS, blocks.Indexer): the key written to the cache and the
    query and key of `indexer.qk` in fp8 with an fp32 scale per 128, `indexer.reduce` and `indexer.topk` on fp32
    scores; the linears take the checkpoint's formats (weights_proj unquantized). The reference's Hadamard rotation
    of q and k (orthogonal: q · k unchanged) and its fp8 quantization passes are not rows of their own."""
    a, M, b, t = attn.mla, s.M, s.batch, s.t
    assert a is not None and a.indexer is not None, "called for DeepSeek sparse attention only"
    ix, lin = a.indexer, attn.linears(hidden)
    Hi, Di = ix.heads, ix.head_dim
    for role in ("indexer_wq_b", "indexer_wk"):
        w = lin[role]
        ops.linear(role, role, M, w.k, w.n)
    ops.elementwise("indexer.k_norm", "norm", M, Di, VECTOR_OPS["layernorm"], weight=Di * NORM_PARAMS["layernorm"])
    _rope(ops, M, Hi * Di, Di, part=(min(a.rope_dim, Di), Di), name="indexer.rope", op="index_rope")
    w = lin["indexer_weights_proj"]
    ops.linear("indexer_weights_proj", "indexer_weights_proj", M, w.k, w.n)
    keys = s.span  # every cached token, the step's own included
    ops.add(
        "indexer.qk",
        "attention",
        "index_qk",
        t * Hi,
        keys,
        Di,
        b,
        macs=b * t * Hi * keys * Di,
        act_in=M * Hi * Di,
        kv_read=b * keys * Di,
    )
    ops.add(
        "indexer.reduce",
        "attention",
        "index_reduce",
        t,
        keys,
        Hi,
        b,
        macs=b * t * keys * Hi,
        vector_ops=VECTOR_OPS["relu"] * b * t * Hi * keys,
        act_in=M * Hi,
        act_out=b * t * keys,
    )
    ops.elementwise("indexer.topk", "index_topk", b * t, keys, 2, out=b * t * ix.top_k)


def ssm(ops: Ops, s: Step, mix: Ssm, hidden: int) -> None:
    """Mamba mixer (HF MambaMixer): in_proj → causal depthwise conv → x_proj → dt_proj → selective scan →
    gate → out_proj. Conv and scan run on the vector units; the scan state (d_inner × d_state) and the conv
    window are this layer's cache, read and written every step (a new sequence's initial state too: assumed, as
    a kernel that loads its initial-state slot unconditionally; this keeps every row polynomial in the step's
    shape, which serving's step-cost basis needs). The scan row is `scan` in a step of several tokens and
    `ssm.update` in a one-token step (decode): serving's basis fits each form's rows on their own."""
    M, e, N, lin = s.M, mix.d_inner, mix.d_state, mix.linears(hidden)
    w = lin["in_proj"]
    ops.linear("in_proj", "in_proj", M, w.k, w.n, bias=w.bias)
    state = s.batch * mix.state_elems
    ops.elementwise(
        "conv1d",
        "conv",
        M,
        e,
        VECTOR_OPS["conv_tap"] * mix.d_conv + VECTOR_OPS["silu"],
        weight=e * mix.d_conv + (e if mix.conv_bias else 0),
    )
    for role in ("x_proj", "dt_proj"):
        w = lin[role]
        ops.linear(role, role, M, w.k, w.n, bias=w.bias)
        if role == "x_proj" and mix.bcdt_norms:  # Jamba: RMSNorm of dt, B and C (weights of their widths)
            width = mix.dt_rank + 2 * N  # Falcon-Mamba's have no weights
            weight = width * NORM_PARAMS[s.norm] if mix.bcdt_weights else 0
            ops.elementwise("bcdt_norm", "norm", M, width, VECTOR_OPS[s.norm], weight=weight)
    ops.elementwise(
        "ssm.update" if s.t == 1 else "scan",
        "scan",
        M,
        e * N,
        VECTOR_OPS["scan"],
        inputs=1,
        weight=e * N + e,
        extra_ops=(VECTOR_OPS["softplus"] + 2) * M * e,
        out=M * e,
        kv_read=state,
        kv_write=state,
    )
    ops.elementwise("gate", "act", M, e, VECTOR_OPS["silu"] + VECTOR_OPS["gate_mul"], inputs=2)
    w = lin["out_proj"]
    ops.linear("out_proj", "out_proj", M, w.k, w.n, bias=w.bias)


def ssd(ops: Ops, s: Step, mix: Ssd, hidden: int) -> None:
    """Mamba-2 mixer (HF Mamba2Mixer): in_proj → causal depthwise conv over x|B|C → SSD → gated RMSNorm → out_proj.

    A step of t > 1 tokens runs the chunked SSD algorithm (Dao & Gu 2024, arXiv:2405.21060, §6 and Listing 1;
    mamba_ssm's chunked kernels) over chunks of Q = chunk_size tokens. Its four matrix products are rows of kind
    "attention" (both operands activations), each of the t tokens counted at the full chunk width Q, as a dense
    chunk computes them (exact for whole chunks; a step shorter than a chunk is counted as padded to it per token,
    an approximation: HF's torch path pads it to a whole chunk, the Triton kernel masks its tiles):
    ssd_cb = C·Bᵀ within a chunk (t × Q × d_state, once per group: heads of a group share B and C, as the kernel
    computes it), ssd_diag = the masked scores × x (t × Q × head_dim per head), ssd_states = Bᵀ·x, the chunk's
    final state (d_state × head_dim per token per head), ssd_off = C × the chunk's initial state (head_dim ×
    d_state per token per head). The rest (dt softplus, the exp(segsum) decay masks, the discretised x·dt, the
    sequential state passing between chunks, 2 · heads × head_dim × d_state per chunk, spread over its Q tokens,
    and the D skip) is one `ssd.scan` row (op scan) of vector ops (op counts assumed: one per arithmetic step). A one-token step
    (decode) runs the recurrence instead (HF selective_state_update): the state update h = exp(dt·A)·h + dt·B·x on
    the vector units (`ssd.update`, op scan), and the read-out y = C·h as an ssd_readout row (head_dim × d_state per head). The state
    (heads × head_dim × d_state) and the conv window are this layer's cache, read and written every step (a new
    sequence's initial state too: assumed, as a kernel that loads its initial-state slot unconditionally)."""
    M, b, H, P, N, G = s.M, s.batch, mix.heads, mix.head_dim, mix.d_state, mix.groups
    e, lin = mix.d_inner, mix.linears(hidden)
    w = lin["in_proj"]
    ops.linear("in_proj", "in_proj", M, w.k, w.n, bias=w.bias)
    ops.elementwise(
        "conv1d",
        "conv",
        M,
        mix.conv_dim,
        VECTOR_OPS["conv_tap"] * mix.d_conv + VECTOR_OPS["silu"],
        weight=mix.conv_dim * mix.d_conv + (mix.conv_dim if mix.conv_bias else 0),
    )
    state = b * mix.state_elems
    dt_ops = (VECTOR_OPS["softplus"] + VECTOR_OPS["exp"] + 2) * M * H  # dt + dt_bias, softplus, exp(dt·A), dt·A
    if s.t == 1:
        ops.elementwise(
            "ssd.update",
            "scan",
            M,
            H * P * N,
            3,  # exp(dt·A)·h + (dt·B)·x: two multiplies and an add per state element
            weight=3 * H,  # A_log, D, dt_bias
            extra_ops=dt_ops + M * H * N + 2 * M * e,  # dt·B per head; D skip
            out=0,
            kv_read=state,
            kv_write=state,
        )
        ops.add("ssd.readout", "attention", "ssd_readout", 1, P, N, b * H, macs=b * H * P * N, act_out=M * e)
    else:
        q = mix.chunk
        ops.add(
            "ssd.cb", "attention", "ssd_cb", M, q, N, G, macs=M * G * q * N, act_in=2 * M * G * N, act_out=M * G * q
        )
        ops.add("ssd.diag", "attention", "ssd_diag", M, P, q, H, macs=M * H * q * P, act_in=M * H * q, act_out=M * e)
        ops.add("ssd.states", "attention", "ssd_states", M, P, N, H, macs=M * H * N * P, act_in=M * (G * N + e))
        # decay masks exp(segsum) and their product with C·Bᵀ (per head, Q per token), B·decay, x·dt, the state
        # passing (2 · heads × head_dim × d_state per chunk, per token 1/Q of it), y_off × decay, D skip
        ops.elementwise(
            "ssd.scan",
            "scan",
            M,
            H * q,
            VECTOR_OPS["exp"] + 2,
            weight=3 * H,
            extra_ops=dt_ops + M * H * N + M * (-(-2 * H * P * N // q)) + 4 * M * e,
            inputs=0,
            out=0,
            kv_read=state,
            kv_write=state,
        )
        ops.add("ssd.off", "attention", "ssd_off", M, P, N, H, macs=M * H * P * N, act_in=M * G * N, act_out=M * e)
    # gated RMSNorm: y · silu(z), then RMSNorm per group of d_inner / n_groups (Falcon-H1 may run the gate alone)
    gate_ops = VECTOR_OPS["silu"] + VECTOR_OPS["gate_mul"]
    if mix.gated_norm:
        ops.elementwise("ssd_norm", "norm", M, e, gate_ops + VECTOR_OPS["rmsnorm"], inputs=2, weight=e)
    else:
        ops.elementwise("ssd_gate", "act", M, e, gate_ops, inputs=2)
    w = lin["out_proj"]
    ops.linear("out_proj", "out_proj", M, w.k, w.n, bias=w.bias)


def delta_net(ops: Ops, s: Step, mix: DeltaNet, hidden: int) -> None:
    """Gated DeltaNet mixer (HF Qwen3NextGatedDeltaNet; Qwen3_5GatedDeltaNet the same with in_proj_qkv, in_proj_z,
    in_proj_b and in_proj_a apart): in_proj_qkvz and in_proj_ba → causal depthwise conv over
    q|k|v → L2 norm of q and k → gated delta rule → gated RMSNorm → out_proj. Kimi Delta Attention (channel_decay,
    HF KimiLinearDeltaAttention) runs the same rows with its own projections (q/k/v_proj, the low-rank forget and
    output gates, b_proj, o_proj), a decay gate per key channel (softplus and its exp per channel, and in a chunk the
    q and k scaled by the cumulative decay and its inverse per channel: 2 more ops per key channel, assumed) and a
    sigmoid output gate; its chunk products have the Gated DeltaNet's shapes (fla's chunk_kda splits the in-chunk
    Q·Kᵀ into sub-chunks for precision, the same multiply-adds: assumed).

    A step of t > 1 tokens runs the chunked algorithm (Yang et al., arXiv:2412.06464, §3; fla's
    chunk_gated_delta_rule, which HF's torch path follows) over chunks of Q = chunk tokens, per value head (q and k
    repeated over a group's value heads, as both run it). Its matrix products are rows of kind "attention" (both
    operands activations), each of the t tokens counted at the full chunk width Q as for Mamba-2's SSD (exact for
    whole chunks; a shorter step is counted per token, where HF pads it to a whole chunk): gdn_kkt = (β·K)·Kᵀ within
    a chunk (Q × head_k per token), gdn_wy = the UT transform's products T·(β·K·decay) and T·(β·V) that give the
    chunk's W and U (Q × (head_k + head_v); HF solves them with torch.linalg.solve_triangular), gdn_diag = the masked
    Q·Kᵀ and its product with the new values (Q × (head_k + head_v)), gdn_off = Q·S and W·S, the chunk's queries
    and keys against its initial state (2 × head_k × head_v), gdn_states = Kᵀ·V_new, the update of the state
    (head_k × head_v). The rest is one `gdn.scan` row (op scan) of vector ops, counts assumed (one op per arithmetic
    step): β = sigmoid(b) and the decay softplus, the in-chunk cumulative decay and its pairwise exp masks (Q per
    token), β and decay scalings of q, k and v, v_new = U − W·S and the output sum, the triangular inverse T by
    forward substitution (Q²/3 per token, assumed: Q³/6 multiply-adds per chunk), the chunk-end decay of the state
    (head_k × head_v per chunk, 1/Q of it per token). A one-token step (decode) runs the recurrence (fla's
    fused_recurrent_gated_delta_rule, HF's torch_recurrent_gated_delta_rule) on the vector units, `gdn.update`:
    per state element the decay, k·S, the rank-one update and the read-out q·S, 7 ops (assumed). The state
    (v_heads × head_k × head_v) and the conv window are this layer's cache, read and written every step (a new
    sequence's initial state too: assumed, as for the SSMs, so every row stays polynomial in the step's shape)."""
    M, b, lin = s.M, s.batch, mix.linears(hidden)
    Hv, Dk, Dv = mix.v_heads, mix.head_k, mix.head_v
    for role, w in lin.items():
        if role != mix.out_role:
            ops.linear(role, role, M, w.k, w.n)
    ops.elementwise(
        "conv1d",
        "conv",
        M,
        mix.conv_dim,
        VECTOR_OPS["conv_tap"] * mix.d_conv + VECTOR_OPS["silu"],
        weight=mix.conv_dim * mix.d_conv,
    )
    ops.elementwise("gdn_qk_norm", "norm", M, 2 * mix.key_dim, VECTOR_OPS["l2"])  # L2 norm per head, no weights
    state = b * mix.state_elems
    # β per head; per decay (value head or KDA key channel) a + dt_bias, softplus, × −exp(A_log)
    gates = VECTOR_OPS["sigmoid"] * M * Hv + (VECTOR_OPS["softplus"] + 2) * M * mix.decays
    # KDA: exp of each channel's decay (the state's rows decay apart) and, in a chunk, the decayed q and k (assumed)
    channel = (VECTOR_OPS["exp"] + 2) * M * mix.key_dim if mix.channel_decay else 0
    if s.t == 1:
        ops.elementwise(
            "gdn.update",
            "scan",
            M,
            Hv * Dk * Dv,
            7,  # decay, k·S (multiply-add), + k ⊗ δ (multiply-add), q·S (multiply-add)
            weight=Hv + mix.decays,  # A_log, dt_bias
            extra_ops=gates + channel + (VECTOR_OPS["exp"] + 2 * Dv) * M * Hv,  # exp(g); δ = (v − k·S) · β
            inputs=0,
            out=M * mix.value_dim,
            kv_read=state,
            kv_write=state,
        )
    else:
        q, kd = mix.chunk, mix.key_dim
        ops.add(
            "gdn.kkt", "attention", "gdn_kkt", M, q, Dk, Hv, macs=M * Hv * q * Dk, act_in=M * kd, act_out=M * Hv * q
        )
        ops.add(
            "gdn.wy",
            "attention",
            "gdn_wy",
            M,
            Dk + Dv,
            q,
            Hv,
            macs=M * Hv * q * (Dk + Dv),
            act_in=M * Hv * q + M * (kd + mix.value_dim),
            act_out=M * Hv * (Dk + Dv),
        )
        ops.elementwise(
            "gdn.scan",
            "scan",
            M,
            Hv * q,
            VECTOR_OPS["exp"] + 3,  # pairwise decay: difference, exp, masking of K·Kᵀ and Q·Kᵀ
            weight=Hv + mix.decays,
            extra_ops=gates
            + channel
            + M * Hv * (1 + 2 * VECTOR_OPS["exp"] + 4 * Dk + 3 * Dv)  # cumsum, exps; q, k, v scalings; U − W·S, sum
            + M * Hv * (-(-q * q // 3) + -(-Dk * Dv // q)),  # triangular inverse; chunk-end state decay
            inputs=0,
            out=0,
            kv_read=state,
            kv_write=state,
        )
        ops.add(
            "gdn.diag",
            "attention",
            "gdn_diag",
            M,
            Dk + Dv,
            q,
            Hv,
            macs=M * Hv * q * (Dk + Dv),
            act_in=M * (2 * kd + Hv * Dv),
            act_out=M * mix.value_dim,
        )
        ops.add("gdn.off", "attention", "gdn_off", M, Dv, Dk, 2 * Hv, macs=2 * M * Hv * Dk * Dv, act_in=M * Hv * 2 * Dk)
        ops.add(
            "gdn.states", "attention", "gdn_states", M, Dv, Dk, Hv, macs=M * Hv * Dk * Dv, act_in=M * (kd + Hv * Dv)
        )
    # RMSNorm per head (head_v weights shared by the heads), times silu(z) (KDA: sigmoid of its output gate)
    gate = VECTOR_OPS["sigmoid"] if mix.channel_decay else VECTOR_OPS["silu"]
    norm_ops = VECTOR_OPS["rmsnorm"] + gate + VECTOR_OPS["gate_mul"]
    ops.elementwise("gdn_norm", "norm", M, mix.value_dim, norm_ops, inputs=2, weight=Dv)
    w = lin[mix.out_role]
    ops.linear(mix.out_role, mix.out_role, M, w.k, w.n)


def short_conv(ops: Ops, s: Step, mix: ShortConv, hidden: int) -> None:
    """LFM2's gated short convolution (HF Lfm2ShortConv): in_proj → B · x → causal depthwise conv of d_conv taps →
    C · y → out_proj. The conv reads and writes this layer's cache, the last d_conv − 1 inputs per channel, every
    step (a new sequence's too: assumed, as for the SSMs, so every row stays polynomial in the step's shape); its row
    is `conv1d` in a step of several tokens and `conv.update` in a one-token step (decode: HF's
    causal_conv1d_update), so serving's basis fits each form's rows on their own, as it does the SSMs'."""
    M, e, lin = s.M, mix.width, mix.linears(hidden)
    w = lin["in_proj"]
    ops.linear("in_proj", "in_proj", M, w.k, w.n, bias=w.bias)
    ops.elementwise("conv_in_gate", "act", M, e, VECTOR_OPS["gate_mul"], inputs=2)  # B · x
    state = s.batch * mix.state_elems
    ops.elementwise(
        "conv.update" if s.t == 1 else "conv1d",
        "conv",
        M,
        e,
        VECTOR_OPS["conv_tap"] * mix.d_conv + (1 if mix.bias else 0),
        weight=e * mix.d_conv + (e if mix.bias else 0),
        kv_read=state,
        kv_write=state,
    )
    ops.elementwise("conv_out_gate", "act", M, e, VECTOR_OPS["gate_mul"], inputs=2)  # C · y
    w = lin["out_proj"]
    ops.linear("out_proj", "out_proj", M, w.k, w.n, bias=w.bias)


def lightning(ops: Ops, s: Step, mix: Lightning, hidden: int) -> None:
    """MiniMax's lightning attention (HF MiniMaxLightningAttention): qkv_proj → SiLU → the decayed linear attention →
    RMSNorm over all heads → × sigmoid(output_gate(x)) → out_proj.

    A step of t > 1 tokens runs it blockwise (Lightning Attention-2, arXiv:2401.04658, Algorithm 1; HF's torch
    path) over blocks of B = block tokens; its matrix products are rows of kind "attention", each of the t tokens
    counted at the full block width B as for Mamba-2's and the DeltaNet's chunks (exact for whole blocks; HF runs a
    last partial block at its own length): lin_intra_qk = Q·Kᵀ within the block (B × head_dim per token and head),
    lin_intra_av = the decay-masked scores × V (B × head_dim), lin_inter = (Q × its decay) · the block's initial
    state (head_dim × head_dim), lin_states = (K × its decay)ᵀ · V, the state's update (head_dim × head_dim). The
    rest is one `lightning.scan` row of vector ops (counts assumed, one op per arithmetic step): the decay mask
    applied to the scores (B per token), the q and k decay scalings, the sum of both halves, the state's decay per
    block (head_dim² per block, 1/B of it per token). A one-token step (decode) runs the recurrence: kv ← decay · kv +
    kᵀ v on the vector units (`lightning.update`, 3 ops per state element: assumed) and the read-out q · kv as a
    `lightning.readout` row (head_dim × head_dim per head). The state is this layer's cache, read and written every
    step (a new sequence's too: assumed, as for the SSMs)."""
    M, b, H, D, lin = s.M, s.batch, mix.heads, mix.head_dim, mix.linears(hidden)
    e = mix.width
    w = lin["qkv_proj"]
    ops.linear("qkv_proj", "qkv_proj", M, w.k, w.n)
    ops.elementwise("qkv_act", "act", M, 3 * e, VECTOR_OPS["silu"])
    state = b * mix.state_elems
    if s.t == 1:
        ops.elementwise("lightning.update", "scan", M, H * D * D, 3, inputs=0, out=0, kv_read=state, kv_write=state)
        ops.add("lightning.readout", "attention", "lin_readout", 1, D, D, b * H, macs=b * H * D * D, act_out=M * e)
    else:
        q = mix.block
        ops.add("lightning.intra_qk", "attention", "lin_intra_qk", M, q, D, H, macs=M * H * q * D, act_in=2 * M * e)
        ops.add(
            "lightning.intra_av", "attention", "lin_intra_av", M, D, q, H, macs=M * H * q * D, act_in=M * (H * q + e)
        )
        ops.elementwise(
            "lightning.scan",
            "scan",
            M,
            H * q,
            1,  # the decay mask on the in-block scores
            extra_ops=3 * M * e + M * H * -(-D * D // q),  # q and k decays, intra + inter; the block-end state decay
            inputs=0,
            out=0,
            kv_read=state,
            kv_write=state,
        )
        ops.add("lightning.inter", "attention", "lin_inter", M, D, D, H, macs=M * H * D * D, act_in=M * e)
        ops.add(
            "lightning.states",
            "attention",
            "lin_states",
            M,
            D,
            D,
            H,
            macs=M * H * D * D,
            act_in=2 * M * e,
            act_out=M * e,
        )
    ops.elementwise("lightning_norm", "norm", M, e, VECTOR_OPS["rmsnorm"], weight=e * NORM_PARAMS[s.norm])
    w = lin["output_gate"]
    ops.linear("output_gate", "output_gate", M, w.k, w.n)
    ops.elementwise("lightning_gate", "act", M, e, VECTOR_OPS["sigmoid"] + VECTOR_OPS["gate_mul"], inputs=2)
    w = lin["out_proj"]
    ops.linear("out_proj", "out_proj", M, w.k, w.n)


def mlp(ops: Ops, s: Step, block: Mlp, hidden: int) -> None:
    """Dense or MoE MLP. MoE routing is balanced (module docstring of trace.py); shared experts see every token."""
    M, lin = s.M, block.linears(hidden)
    roles = [r for r in ("gate_proj", "up_proj") if r in lin]
    if block.is_moe:
        w = lin["router"]
        ops.linear("router", "router", M, w.k, w.n, bias=w.bias)
        # with zero experts, the assignments that reach a real one (Mlp.routed_per_token), rounded to whole tokens
        assignments = M * block.top_k if not block.zero_experts else max(1, round(M * block.routed_per_token))
        active = min(block.experts, assignments)
        base, extra = divmod(assignments, active)
        # (name, experts, tokens each): with an uneven split, `extra` experts take one more token than the rest
        groups = (
            [("experts", extra, base + 1), ("experts_rest", active - extra, base)]
            if extra
            else [("experts", active, base)]
        )
    else:
        assignments, groups = M, [("mlp", 1, M)]
    shared = [("shared", 1, M)] if block.shared else []
    for prefix, count, m_tok in groups:
        for role in roles:
            w = lin[role]
            ops.linear(f"{prefix}.{role}", role, m_tok, w.k, block.intermediate, bias=w.bias, count=count)
    if block.adapter_rank:  # Zamba2: the layer's adapter beside gate and up
        _adapter(ops, M, lin, "gate_up", prefix="mlp.")
    for role in roles:
        for prefix, _, m_tok in shared:
            ops.linear(f"{prefix}.{role}", f"shared_{role}", m_tok, hidden, block.shared)
    gate_in = 2 if block.gated else 1
    act_ops = VECTOR_OPS.get(block.activation, 4) + (gate_in - 1) * VECTOR_OPS["gate_mul"]
    # an activation's learned scalars (xIELU's two) are read with it
    ops.elementwise(
        "mlp.act",
        "act",
        assignments,
        block.intermediate,
        act_ops,
        inputs=gate_in,
        weight=ACT_PARAMS.get(block.activation, 0),
    )
    if block.shared:
        ops.elementwise("shared.act", "act", M, block.shared, act_ops, inputs=gate_in)
    if block.sub_norm:
        s.norm_op(ops, "ffn_sub_norm", assignments, block.intermediate)
    for prefix, count, m_tok in groups:
        w = lin["down_proj"]
        ops.linear(f"{prefix}.down_proj", "down_proj", m_tok, w.k, w.n, bias=w.bias, count=count)
    # LongCat-Flash: the zero experts' output, the tokens times their summed weights, added (2 ops an element, assumed)
    if block.zero_experts:
        ops.elementwise("mlp.zero_experts", "residual", M, hidden, 2, inputs=2)
    if block.dense_beside:  # Gemma-4: router input norm (× scale), the experts' pre-norm, both outputs' norms, sum
        for name in ("router_norm", "experts_pre_norm", "shared_post_norm", "experts_post_norm"):
            s.norm_op(ops, f"mlp.{name}", M)
        ops.elementwise("mlp.combine", "residual", M, hidden, VECTOR_OPS["residual"], inputs=2, weight=block.experts)
    if block.out_norm:  # A.X-K1: the block's output RMSNormed (after the shared experts' sum; same ops)
        s.norm_op(ops, "mlp.out_norm", M)
    if block.shared:
        ops.linear("shared.down_proj", "shared_down_proj", M, block.shared, hidden)
        if block.shared_gate:
            ops.linear("shared_gate", "shared_gate", M, hidden, 1)
            ops.elementwise(
                "shared_gate.act",
                "act",
                M,
                hidden,
                VECTOR_OPS["gate_mul"],
                extra_ops=VECTOR_OPS["sigmoid"] * M,
                inputs=2,
            )


def _mixer(ops: Ops, s: Step, layer: Layer, hidden: int) -> None:
    if isinstance(layer.mixer, Ssm):
        ssm(ops, s, layer.mixer, hidden)
    elif isinstance(layer.mixer, Ssd):
        ssd(ops, s, layer.mixer, hidden)
    elif isinstance(layer.mixer, DeltaNet):
        delta_net(ops, s, layer.mixer, hidden)
    elif isinstance(layer.mixer, ShortConv):
        short_conv(ops, s, layer.mixer, hidden)
    elif isinstance(layer.mixer, Lightning):
        lightning(ops, s, layer.mixer, hidden)
    elif layer.mixer is None:
        raise AssertionError("an MLP-only layer has no mixer rows")
    elif layer.mixer.mla is not None:
        mla(ops, s, layer.mixer, hidden)
    else:
        mha(ops, s, layer.mixer, hidden)


def layer_template(layer: Layer, s: Step) -> Ops:
    """One layer's rows. Norm placement by count: 1 = pre-norm mixer only (Mamba, Nemotron-H's single-block layers:
    one mixer or one MLP) or one norm shared by
    parallel attention and MLP (Falcon-7B); 2 = pre-norms (Llama) or parallel ln_attn/ln_mlp (Falcon-40B);
    4 = Gemma-2/3 sandwich (pre and post norms around both attention and MLP)."""
    h, M = s.hidden, s.M
    ops = Ops()
    residual = lambda name, inputs=2: ops.elementwise(
        name,
        "residual",
        M,
        h,
        VECTOR_OPS["residual"],  # noqa: E731
        inputs=inputs,
    )
    if layer.concat:  # Zamba2's shared block: norm over the stream and the embeddings, attention, norm, MLP, block_out
        assert layer.mlp is not None and layer.mixer is not None, "a shared block has attention and an MLP"
        s.norm_op(ops, "input_norm", M, 2 * h)
        _mixer(ops, s, layer, h)
        s.norm_op(ops, "pre_ff_norm", M)
        mlp(ops, s, layer.mlp, h)
        ops.linear("block_out", "block_out", M, h, h)
        residual("block_residual")  # its output added to the next (Mamba) layer's input
        return ops
    s.norm_op(ops, "input_norm", M)
    if layer.mixer is None:  # an MLP-only layer (Nemotron-H "-"): norm, MLP, residual
        assert layer.mlp is not None, "a layer has a mixer, an MLP or both"
        mlp(ops, s, layer.mlp, h)
        residual("residual")
        return ops
    if layer.parallel:
        assert layer.mlp is not None, "a parallel block runs its mixer and MLP side by side"
        if layer.norms == 2:
            s.norm_op(ops, "mlp_norm", M)
        _mixer(ops, s, layer, h)
        mlp(ops, s, layer.mlp, h)
        residual("residual", inputs=3)
        return ops
    _mixer(ops, s, layer, h)
    if layer.ssm is not None:  # Falcon-H1: the Mamba-2 mixer on the same normed input, its output added
        ssd(ops, s, layer.ssm, h)
        residual("ssm_residual")
    if layer.mlp is None:
        residual("residual")
        return ops
    if layer.norms == 4:
        s.norm_op(ops, "post_attention_norm", M)
        residual("attn_residual")
        s.norm_op(ops, "pre_feedforward_norm", M)
        mlp(ops, s, layer.mlp, h)
        s.norm_op(ops, "post_feedforward_norm", M)
    else:
        residual("attn_residual")
        s.norm_op(ops, "post_attention_norm", M)
        mlp(ops, s, layer.mlp, h)
    residual("mlp_residual")
    if layer.per_layer_input:  # Gemma-4: gate → activation × the layer's per-layer input → projection → norm → add
        d = layer.per_layer_input
        ops.linear("per_layer_input_gate", "per_layer_input_gate", M, h, d)
        act_ops = VECTOR_OPS.get(layer.mlp.activation, 4) + VECTOR_OPS["gate_mul"]
        ops.elementwise("per_layer_act", "act", M, d, act_ops, inputs=2)
        ops.linear("per_layer_projection", "per_layer_projection", M, d, h)
        s.norm_op(ops, "post_per_layer_input_norm", M)
        residual("per_layer_residual")
    return ops
