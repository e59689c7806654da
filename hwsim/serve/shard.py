"""What one device holds and computes under tensor (tp), pipeline (pp) and expert (ep) parallelism.

- Tensor parallel (Megatron-LM, Shoeybi et al. 2019, §3): attention heads and the MLP's intermediate
  width are split over tp devices (column-parallel q/k/v and gate/up, row-parallel o_proj and down_proj);
  the vocabulary of the embedding and lm_head is split too (vocab-parallel). KV heads are split when tp
  divides them and replicated (one per device) when tp is a multiple of them, as vLLM does; MLA's
  latent projections and cache are replicated. Norms are replicated.
- Expert parallel: the routed experts are split over ep devices (ep must be 1 or tp: the same group of
  devices, as vLLM's --enable-expert-parallel); each device holds experts/ep whole experts. Routing is
  balanced (as the trace assumes); a device's share of a token's top-k picks is taken as ceil(k/ep)
  (exact when ep divides k, an upper bound otherwise). Shared experts stay tensor parallel.
- Pipeline parallel: layers are split into pp contiguous stages of equal size (the first stages take one
  more when pp does not divide the layers); stage 0 also holds the embeddings, the last stage the final
  norm and lm_head (a tied lm_head is a second copy of the embedding there when pp > 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from hwsim.core.precision import OperandType
from hwsim.engine.cost import format_exception_bytes, weight_row_scale_bytes
from hwsim.errors import HwsimError
from hwsim.workload import kv
from hwsim.workload.blocks import RECURRENT, Attention, Layer
from hwsim.workload.config import ModelConfig


@dataclass(frozen=True)
class Parallel:
    tp: int = 1
    pp: int = 1
    ep: int = 1

    @property
    def devices(self) -> int:
        return self.tp * self.pp

    def validate(self) -> None:
        for name in ("tp", "pp", "ep"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise HwsimError(f"must be a positive integer, got {v!r}", field=name)
        if self.ep not in (1, self.tp):
            raise HwsimError(
                f"expert parallelism runs over the tensor-parallel group: `ep` must be 1 or `tp` "
                f"({self.tp}), got {self.ep}",
                field="ep",
            )


def _split(value: int, n: int, what: str, model: ModelConfig, field: str) -> int:
    if value % n:
        raise HwsimError(f"{n} does not divide the {value} {what} of {model.name}", field=field)
    return value // n


def _shard_attention(a: Attention, tp: int, model: ModelConfig) -> Attention:
    heads = _split(a.heads, tp, "attention heads", model, "tp")
    if a.mla is not None:
        return replace(a, heads=heads, kv_heads=heads)
    if a.kv_heads % tp == 0:
        kv_heads = a.kv_heads // tp
    elif tp % a.kv_heads == 0:
        kv_heads = 1  # each device keeps a copy of its group's KV head
    else:
        raise HwsimError(
            f"`tp` {tp} neither divides nor is a multiple of the {a.kv_heads} KV heads of {model.name}", field="tp"
        )
    return replace(a, heads=heads, kv_heads=kv_heads)


def _shard_layer(layer: Layer, par: Parallel, model: ModelConfig) -> Layer:
    if isinstance(layer.mixer, RECURRENT) or layer.ssm is not None:
        raise HwsimError(
            f"{model.name} has recurrent (Mamba / Gated DeltaNet / Kimi Delta Attention / short-convolution / "
            "lightning) layers: their tensor parallelism is not modelled; use `pp`",
            field="tp",
        )
    mixer = None if layer.mixer is None else _shard_attention(layer.mixer, par.tp, model)
    mlp = layer.mlp
    if mlp is not None:
        if mlp.is_moe and par.ep > 1:
            mlp = replace(
                mlp,
                experts=_split(mlp.experts, par.ep, "routed experts", model, "ep"),
                top_k=math.ceil(mlp.top_k / par.ep),
                zero_experts=math.ceil(mlp.zero_experts / par.ep),  # LongCat-Flash: their share, as the experts'
                shared=_split(mlp.shared, par.tp, "shared-expert intermediate width", model, "tp"),
            )
        else:
            mlp = replace(
                mlp,
                intermediate=_split(mlp.intermediate, par.tp, "MLP intermediate width", model, "tp"),
                shared=_split(mlp.shared, par.tp, "shared-expert intermediate width", model, "tp"),
            )
    return replace(layer, mixer=mixer, mlp=mlp)


def check_kv_sharing(model: ModelConfig, pp: int) -> None:
    """Refuse `pp` stages that put a KV-sharing layer (Gemma-4's last num_kv_shared_layers: Attention.kv_reuse,
    reading the cache of the last earlier layer of its kind, sliding or full) on another stage than the layer whose
    cache it reads: that stage would attend over K/V it does not hold (it caches none of its own), and a cache read
    across devices is not modelled. Gemma-4-E2B (layers 15-34 read layers 13 and 14) takes no `pp` above 1."""
    if pp == 1 or not any(isinstance(x.mixer, Attention) and x.mixer.kv_reuse for x in model.blocks):
        return
    ranges = stage_ranges(model.layers, pp)
    stage = [s for s, (a, b) in enumerate(ranges) for _ in range(a, b)]
    source: dict[tuple, int] = {}  # (window, chunk) → the last layer of that kind with a cache of its own
    for i, layer in enumerate(model.blocks):
        attn = layer.mixer
        if not isinstance(attn, Attention):
            continue
        kind = (attn.window, attn.chunk)
        if not attn.kv_reuse:
            source[kind] = i
            continue
        j = source.get(kind)
        if j is not None and stage[j] != stage[i]:
            raise HwsimError(
                f"`pp` {pp} puts layer {i} of {model.name} on pipeline stage {stage[i] + 1} and layer {j}, whose "
                f"KV cache it reads (KV sharing), on stage {stage[j] + 1}: a cache read across stages is not "
                "modelled; use fewer stages or `tp`",
                field="pp",
            )


def shard_model(model: ModelConfig, par: Parallel) -> ModelConfig:
    """The model as one tensor/expert-parallel device sees it (all its layers; stages cut it further). Refuses a
    pipeline split that parts a KV-sharing layer from the cache it reads (check_kv_sharing)."""
    par.validate()
    check_kv_sharing(model, par.pp)
    if par.tp == 1 and par.ep == 1:
        return model
    kinds = {layer: _shard_layer(layer, par, model) for layer in dict.fromkeys(model.blocks)}
    emb = replace(model.embedding, vocab=-(-model.embedding.vocab // par.tp))
    return replace(
        model,
        blocks=tuple(kinds[layer] for layer in model.blocks),
        embedding=emb,
        name=f"{model.name} (tp{par.tp}{f' ep{par.ep}' if par.ep > 1 else ''} shard)",
    )


def stage_ranges(layers: int, pp: int) -> list[tuple[int, int]]:
    """Contiguous layer ranges [a, b) of pp stages; the first `layers % pp` stages hold one more."""
    if pp > layers:
        raise HwsimError(f"`pp` {pp} exceeds the {layers} layers of the model", field="pp")
    sizes = [layers // pp + (s < layers % pp) for s in range(pp)]
    ends = np.cumsum(sizes).tolist()
    return [(e - n, e) for e, n in zip(ends, sizes)]


def stage_params(shard: ModelConfig, stage: tuple[int, int], pp: int) -> int:
    """Parameters one device of this stage holds (its layers, plus embeddings / lm_head at the ends)."""
    a, b = stage
    br = shard.param_breakdown()
    out = sum(layer.params(shard.hidden, shard.norm) for layer in shard.blocks[a:b])
    if a == 0:
        out += br["embedding"] + br["positions"] + br["token_types"] + br["embedding_norm"] + br["per_layer_embedding"]
    if b == shard.layers:
        out += br["final_norm"] + br["pooler"] + br["lm_head"]
        if pp > 1 and shard.tie_embeddings and not shard.encoder:
            out += shard.vocab * shard.hidden  # the last stage keeps its own copy of the tied table
    return out


def stage_weight_bytes(
    shard: ModelConfig, ranges: list[tuple[int, int]], pp: int, weights: OperandType, own: bool
) -> list[int]:
    """Bytes of the weights one device of each stage (`ranges`) holds: its parameters (stage_params) at `weights`'
    storage bits plus the scales of its rows that are not whole groups (hwsim.engine.cost.weight_row_scale_bytes,
    the rule of simulate's memory footprint: a group never spans two rows, so the stages' weights sum to the whole
    model's, a last stage's copy of a tied table aside); a quantized checkpoint costed at its own formats (`own`,
    `weights` its main format) stores each op at its own format (hwsim.engine.cost.format_exception_bytes, the
    footprint's rule too: a GPTQ lm_head kept in fp16 on the last stage, an fp8 checkpoint's bf16 head)."""
    plain = [
        stage_params(shard, r, pp) * weights.bits / 8 + weight_row_scale_bytes(shard, weights, r, pp) for r in ranges
    ]
    if not own or shard.weight_formats is None:
        return [math.ceil(w) for w in plain]
    from hwsim.workload import trace

    ops = trace(shard, "decode", batch=1, context=1).ops
    layer = ops["layer"].to_numpy()
    inner = np.flatnonzero(layer >= 0)
    first = int(inner[0]) if len(inner) else len(layer)
    # rows outside the layers: the embeddings before the first layer (stage 0), the rest after the last
    where = np.where(layer >= 0, layer, np.where(np.arange(len(layer)) < first, -1, shard.layers))
    out = []
    for (a, b), w in zip(ranges, plain):
        keep = (where >= (-1 if a == 0 else a)) & (where < (shard.layers + 1 if b == shard.layers else b))
        tied_copy = pp > 1 and b == shard.layers  # the last stage's own copy of a tied table (stage_params)
        out.append(math.ceil(w + format_exception_bytes(shard, ops[keep], weights, tied_copy)))
    return out


def stage_kv_bytes_per_token(shard: ModelConfig, stage: tuple[int, int], kv_bits: Any) -> float:
    """K and V one cached token costs one device of this stage (the trace's KV rule; SSM layers add none)."""
    return kv.token_bytes(shard.blocks[stage[0] : stage[1]], kv_bits)


def stage_state_bytes(shard: ModelConfig, stage: tuple[int, int], kv_bits: float) -> float:
    """The fixed recurrent state (SSM layers: scan state + conv window) of one sequence on one device of this stage."""
    return kv.state_elems(shard.blocks[stage[0] : stage[1]]) * kv_bits / 8


def all_reduces(layer: Layer, par: Parallel) -> tuple[int, int]:
    """(all-reduces, all-to-all pairs) one layer's forward pass needs across its tensor-parallel group:
    one after the mixer's row-parallel output, one after the MLP's (one in all when both read the same
    input: parallel residual); an expert-parallel MoE layer dispatches and combines with two all-to-alls
    instead, plus an all-reduce for its tensor-parallel shared expert."""
    if layer.mlp is None:
        return 1, 0
    if layer.mlp.is_moe and par.ep > 1:
        return 1 + (1 if layer.mlp.shared else 0), 1
    return (1 if layer.parallel else 2), 0
