"""Model configurations read straight from Hugging Face `config.json` fields (no `transformers`).

A model is its blocks (hwsim.workload.blocks): one Layer per decoder layer plus the embedding; the
per-type readers (hwsim.workload.readers) map each `model_type` onto them, following the HF modelling
code and its configuration defaults. The scalar fields (hidden, heads, intermediate, …) summarise the
model for reports; parameters, traces and the KV cache are computed from the blocks.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable

from hwsim.errors import MAX_LIST_MESSAGE, HwsimError, HwsimWarning
from hwsim.fileio import read_mapping
from hwsim.paths import require_name, resolve_preset
from hwsim.workload.blocks import NORM_PARAMS, Attention, Embedding, Layer, Linear, unquantized_modules
from hwsim.workload.readers import (
    NOT_MODELLED,
    READERS,
    WRAPPERS,
    AskedDict,
    Fields,
    language_model,
    near_misses,
)
from hwsim.workload.quant import (
    QUANTIZABLE_KINDS,
    WeightFormats,
    activation_field,
    activation_format,
    checkpoint_dtype,
    hf_modules,
    kv_cache_format,
    weight_formats,
)

SUPPORTED_TYPES = tuple(READERS) + tuple(WRAPPERS)  # a wrapper (gemma3, llama4, mistral3): its language model


@dataclass(frozen=True)
class ModelConfig:
    name: str
    model_type: str
    hidden: int
    blocks: tuple[Layer, ...]
    embedding: Embedding
    norm: str  # "rmsnorm" (weight), "layernorm" (weight + bias) or "layernorm_weight" (LayerNorm, no bias)
    activation: str
    encoder: bool = False  # BERT: token-type embeddings, embedding LayerNorm, pooler, no LM head
    default_weight_format: str = "fp16"
    # the checkpoint's floating-point dtype (torch_dtype / dtype: bf16, fp16, fp32), quantized or not: what its
    # unquantized weights, activations and a 16-bit KV cache are stored in
    dtype: str = field(default="fp16", compare=False)
    # a quantized checkpoint's formats (quantization_config or GGUF tensor types): per-op exceptions included
    weight_formats: WeightFormats | None = field(default=None, compare=False)
    # the KV-cache format its quantization_config states (hwsim.workload.quant.kv_cache_format); None: none stated,
    # a 16-bit cache. What a precision's kv None stands for (hwsim.engine.per_op.model_kv)
    kv_format: str | None = field(default=None, compare=False)
    # the activations its quantized linear layers take, where its quantization_config states them
    # (hwsim.workload.quant.activation_format: nvfp4 for a ModelOpt NVFP4 W4A4 export); None: 16-bit. What a
    # precision's activations None stands for (hwsim.engine.per_op.model_activations)
    activation_format: str | None = field(default=None, compare=False)
    # the file and quantization_config field that state activation_format (hwsim.workload.quant.activation_field),
    # as a refusal of those activations names them (no option was given)
    activation_source: tuple[str | None, str] | None = field(default=None, compare=False)
    source: str = ""
    path: str | None = None  # where it was read from
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    # ---- summary fields (of the largest layer: the MoE one when layers differ) ----
    @property
    def _rep(self) -> Layer:
        return max(self.blocks, key=lambda layer: layer.params(self.hidden, self.norm))

    @property
    def _attn(self) -> Attention | None:
        return next((b.attention for b in self.blocks if b.attention is not None), None)

    @property
    def layers(self) -> int:
        return len(self.blocks)

    @property
    def vocab(self) -> int:
        return self.embedding.vocab

    @property
    def tie_embeddings(self) -> bool:
        return self.embedding.tied

    @property
    def heads(self) -> int:
        return self._attn.heads if self._attn else 0

    @property
    def kv_heads(self) -> int:
        return self._attn.kv_heads if self._attn else 0

    @property
    def head_dim(self) -> int:
        return self._attn.head_dim if self._attn else 0

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def intermediate(self) -> int:
        mlp = self._rep.mlp
        return mlp.intermediate if mlp else 0

    @property
    def num_experts(self) -> int:
        return max((b.mlp.experts for b in self.blocks if b.mlp), default=1)

    @property
    def experts_per_token(self) -> int:
        return max((b.mlp.top_k for b in self.blocks if b.mlp and b.mlp.is_moe), default=1)

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 1

    @property
    def norm_params_per_elem(self) -> int:
        return NORM_PARAMS[self.norm]

    # ---- parameters (exact, per HF module layout) ----
    def layer_linears(self, layer: int) -> dict[str, Linear]:
        """Linear ops of one layer: role → Linear (k in, n out, bias, copies = experts stored)."""
        return self.blocks[layer].linears(self.hidden)

    def linear_shapes(self) -> dict[str, tuple[int, int, bool]]:
        """Linear ops of the largest layer: role → (in_features k, out_features n, has_bias). Experts listed once."""
        return {r: (lin.k, lin.n, lin.bias) for r, lin in self._rep.linears(self.hidden).items()}

    def role_params(self, role: str, layer: int) -> int | None:
        """Parameters of `role` in `layer`, every expert included; None if the layer has no such linear."""
        lin = self.layer_linears(layer).get(role)
        return None if lin is None else lin.params

    def param_breakdown(self) -> dict[str, int]:
        """Exact parameter counts by group; `total` matches HF's `num_parameters()`."""
        return dict(self._breakdown)

    @cached_property
    def _breakdown(self) -> dict[str, int]:
        # counted once per config (a frozen dataclass of frozen blocks): every engine call asks for `params`
        h, emb, npe = self.hidden, self.embedding, self.norm_params_per_elem
        per_kind = {layer: layer.params(h, self.norm) for layer in set(self.blocks)}
        out = {
            "embedding": emb.vocab * h,
            "positions": emb.positions * h,
            "token_types": emb.token_types * h,
            "embedding_norm": h * npe if self.encoder or emb.norm else 0,
            "per_layer_embedding": emb.per_layer_params(h, len(self.blocks)),  # Gemma-4 E2B/E4B
            "per_layer": per_kind[self._rep],
            "layers": sum(per_kind[layer] for layer in self.blocks),
            "final_norm": h * npe if emb.final_norm and not self.encoder else 0,
            "pooler": h * h + h if self.encoder else 0,
            "lm_head": 0 if emb.tied or self.encoder else emb.vocab * (h + emb.head_bias),
        }
        out["total"] = sum(v for k, v in out.items() if k != "per_layer")
        return out

    def op_weight_formats(self, op_names: Iterable[object], kinds: Iterable[object] | None = None) -> list[str] | None:
        """The weight format of each op as the checkpoint stores it (None for an unquantized model, whose
        weights take whatever precision the caller gives). `kinds`: each op's kind, where known; an op that is no
        linear layer or embedding (a norm's gamma and bias, gpt-oss's sinks) keeps the checkpoint's dtype whatever
        its quantization_config says: a quantization method replaces linear layers' weights only, and vLLM builds
        RMSNorm / LayerNorm parameters in the model dtype (vllm/model_executor/layers/layernorm.py)."""
        if self.weight_formats is None:
            return None
        got = [self.weight_formats.format_of(hf_modules(str(n))) for n in op_names]
        return got if kinds is None else self.of_kinds(got, kinds)

    def of_kinds(self, formats: list[str], kinds: Iterable[object]) -> list[str]:
        """`formats` (one per op, as the quantization_config's rules give them) with each op that is no linear layer
        or embedding (`kinds`: quant.QUANTIZABLE_KINDS) at the checkpoint's dtype (op_weight_formats)."""
        return [f if str(k) in QUANTIZABLE_KINDS else self.dtype for f, k in zip(formats, kinds, strict=True)]

    @property
    def params(self) -> int:
        return self._breakdown["total"]

    @property
    def active_params_per_token(self) -> int:
        """Parameters touched per token: all but the routed experts a token is not sent to."""
        return self.params - sum(layer.idle_params(self.hidden) for layer in self.blocks)


