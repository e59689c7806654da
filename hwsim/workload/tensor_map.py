"""Where a trace op's weight lives in a Hugging Face checkpoint: safetensors tensor names of every supported
type mapped onto the blocks (hwsim.workload.blocks), read from headers only.

A trace op `layers.<i>.<path>` with role R (its `op` column) is one of the layer's `Linear`s
(`Layer.linears`). Its weight (n_out × k_in, per expert) is stored in one of these layouts, as the
transformers modelling code of each type names them (module paths after `<prefix>.layers.<i>.` or
`<prefix>.h.<i>.`; tests/data/hf_reference.json pins the names and shapes of every type):

- its own tensor `<module>.weight`, out × in (nn.Linear) or in × out (GPT-2's Conv1D);
- a slice of a fused tensor along the output features: q/k/v in `attn.c_attn` (GPT-2, Conv1D),
  `self_attn.qkv_proj` (Phi-3), `norm_attn_norm.attn.Wqkv` (DBRX), q then k then v;
  gate/up in `mlp.gate_up_proj` (Phi-3: gate then up);
- or a slice of a fused tensor stored in groups (`Located.groups`): equal blocks along the output features, each
  holding every role's share in role order. `self_attention.query_key_value` (Falcon, BLOOM) is one block per KV
  head: [kv heads, queries per KV head + 2, head_dim] (Falcon's new decoder architecture), [heads, 3, head_dim]
  (BLOOM, Falcon without multi-query), one block (Falcon-7B's multi-query: q then k then v);
- routed experts stored one tensor per expert (`mlp.experts.<e>.gate_proj.weight`, Mixtral's
  `block_sparse_moe.experts.<e>.w1/w3/w2`) or stacked `[experts, …]`: transformers ≥ 5 stores
  `mlp.experts.gate_up_proj` [E, 2I, H] (gate then up) and `down_proj` [E, H, I]; gpt-oss and Llama-4
  store them in × out ([E, H, 2I], [E, I, H]), gpt-oss with gate and up columns interleaved (a group per
  row pair);
- or concatenated along the first axis of one 2-D tensor per role: DBRX's `ffn.experts.mlp.w1` (gate) /
  `v1` (up) / `w2` (down), each [E × I, H], w2 in × out per expert;
- a name the hub's checkpoints still carry and transformers ≥ 5 renames on load (`HUB_RENAMES`):
  Granite-MoE's `block_sparse_moe.input_linear` / `output_linear` / `router.layer` are its stacked
  `experts.gate_up_proj` / `experts.down_proj` and `router`, the same shapes and gate-then-up order.

`locate` answers with a `Located` (tensor name, the expert index in a stacked tensor, the output-feature
rows of a fused tensor, whether it is stored in × out); `match_checkpoint` checks every linear weight of
a model against a checkpoint's headers, so a trace of a real checkpoint's own layers stays exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping

import numpy as np

from hwsim.errors import HwsimError, closest
from hwsim.workload.blocks import ADAPTER_PARTS

if TYPE_CHECKING:
    from hwsim.workload.blocks import Linear
    from hwsim.workload.config import ModelConfig

LAYER = re.compile(r"^(?:.*\.)?(?:layers|layer|h|blocks)\.(\d+)\.(.+)$")

# role → module paths (after the layer prefix) holding it as its own tensor
OWN: dict[str, tuple[str, ...]] = {
    "q_proj": (
        "self_attn.q_proj",
        "mixer.q_proj",
        "attention.self.query",
        "attn.q_proj",
        "attention.wq",
        "self_attention.query",
    ),
    "k_proj": (
        "self_attn.k_proj",
        "mixer.k_proj",
        "attention.self.key",
        "attn.k_proj",
        "attention.wk",
        "self_attention.key",
    ),
    "v_proj": (
        "self_attn.v_proj",
        "mixer.v_proj",
        "attention.self.value",
        "attn.v_proj",
        "attention.wv",
        "self_attention.value",
    ),
    "o_proj": (
        "self_attn.o_proj",
        "self_attn.out_proj",
        "attention.output.dense",
        "attn.o_proj",
        "attention.wo",
        "attention.dense",
        "self_attention.dense",
        "attn.c_proj",
        "self_attn.dense",
        "mixer.o_proj",  # Nemotron-H: every layer's one block is its `mixer`
        "norm_attn_norm.attn.out_proj",  # DBRX
        "attn.out_proj",  # GPT-J
    ),
    "gate_proj": ("mlp.gate_proj", "feed_forward.w1", "mlp.w1", "feed_forward.gate_proj"),
    "up_proj": (
        "mlp.up_proj",
        "intermediate.dense",
        "feed_forward.w3",
        "mlp.fc1",
        "fc1",
        "mlp.fc_in",  # GPT-J
        "ffn.up_proj",  # MPT
        "mlp.dense_h_to_4h",
        "mlp.c_fc",
        "feed_forward.up_proj",
        "mixer.up_proj",
    ),
    "down_proj": (
        "mlp.down_proj",
        "mlp.fc_out",  # GPT-J
        "ffn.down_proj",  # MPT
        "output.dense",
        "feed_forward.w2",
        "mlp.fc2",
        "fc2",
        "mlp.dense_4h_to_h",
        "mlp.c_proj",
        "feed_forward.down_proj",
        "mixer.down_proj",
        "shared_mlp.output_linear",  # GraniteMoeHybrid without routed experts: the shared MLP is the MLP
    ),
    "router": (
        "mlp.gate",
        "block_sparse_moe.gate",
        "mlp.router",
        "feed_forward.router",
        "block_sparse_moe.router",
        "mixer.gate",
        "feed_forward.gate",  # LFM2-MoE
        "mlp.gate.wg",  # Hunyuan-MoE
        "ffn.router.layer",  # DBRX
        "router.proj",  # Gemma-4: the router beside the layer's MLP
        "mlp.router.gate",  # AFMoE
        "mlp.router.classifier",  # LongCat-Flash
    ),
    "q_a_proj": ("self_attn.q_a_proj",),
    "q_b_proj": ("self_attn.q_b_proj",),
    "kv_a_proj": ("self_attn.kv_a_proj_with_mqa",),
    "kv_b_proj": ("self_attn.kv_b_proj",),
    "indexer_wq_b": ("self_attn.indexer.wq_b",),  # DeepSeek-V3.2's lightning indexer
    "indexer_wk": ("self_attn.indexer.wk",),
    "indexer_weights_proj": ("self_attn.indexer.weights_proj",),
    "shared_gate_proj": (
        "mlp.shared_expert.gate_proj",
        "mlp.shared_experts.gate_proj",
        "feed_forward.shared_expert.gate_proj",
        "mlp.shared_mlp.gate_proj",  # Hunyuan-MoE
        "mlp.gate_proj",  # Gemma-4: the dense MLP beside the routed experts
    ),
    "shared_up_proj": (
        "mlp.shared_expert.up_proj",
        "mlp.shared_experts.up_proj",
        "feed_forward.shared_expert.up_proj",
        "mlp.shared_mlp.up_proj",
        "mlp.up_proj",  # Gemma-4: the dense MLP beside the routed experts
        "mixer.shared_experts.up_proj",  # Nemotron-H's MoE layers ("E"): the block is the layer's `mixer`
    ),
    "shared_down_proj": (
        "mlp.shared_expert.down_proj",
        "mlp.shared_experts.down_proj",
        "feed_forward.shared_expert.down_proj",
        "mlp.shared_mlp.down_proj",
        "mlp.down_proj",  # Gemma-4: the dense MLP beside the routed experts
        "mixer.shared_experts.down_proj",
        "shared_mlp.output_linear",  # GraniteMoeHybrid: the shared MLP beside the routed experts
    ),
    "shared_gate": ("mlp.shared_expert_gate",),
    "in_proj": ("mixer.in_proj", "mamba.in_proj", "conv.in_proj"),  # Bamba: Mamba-2 is `mamba`; LFM2's `conv`
    "x_proj": ("mixer.x_proj", "mamba.x_proj"),  # Jamba: the Mamba-1 mixer is `mamba`
    "dt_proj": ("mixer.dt_proj", "mamba.dt_proj"),
    "out_proj": ("mixer.out_proj", "mamba.out_proj", "linear_attn.out_proj", "conv.out_proj", "self_attn.out_proj"),
    "qkv_proj": ("self_attn.qkv_proj",),  # MiniMax-Text-01's lightning attention (Phi-3's is a fused q/k/v)
    "output_gate": ("self_attn.output_gate",),
    "attn_gate_proj": ("self_attn.gate_proj",),  # AFMoE's attention gate
    "in_proj_qkvz": ("linear_attn.in_proj_qkvz",),  # Qwen3-Next's Gated DeltaNet
    "in_proj_ba": ("linear_attn.in_proj_ba",),
    "in_proj_qkv": ("linear_attn.in_proj_qkv",),  # Qwen3.5's Gated DeltaNet: the same projections apart
    "in_proj_z": ("linear_attn.in_proj_z",),
    "in_proj_b": ("linear_attn.in_proj_b",),
    "in_proj_a": ("linear_attn.in_proj_a",),
    "f_a_proj": ("self_attn.forget_gate.f_a_proj",),  # Kimi Delta Attention's low-rank forget and output gates
    "f_b_proj": ("self_attn.forget_gate.f_b_proj",),
    "b_proj": ("self_attn.b_proj",),
    "g_a_proj": ("self_attn.g_a_proj",),
    "g_b_proj": ("self_attn.g_b_proj",),
    # Zamba2's per-layer adapters and block output, under the names _zamba_layers indexes them by
    **{name: (name,) for name in (f"{p}{part}" for p in ("q", "k", "v", "gate_up") for part in ADAPTER_PARTS)},
    "block_out": ("block_out",),
    "per_layer_input_gate": ("per_layer_input_gate",),  # Gemma-4's per-layer input
    "per_layer_projection": ("per_layer_projection",),
}
CONV1D = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")  # GPT-2 stores in × out
CONV1D_TYPES = ("gpt2",)  # StarCoder2's mlp.c_fc / c_proj are nn.Linear (out × in)
# fused tensors: module path → the roles it concatenates along the output features, in order
FUSED: dict[str, tuple[str, ...]] = {
    "self_attention.query_key_value": ("q_proj", "k_proj", "v_proj"),
    "attn.c_attn": ("q_proj", "k_proj", "v_proj"),
    "self_attn.qkv_proj": ("q_proj", "k_proj", "v_proj"),
    "norm_attn_norm.attn.Wqkv": ("q_proj", "k_proj", "v_proj"),  # DBRX
    "attn.Wqkv": ("q_proj", "k_proj", "v_proj"),  # MPT
    "mlp.gate_up_proj": ("gate_proj", "up_proj"),
    "shared_mlp.input_linear": ("shared_gate_proj", "shared_up_proj"),  # GraniteMoeHybrid: gate then up
}
# the same fused tensor under a layer's other roles: GraniteMoeHybrid without routed experts (its shared_mlp is the
# dense MLP, roles gate_proj / up_proj)
FUSED_DENSE: dict[str, tuple[str, ...]] = {"shared_mlp.input_linear": ("gate_proj", "up_proj")}
# routed experts: role → (per-expert paths with {e}, stacked paths); stacked gate_up holds gate then up
EXPERT_PARENTS = ("mlp.experts", "block_sparse_moe.experts", "feed_forward.experts", "mixer.experts", "experts")
PER_EXPERT_NAMES = {"gate_proj": ("gate_proj", "w1"), "up_proj": ("up_proj", "w3"), "down_proj": ("down_proj", "w2")}
INTERLEAVED_GATE_UP = ("gpt_oss",)  # gate_up columns alternate gate, up (transformers GptOssExperts): I groups
# fused q/k/v stored one group per KV head (each its queries, then its key and value head): transformers'
# FalconAttention (new decoder architecture; [heads, 3, head_dim] without multi-query) and BloomAttention._reshape
GROUPED_QKV = ("self_attention.query_key_value",)
STACKED_IN_OUT = ("gpt_oss", "llama4_text")  # stacked experts multiply x @ W[e]: in × out per expert
# experts concatenated along the first axis of one 2-D tensor, [experts × I, H] (DBRX's ffn.experts.mlp): role →
# (module path, stored in × out). Expert e is rows e·I … (e+1)·I; w1 (gate) and v1 (up) are out × in per expert, w2
# (down) is in × out (the expert's I rows of H columns, multiplied as h @ w2[e])
FLAT_EXPERTS = {
    "gate_proj": ("ffn.experts.mlp.w1", False),
    "up_proj": ("ffn.experts.mlp.v1", False),
    "down_proj": ("ffn.experts.mlp.w2", True),
}
# module paths as hub checkpoints store them → the path transformers ≥ 5 loads them under (its conversion_mapping.py,
# "granitemoe", which granitemoehybrid and granitemoeshared share; "exaone"): indexed under the loaded path, so every layout
# lookup below serves both spellings
HUB_RENAMES = {
    "block_sparse_moe.input_linear": "block_sparse_moe.experts.gate_up_proj",  # [E, 2I, H]: gate then up
    "block_sparse_moe.output_linear": "block_sparse_moe.experts.down_proj",  # [E, H, I]
    "block_sparse_moe.router.layer": "block_sparse_moe.router",  # [E, H]
    # EXAONE-3 / 3.5 ("exaone": its hub checkpoints' transformer.h.<i> layers loaded as Llama's)
    "attn.attention.q_proj": "self_attn.q_proj",
    "attn.attention.k_proj": "self_attn.k_proj",
    "attn.attention.v_proj": "self_attn.v_proj",
    "attn.attention.out_proj": "self_attn.o_proj",
    "mlp.c_fc_0": "mlp.gate_proj",
    "mlp.c_fc_1": "mlp.up_proj",
}


@dataclass(frozen=True)
class Located:
    tensor: str
    rows: tuple[int, int] | None = None  # output features [start, stop) of a fused tensor
    transpose: bool = False  # stored in × out
    expert: int | None = None  # index into a stacked [experts, …] tensor
    # a fused tensor stored as `groups` equal blocks along the output features, each holding 1/groups of every role's
    # rows in role order (the role's rows [start, stop) of the roles side by side: start/groups … stop/groups of each
    # block); 0: side by side. gpt-oss's gate/up: a block per row pair; BLOOM / Falcon's query_key_value: per KV head
    groups: int = 0
    flat: int = 0  # experts concatenated along axis 0 of a 2-D tensor (DBRX): their count; 0 = a 3-D stack or none


def expert_shape(loc: Located, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A stored tensor's shape as [experts, …]: a flat [experts × rows, cols] tensor split into its experts."""
    if loc.flat and len(shape) == 2 and shape[0] % loc.flat == 0:
        return (loc.flat, shape[0] // loc.flat, shape[1])
    return tuple(shape)


def _layer_linears(model: ModelConfig, layer: int) -> Mapping[str, Linear]:
    return model.blocks[layer].linears(model.hidden)


# a multimodal wrapper's vision encoder and projector (Gemma-3 SigLIP, Llama-4, Pixtral, Qwen-VL): never a traced op's
# weight, and their layers use the language model's module paths (`vision_model.….layers.0.self_attn.q_proj`)
NOT_TRACED = re.compile(r"(^|\.)(vision_tower|vision_model|multi_modal_projector|visual)\.")


# LongCat-Flash (HF LongcatFlashDecoderLayer): a layer's two sublayers are `self_attn.<s>` / `mlps.<s>` (and their
# norms), which hwsim runs as layers 2i + s; the layer's shortcut MoE (`mlp.experts`, `mlp.router.classifier`) is
# layer 2i's MoE, whose shared expert is sublayer 0's dense MLP (readers._longcat_flash)
SUBLAYER = re.compile(r"^(self_attn|mlps|input_layernorm|post_attention_layernorm)\.(\d+)\.(.+)$")
SUBLAYER_TYPES = {"longcat_flash": 2}  # model_type → sublayers a checkpoint layer holds


# Zamba2 (HF Zamba2HybridLayer): a hybrid layer's `shared_transformer` (its block; tied blocks stored once, at the
# first hybrid layer of each of the num_mem_blocks) and `linear` are hwsim's block layer (Layer.concat) before the
# layer's Mamba-2 (`mamba_decoder.mamba`); a block's per-layer adapters live in the stored block's lists, indexed by
# hybrid layer (`linear_q_adapter_list.<j>.0` down, `.1` up; the MLP's `gate_up_proj_adapter_list`)
ZAMBA_ADAPTER = re.compile(r"^(?:self_attn\.linear_([qkv])|feed_forward\.(gate_up)_proj)_adapter_list\.(\d+)\.([01])$")
SHARED_BLOCK_PATHS = {"feed_forward.gate_up_proj": "mlp.gate_up_proj", "feed_forward.down_proj": "mlp.down_proj"}


def _zamba_layers(model: ModelConfig, layer: int, path: str) -> list[tuple[int, str]]:
    """Zamba2's checkpoint (layer, path) → hwsim keys (ZAMBA_ADAPTER, SHARED_BLOCK_PATHS)."""
    # hwsim index of each checkpoint layer's Mamba-2; of each hybrid layer's block
    mamba: list[int] = []
    blocks: list[int] = []
    for i, b in enumerate(model.blocks):
        (blocks if b.concat else mamba).append(i)
    if layer >= len(mamba):
        return []
    at = mamba[layer]
    if path == "linear":
        return [(at - 1, "block_out")]
    if path.startswith("mamba_decoder."):
        return [(at, path.removeprefix("mamba_decoder."))]
    if not path.startswith("shared_transformer."):
        return [(at, path)]
    path = path.removeprefix("shared_transformer.")
    adapter = ZAMBA_ADAPTER.match(path)
    if adapter:
        j = int(adapter[3])
        name = adapter[1] or adapter[2]
        return [(blocks[j], f"{name}{ADAPTER_PARTS[int(adapter[4])]}")] if j < len(blocks) else []
    owners = sum(not model.blocks[i].tied for i in blocks)  # num_mem_blocks
    own = blocks.index(at - 1)  # this hybrid layer's ordinal: the stored block's
    path = SHARED_BLOCK_PATHS.get(path, path)
    return [(i, path) for j, i in enumerate(blocks) if owners and j % owners == own % owners]


def _hwsim_layers(model: ModelConfig | None, layer: int, path: str) -> list[tuple[int, str]]:
    """The (hwsim layer, module path) keys a checkpoint's (layer, path) serves: itself, a LongCat-Flash sublayer's,
    or Zamba2's (_zamba_layers)."""
    if model is not None and model.model_type == "zamba2":
        return _zamba_layers(model, layer, path)
    per = SUBLAYER_TYPES.get(model.model_type, 0) if model is not None else 0
    if not per:
        return [(layer, path)]
    m = SUBLAYER.match(path)
    if m is None:
        return [(per * layer, path)]
    parent = "mlp" if m[1] == "mlps" else m[1]
    return [(per * layer + int(m[2]), f"{parent}.{m[3]}")]


def index_tensors(names: Iterable[str], model: ModelConfig | None = None) -> dict[tuple[int, str], str]:
    """(layer, module path) → tensor name, for every `….weight` (or bare stacked-expert) tensor of the language model;
    `model`: the layers hwsim runs when they are not the checkpoint's (SUBLAYER_TYPES)."""
    out: dict[tuple[int, str], str] = {}
    for name in names:
        m = None if NOT_TRACED.search(name) else LAYER.match(name)
        if m:
            path = m[2][: -len(".weight")] if m[2].endswith(".weight") else m[2]
            for key in _hwsim_layers(model, int(m[1]), HUB_RENAMES.get(path, path)):
                out.setdefault(key, name)
    return out


def locate(
    model: ModelConfig, index: Mapping[tuple[int, str], str], layer: int, role: str, expert: int = 0
) -> list[Located]:
    """Where role `role` of layer `layer` is stored (one entry; per-expert storage: expert `expert`)."""
    linears = _layer_linears(model, layer)
    if role not in linears:
        raise HwsimError(
            f"layer {layer} of {model.name} has no {role!r} (it has {', '.join(linears)})", field="checkpoint"
        )
    routed = linears[role].copies > 1
    for path in () if routed else OWN.get(role, ()):
        if (layer, path) in index:
            return [Located(index[layer, path], transpose=path in CONV1D and model.model_type in CONV1D_TYPES)]
    for path, parts in () if routed else [*FUSED.items(), *FUSED_DENSE.items()]:
        if role in parts and (layer, path) in index:
            widths = [linears[p].n for p in parts if p in linears]
            start = sum(widths[: parts.index(role)])
            attn = model.blocks[layer].attention
            kv = attn.kv_heads if path in GROUPED_QKV and attn is not None else 1
            return [
                Located(
                    index[layer, path],
                    rows=(start, start + linears[role].n),
                    transpose=path in CONV1D and model.model_type in CONV1D_TYPES,
                    groups=kv if kv > 1 else 0,
                )
            ]
    if routed and role in FLAT_EXPERTS and (layer, FLAT_EXPERTS[role][0]) in index:
        path, in_out = FLAT_EXPERTS[role]
        return [Located(index[layer, path], expert=expert, transpose=in_out, flat=linears[role].copies)]
    if routed and role in PER_EXPERT_NAMES:
        for parent in EXPERT_PARENTS:
            for short in PER_EXPERT_NAMES[role]:
                if (layer, f"{parent}.{expert}.{short}") in index:
                    return [Located(index[layer, f"{parent}.{expert}.{short}"])]
            # non-gated experts (Nemotron-H) stack up_proj [E, I, H] alone
            gated = "gate_proj" in linears
            stacked = "down_proj" if role == "down_proj" else "gate_up_proj" if gated else "up_proj"
            if (layer, f"{parent}.{stacked}") in index:
                n = linears[role].n
                rows = None if role == "down_proj" or not gated else ((0, n) if role == "gate_proj" else (n, 2 * n))
                interleaved = rows is not None and model.model_type in INTERLEAVED_GATE_UP
                return [
                    Located(
                        index[layer, f"{parent}.{stacked}"],
                        rows=rows,
                        expert=expert,
                        transpose=model.model_type in STACKED_IN_OUT,
                        groups=n if interleaved else 0,
                    )
                ]
    raise HwsimError(
        f"no tensor for {role} of layer {layer} (looked for "
        f"{', '.join(OWN.get(role, ()))[:120] or role})"
        + closest(f"layers.{layer}.{role}", [f"layers.{k[0]}.{k[1]}" for k in index]),
        field="checkpoint",
    )


def orient(w: np.ndarray, loc: Located) -> np.ndarray:
    """A stored 2-D weight (one expert's, for stacked experts) as the located role's out × in matrix."""
    if loc.transpose:
        w = w.T
    if loc.rows is not None:
        start, stop = loc.rows
        if loc.groups:  # each block's share of the role's rows, blocks in order
            g = loc.groups
            w = w.reshape(g, -1, w.shape[1])[:, start // g : stop // g].reshape(-1, w.shape[1])
        else:
            w = w[start:stop]
    return w


def stored_shape(loc: Located, n: int, k: int, experts: int, shape: tuple[int, ...]) -> bool:
    """Whether a tensor of `shape` can hold the located n × k weight (per expert: `experts` stacked)."""
    if loc.expert is not None:
        if loc.flat and loc.flat != experts:
            return False
        shape = expert_shape(loc, shape)
        if len(shape) != 3 or shape[0] != experts:
            return False
        shape = shape[1:]
    if len(shape) != 2:
        return False
    out, inp = (shape[1], shape[0]) if loc.transpose else shape
    if inp != k:
        return False
    if loc.rows is None:
        return out == n
    g = loc.groups or 1
    return loc.rows[1] <= out and out % g == 0 and loc.rows[0] % g == 0 and loc.rows[1] % g == 0


def match_checkpoint(model: ModelConfig, names_shapes: Mapping[str, tuple[int, ...]]) -> list[dict]:
    """Every linear weight of `model` located in a checkpoint (tensor name → shape, e.g. from
    `checkpoint_tensors`): one row per (layer, role) with the tensor, the expected and stored shapes and
    `ok`. Raises with the first missing role; shape mismatches are reported in the rows."""
    index = index_tensors(names_shapes, model)
    rows = []
    for i in range(len(model.blocks)):
        for role, lin in _layer_linears(model, i).items():
            loc = locate(model, index, i, role)[0]
            shape = tuple(names_shapes[loc.tensor])
            if loc.expert is None and lin.copies > 1:  # one tensor per expert: every expert present
                found = sum(1 for e in range(lin.copies) if _has_expert(index, i, role, e))
                ok = found == lin.copies and stored_shape(loc, lin.n, lin.k, 1, shape)
            else:
                ok = stored_shape(loc, lin.n, lin.k, lin.copies, shape)
            rows.append(
                {
                    "layer": i,
                    "role": role,
                    "tensor": loc.tensor,
                    "expected": (lin.copies, lin.n, lin.k),
                    "stored": shape,
                    "ok": bool(ok),
                }
            )
    return rows


def _has_expert(index: Mapping[tuple[int, str], str], layer: int, role: str, e: int) -> bool:
    return any((layer, f"{p}.{e}.{s}") in index for p in EXPERT_PARENTS for s in PER_EXPERT_NAMES[role])