def _activation_source(cfg: dict, file: object) -> tuple[str | None, str] | None:
    got = activation_field(cfg)
    return None if got is None else (None if file is None else str(file), got)


def default_weight_format(cfg: dict, file: object = None) -> str:
    """The model's own weight precision: quantization_config if present, else its dtype (checkpoint_dtype)."""
    q = weight_formats(cfg, file)
    return checkpoint_dtype(cfg) if q is None else q.default


def from_hf_dict(
    cfg: dict, *, name: str | None = None, file: object = None, source: str = "", formats: WeightFormats | None = None
) -> ModelConfig:
    """Build a ModelConfig from the fields of a Hugging Face config.json."""
    if not isinstance(cfg, dict):
        raise HwsimError("expected a mapping of config fields", file=file)
    model_type = cfg.get("model_type")
    if isinstance(model_type, str) and model_type in NOT_MODELLED:
        raise HwsimError(f"{model_type} is not modelled: {NOT_MODELLED[model_type]}", file=file, field="model_type")
    if model_type not in SUPPORTED_TYPES:
        # no "did you mean": a near name is a different architecture (qwen3 read as qwen2 is wrong)
        raise HwsimError(
            f"unsupported model_type {model_type!r}; supported: {', '.join(SUPPORTED_TYPES)}",
            file=file,
            field="model_type",
            limit=MAX_LIST_MESSAGE,
        )
    where = f"{file}: " if file is not None else ""
    text, untraced = language_model(cfg, file)
    if untraced:
        warnings.warn(where + untraced, HwsimWarning, stacklevel=2)
    model_type = text["model_type"]
    asked = AskedDict(text)
    fields = Fields(asked, file)
    inside = "text_config." if text is not cfg and isinstance(cfg.get("text_config"), dict) else ""
    try:
        if text.get("max_position_embeddings") is not None:
            fields.int("max_position_embeddings")
        blocks, emb, norm, info = READERS[model_type](fields, model_type)
    except HwsimError as exc:  # a wrapper's field is named where it is written: text_config.hidden_size
        if not inside or exc.field is None:
            raise
        raise HwsimError(exc.detail, file=exc.file, field=inside + exc.field) from None
    for given, meant in near_misses(asked):
        warnings.warn(
            f"{where}{inside}{given}: not a field; did you mean {meant}? ({meant} took its default)",
            HwsimWarning,
            stacklevel=2,
        )
    dtype_fields = cfg if text is cfg else {**text, **cfg}  # a wrapper's torch_dtype / quantization_config
    return ModelConfig(
        name=name or cfg.get("_name_or_path") or model_type,
        model_type=model_type,
        hidden=info["hidden"],
        blocks=tuple(blocks),
        embedding=emb,
        norm=norm,
        activation=info["activation"],
        encoder=info.get("encoder", False),
        default_weight_format=formats.default if formats else default_weight_format(dtype_fields, file),
        dtype=checkpoint_dtype(dtype_fields),
        weight_formats=formats or weight_formats(dtype_fields, file, unquantized_modules(tuple(blocks), model_type)),
        kv_format=kv_cache_format(dtype_fields, file),
        activation_format=activation_format(dtype_fields, file),
        activation_source=_activation_source(dtype_fields, file),
        source=source,
        path=None if file is None else str(file),
        extra={k: v for k, v in cfg.items() if k not in ("name", "source")},
    )


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long to be a path
        return False


def _refuse_hub_id(text: str) -> None:
    """`meta-llama/Llama-3.1-8B` names a Hugging Face hub repository; hwsim reads local files only."""
    import re

    if (
        re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", text)
        and not _is_dir(Path(text))
        and Path(text).suffix not in (".yaml", ".yml", ".json")
    ):
        raise HwsimError(
            f"looks like a Hugging Face hub id; hwsim does not download: give a local folder with its "
            f"config.json (e.g. `huggingface-cli download {text} config.json --local-dir "
            f"{text.split('/')[-1]}`, then give the folder {text.split('/')[-1]} as the model)",
            file=text,
        )


HF_QUANT_CONFIG = "hf_quant_config.json"


def model_files(name_or_path: str | Path) -> tuple[Path, ...]:
    """The files `load_model` reads a model from, the main one first: a preset's YAML, a JSON or GGUF file, or a
    checkpoint folder's config.json followed by ModelOpt's hf_quant_config.json where that sits beside it (read
    whenever present: the quantization_config where config.json has none, else compared with config.json's). The one
    rule: load_model reads these and no others, and a sweep's provenance (hwsim.sweep.provenance) records these."""
    text = require_name(name_or_path, "workloads", what="model")
    path = Path(text)
    if _is_dir(path):
        path = path / "config.json"
        if not path.exists():
            raise HwsimError("checkpoint folder has no config.json", file=text)
    elif path.suffix == ".gguf":
        if not path.exists():
            raise HwsimError("no such file", file=text)
    else:
        _refuse_hub_id(text)
        path = resolve_preset(text, "workloads", what="model")
    if path.name != "config.json":
        return (path,)
    side = path.parent / HF_QUANT_CONFIG
    try:
        present = side.is_file()
    except OSError:
        present = False
    return (path, side) if present else (path,)


def _quant_sidecar(config: Path, data: dict, sidecars: tuple[Path, ...]) -> Path | None:
    """ModelOpt's `hf_quant_config.json` beside a checkpoint's config.json (`sidecars`: what `model_files` found
    after config.json), put in `data` as its quantization_config (so the weight and KV-cache formats come from the
    one parser, hwsim.workload.quant); the sidecar's path when it was, else None.

    ModelOpt's HF export (modelopt/torch/export/unified_export_hf.py, export_hf_checkpoint) writes
    {"producer": {"name": "modelopt", ...}, "quantization": {"quant_algo", "kv_cache_quant_algo", "exclude_modules",
    "group_size", ...}} there; releases up to 0.29 write only that file, later ones also config.json's
    quantization_config. vLLM's rule (vllm/transformers_utils/config.py, the quantization_config of get_config): the
    sidecar is read only when config.json has no top-level quantization_config, and ModelConfig's quantization-config
    normalisation then names the method from producer "modelopt" and quant_algo (FP8 → modelopt, NVFP4 →
    modelopt_fp4). So config.json's quantization_config wins where both exist; where they state different formats
    a warning says which one is used."""
    side = next((f for f in sidecars if f.name == HF_QUANT_CONFIG), None)
    if side is None:
        return None
    sidecar = read_mapping(side, what="a ModelOpt quantization config")
    stated = {**sidecar, "quant_method": str(sidecar.get("quant_method") or "modelopt")}
    if data.get("quantization_config") is None:
        data["quantization_config"] = stated
        return side
    _warn_if_sidecar_differs(config, data, side, stated)
    return None


def _warn_if_sidecar_differs(config: Path, data: dict, side: Path, stated: dict) -> None:
    """config.json's quantization_config is used (vLLM's precedence); say so where the sidecar states other formats."""
    try:
        mine = (default_weight_format(data), kv_cache_format(data), activation_format(data))
        theirs = (
            default_weight_format({**data, "quantization_config": stated}),
            kv_cache_format({"quantization_config": stated}),
            activation_format({"quantization_config": stated}),
        )
    except HwsimError:
        return  # a sidecar hwsim cannot read is one vLLM never reads either here
    if mine != theirs:
        show = lambda f: f"weights {f[0]}, KV cache {f[1] or 'fp16'}, activations {f[2] or 'fp16'}"  # noqa: E731
        warnings.warn(
            f"{side}: states {show(theirs)}, but {config.name}'s quantization_config states {show(mine)}; "
            f"{config.name}'s is used (as vLLM reads them)",
            HwsimWarning,
            stacklevel=3,
        )


def load_model(name_or_path: str | Path) -> ModelConfig:
    """A preset name (workloads/NAME.yaml), a YAML preset path, an HF config.json, or a checkpoint folder."""
    path, *sidecars = model_files(name_or_path)
    if path.suffix == ".gguf":
        from hwsim.workload.gguf_model import read_gguf

        cfg, formats = read_gguf(path)
        return from_hf_dict(
            cfg,
            name=str(cfg.pop("name", None) or path.stem),
            file=path,
            formats=formats,
            source=f"GGUF header of {path.name}",
        )
    data = read_mapping(path, what="a model config")
    if path.suffix == ".json":
        folder = path.parent.name if path.name == "config.json" else path.stem
        sidecar = _quant_sidecar(path, data, tuple(sidecars))
        try:
            model = from_hf_dict(data, name=Path(str(data.get("_name_or_path") or folder)).name, file=path)
        except HwsimError as exc:
            field_ = exc.field or ""
            if sidecar is None or not field_.startswith("quantization_config"):
                raise
            # the sidecar's own fields, named in its own file: hf_quant_config.json: quantization.quant_algo
            inner = field_.removeprefix("quantization_config").removeprefix(".") or None
            raise HwsimError(exc.detail, file=sidecar, field=inner) from None
    else:
        model = from_hf_dict(data, name=data.get("name", path.stem), file=path, source=str(data.get("source", "")))
    return model
