"""Generate tests/data/hf_reference.json: what transformers + PyTorch say about each supported model type.

Not part of the test suite and not a runtime dependency (needs `pip install torch==2.13.0 transformers`).
For each type:
- the real config (a preset in hwsim/presets/workloads or tests/data/hf_configs) built on the meta device:
  parameter count, every linear/Conv1D/stacked-expert weight shape (by module path, layer index folded);
- a tiny config of the same type (same fields, small widths) run on CPU with seeded random weights under
  torch's FlopCounterMode: MACs per block group (mixer, mlp, lm_head) for a prefill (logits on all tokens)
  and for one decode step after it.
The pinned test (tests/test_workload_hf_reference.py) compares hwsim with these numbers without torch.

A multimodal wrapper (gemma3, llama4, mistral3) is pinned on its language model: params of the text model class
built from text_config (what hwsim traces), the whole wrapper's class and counts under "wrapper", its checkpoint
names and shapes (vision encoder included, which hwsim's tensor map must pass over) and a tiny text run.

Run: python tests/tools/hf_reference.py  (writes tests/data/hf_reference.json; about 70 s for its 77 entries on the 2-core sandbox)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import torch
import transformers
import yaml
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText

ROOT = Path(__file__).resolve().parents[2]
PRESETS = ROOT / "hwsim" / "presets" / "workloads"
CONFIGS = ROOT / "tests" / "data" / "hf_configs"
OUT = ROOT / "tests" / "data" / "hf_reference.json"

# type → the real config it is pinned on
REAL = {
    "qwen3": PRESETS / "qwen3-8b.yaml",
    "qwen3_moe": PRESETS / "qwen3-30b-a3b.yaml",
    "qwen2_moe": CONFIGS / "qwen1.5-moe-a2.7b.json",
    "deepseek_v2": PRESETS / "deepseek-v2-lite.yaml",
    "deepseek_v3": PRESETS / "deepseek-v3.yaml",
    "deepseek_v32": PRESETS / "deepseek-v3.2-exp.yaml",
    "glm4_moe": CONFIGS / "glm-4.5-air.json",
    "minimax_m2": CONFIGS / "minimax-m2.json",
    "gemma": CONFIGS / "gemma-2b.json",
    "gemma2": PRESETS / "gemma-2-9b.yaml",
    "gemma3_text": CONFIGS / "gemma-3-1b-it.json",
    "gpt2": PRESETS / "gpt-2.yaml",
    "falcon": PRESETS / "falcon-7b.yaml",
    "gpt_oss": PRESETS / "gpt-oss-20b.yaml",
    "llama4_text": CONFIGS / "llama-4-scout-17b-16e-text.json",
    "mamba": CONFIGS / "mamba-130m-hf.json",
    "mamba2": CONFIGS / "mamba-codestral-7b-v0.1.json",
    "nemotron_h": CONFIGS / "nemotron-h-8b-base-8k.json",
    "bamba": CONFIGS / "bamba-9b.json",
    "granitemoehybrid": CONFIGS / "granite-4.0-h-tiny.json",
    "jamba": CONFIGS / "jamba-v0.1.json",
    "falcon_h1": CONFIGS / "falcon-h1-1.5b-base.json",
    "qwen3_next": CONFIGS / "qwen3-next-80b-a3b-instruct.json",
    "lfm2": CONFIGS / "lfm2-1.2b.json",
    "lfm2_moe": CONFIGS / "lfm2-8b-a1b.json",
    "minimax": CONFIGS / "minimax-text-01.json",
    "llama": PRESETS / "llama-3.1-8b.yaml",
    "mixtral": PRESETS / "mixtral-8x7b.yaml",
    "granite": CONFIGS / "granite-3.1-2b-base.json",
    "starcoder2": CONFIGS / "starcoder2-3b.json",
    "olmo2": CONFIGS / "olmo-2-0425-1b.json",
    "cohere": CONFIGS / "c4ai-command-r-v01.json",
    "phi": CONFIGS / "phi-2.json",
    "cohere2": CONFIGS / "c4ai-command-r7b-12-2024.json",
    "smollm3": CONFIGS / "smollm3-3b.json",
    "olmo3": CONFIGS / "olmo-3-1025-7b.json",
    "glm4": CONFIGS / "glm-4-9b-0414.json",
    "seed_oss": CONFIGS / "seed-oss-36b-instruct.json",
    "ernie4_5": CONFIGS / "ernie-4.5-0.3b-pt.json",
    "exaone4": CONFIGS / "exaone-4.0-32b.json",
    "olmoe": CONFIGS / "olmoe-1b-7b-0924.json",
    "granitemoe": CONFIGS / "granite-3.1-3b-a800m-instruct.json",
    "ernie4_5_moe": CONFIGS / "ernie-4.5-21b-a3b-pt.json",
    "hunyuan_v1_dense": CONFIGS / "hunyuan-7b-instruct.json",
    "ministral3": CONFIGS / "ministral-3-8b-text.json",
    "phimoe": CONFIGS / "phi-3.5-moe-instruct.json",
    "hunyuan_v1_moe": CONFIGS / "hunyuan-a13b-instruct.json",
    "apertus": CONFIGS / "apertus-8b-2509.json",
    "dbrx": CONFIGS / "dbrx-instruct.json",
    "granitemoeshared": CONFIGS / "granitemoeshared-shared-expert.json",
    "arcee": CONFIGS / "afm-4.5b.json",
    "helium": CONFIGS / "helium-1-preview-2b.json",
    "glm": CONFIGS / "glm-4-9b-chat-hf.json",
    "olmo": CONFIGS / "olmo-7b-0424-hf.json",
    "stablelm": CONFIGS / "stablelm-2-1_6b.json",
    "falcon_mamba": CONFIGS / "falcon-mamba-7b.json",
    "exaone": CONFIGS / "exaone-3.5-7.8b-instruct.json",
    "gpt_bigcode": CONFIGS / "starcoder.json",
    "nemotron": CONFIGS / "minitron-4b-base.json",
    "gptj": CONFIGS / "gpt-j-6b.json",
    "mpt": CONFIGS / "mpt-7b.json",
    "gpt_neo": CONFIGS / "gpt-neo-1.3b.json",
    "glm4_moe_lite": CONFIGS / "glm-4.7-flash.json",
    "solar_open": CONFIGS / "solar-open-100b.json",
    "mimo_v2_flash": CONFIGS / "mimo-v2-flash.json",
    "flex_olmo": CONFIGS / "flexolmo-7x7b-1t.json",
    "bloom": CONFIGS / "bloom-560m.json",
    "longcat_flash": CONFIGS / "longcat-flash-chat.json",
    "zamba2": CONFIGS / "zamba2-2.7b.json",
    "sarvam_moe": CONFIGS / "sarvam-30b.json",
    "param2moe": CONFIGS / "param2-17b-a2.4b.json",
    "sarvam_mla": CONFIGS / "sarvam-105b.json",
    "minicpm3": CONFIGS / "minicpm3-4b.json",
    "vaultgemma": CONFIGS / "vaultgemma-defaults.json",
    "exaone_moe": CONFIGS / "exaone-moe-defaults.json",
    "hy_v3": CONFIGS / "hy3-preview.json",
    "afmoe": CONFIGS / "afmoe-defaults.json",
    "axk1": CONFIGS / "a.x-k1.json",
    "youtu": CONFIGS / "youtu-llm-2b.json",
    "hyperclovax": CONFIGS / "hyperclovax-defaults.json",
    "jais2": CONFIGS / "jais-2-8b-chat.json",
    "granite_swa": CONFIGS / "granite-swash-2b.json",
    "granitemoe_swa": CONFIGS / "granitemoe-swa-defaults.json",
    "cohere2_moe": CONFIGS / "command-a-plus-defaults.json",
    "dots1": CONFIGS / "dots.llm1.inst.json",
    "glm_moe_dsa": CONFIGS / "glm-5.json",
    "internlm3": CONFIGS / "internlm3-8b-instruct.json",
    "iquestcoder": CONFIGS / "iquest-coder-v1-40b-instruct.json",
    "cwm": CONFIGS / "cwm.json",
    # multimodal wrappers: hwsim traces the language model (text_config); see WRAPPED
    "gemma3": CONFIGS / "gemma-3-4b-it.json",
    "llama4": CONFIGS / "llama-4-scout-17b-16e.json",
    "mistral3": CONFIGS / "mistral-small-3.1-24b-instruct-2503.json",
    "qwen2_5_vl": CONFIGS / "qwen2.5-vl-7b-instruct.json",
    "qwen2_vl": CONFIGS / "qwen2-vl-7b-instruct.json",
    "qwen3_5": CONFIGS / "qwen3.5-27b.json",
    "qwen3_5_moe": CONFIGS / "qwen3.5-35b-a3b.json",
    "gemma4": CONFIGS / "gemma-4-31b-it.json",
    # a type's second entry, its MoE form (not a model_type of its own)
    "gemma4_moe": CONFIGS / "gemma-4-26b-a4b-it.json",
    "gemma4_ple": CONFIGS / "gemma-4-e2b-it.json",  # per-layer embeddings and KV sharing
    "olmoe_clip": CONFIGS / "olmoe-1b-7b-0924.json",  # with VARIANT's clip_qkv
    "zamba2_adapters": CONFIGS / "zamba2-1.2b.json",  # one block over every hybrid layer, q/k/v adapters, rotary
}
# types whose every weight name is recorded unfolded (named_shapes): Zamba2's tied blocks and per-layer adapters are
# stored at some hybrid layers only, which the folded names do not say
UNFOLDED = ("zamba2", "zamba2_adapters")
# an entry's fields changed from its config file's (a form its real config does not take)
VARIANT = {"olmoe_clip": {"clip_qkv": 8.0}}
# a wrapper's text config type without a causal-LM class in transformers 5.25 → the decoder it is (its parameter
# count is then the wrapper's, less the vision encoder; its tiny run that decoder's)
TEXT_AS = {"qwen2_vl_text": "qwen2", "qwen2_5_vl_text": "qwen2"}
# a wrapper's modules that are not its language model (vision or audio encoder, projector; Gemma-4's embed_vision)
NOT_LANGUAGE = re.compile(
    r"(^|\.)(vision_tower|vision_model|multi_modal_projector|visual|audio_tower|embed_vision|embed_audio)\."
)
# small widths, same structure (every field a type reads keeps its meaning)
TINY = {
    "hidden_size": 64,
    "n_embd": 64,
    "n_inner": 256,  # GPTBigCode's MLP width when given
    "intermediate_size": 96,
    "moe_intermediate_size": 32,
    "expert_ffn_hidden_size": 32,  # LongCat-Flash's name of moe_intermediate_size
    "adapter_rank": 8,  # Zamba2's per-layer adapters
    "ffn_hidden_size": 128,
    "shared_expert_intermediate_size": 48,
    "intermediate_size_mlp": 128,
    "shared_intermediate_size": 48,  # GraniteMoeHybrid's shared_mlp
    "block_ff_dim": 96,  # LFM2's name of intermediate_size (auto-adjusted to 2/3, rounded up to block_multiple_of)
    "mamba_d_ssm": 128,  # Falcon-H1's Mamba-2 width (mamba_n_heads × mamba_d_head)
    "num_hidden_layers": 4,
    "n_layer": 4,
    "vocab_size": 300,
    "kv_lora_rank": 32,
    "q_lora_rank": 24,
    "qk_rope_head_dim": 8,
    "qk_nope_head_dim": 16,
    "v_head_dim": 16,
    "time_step_rank": 4,
    "state_size": 8,
    "chunk_size": 4,  # Mamba-2: SEQ spans three chunks (HF pads the last chunk to chunk_size)
    "block_size": 4,  # MiniMax's lightning attention: SEQ spans three whole blocks
}
HEADS = {
    "num_attention_heads": 4,
    "n_head": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "n_routed_experts": 8,
    "num_experts": 8,
    "num_local_experts": 8,
    "num_experts_per_tok": 2,
    "first_k_dense_replace": 1,
    "sliding_window": 64,
    "attention_chunk_size": 64,
    "n_group": 1,
    "topk_group": 1,
    "num_heads": 8,  # Mamba-2: heads × head_dim = expand × hidden_size
    "n_groups": 2,
    "mamba_num_heads": 8,  # Nemotron-H's Mamba-2 geometry
    "mamba_head_dim": 16,
    "ssm_state_size": 8,
    "attention_head_dim": 16,
    "mamba_n_heads": 8,  # Bamba's Mamba-2 geometry
    "mamba_d_head": 16,
    "mamba_d_state": 8,
    "mamba_n_groups": 2,
    "mamba_chunk_size": 4,
    "linear_num_key_heads": 2,  # Qwen3-Next's Gated DeltaNet geometry
    "linear_num_value_heads": 4,
    "linear_key_head_dim": 16,
    "linear_value_head_dim": 16,
    "index_n_heads": 4,  # DeepSeek-V3.2's lightning indexer (index_topk stays above the tiny prefill: every token kept)
    "index_head_dim": 16,
    "rotary_dim": 8,  # MiniMax-M2's legacy partial rotary (half of the tiny head_dim)
    "global_head_dim": 32,  # Gemma-4's full-attention layers: their own head width and KV heads
    "num_global_key_value_heads": 1,
    "moe_num_experts": 8,  # ERNIE-4.5's names of num_experts / num_experts_per_tok
    "moe_k": 2,
    "n_mamba_heads": 8,  # Zamba2's Mamba-2 heads (of mamba_expand × hidden / heads)
}
# types whose output names the state `cache` (Mamba2CausalLMOutput): decode continues it. Mamba-1's output does too,
# but its pinned reference was made passing past_key_values, which MambaForCausalLM ignores (its decode reference is
# a one-token step on a fresh cache); it is kept as pinned (tests/test_workload_hf_reference.py counts it that way)
CACHE_OUTPUT = ("mamba2", "falcon_mamba")
SEQ, BATCH = 12, 2  # tiny prefill tokens per sequence (below every tiny window), sequences
# types whose tiny prefill is longer: Qwen3-Next's and Qwen3.5's Gated DeltaNet, whose torch path pads to chunks of
# 64 (one whole)
SEQ_OF = {"qwen3_next": 64, "qwen3_5_text": 64, "qwen3_5_moe_text": 64}
# mamba: Bamba's Mamba-2 mixer; linear_attn: Qwen3-Next's Gated DeltaNet; conv: LFM2's short convolution;
# self_attn.<s>: LongCat-Flash's sublayers' attentions
MIXER = re.compile(r"\.(self_attn|attn|self_attention|mixer|mamba|linear_attn)$|layers\.\d+\.conv$|\.self_attn\.\d+$")
# DBRX: a block's MoE is its `ffn`, whose experts' GLU is `ffn.experts.mlp` (inside it: not counted twice);
# mlps.<s>: LongCat-Flash's sublayers' dense MLPs
MLP = re.compile(r"(?<!\.experts)\.(mlp|feed_forward|ffn)$|\.mlps\.\d+$")
LAYER_OF = re.compile(r"layers\.\d+\.|h\.\d+\.|blocks\.\d+\.")  # DBRX: transformer.blocks.<i>


def read(path: Path) -> dict:
    cfg = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
    return {
        k: v
        for k, v in cfg.items()
        if k not in ("name", "source", "_name_or_path", "_reconstructed", "quantization_config", "torch_dtype")
    }


def hf_config(cfg: dict):
    mt = cfg["model_type"]
    kw = {k: v for k, v in cfg.items() if k != "model_type"}
    return AutoConfig.for_model(mt, **kw)


def shapes(model) -> dict:
    """Weight shapes by module path with the layer index folded to N (the first layer's shape); a layer whose
    shape differs from it (Gemma-4's full-attention layers) is recorded under its own name as well."""
    out = {}
    for name, p in model.named_parameters():
        key = re.sub(r"\.\d+\.", ".N.", name)
        if p.dim() >= 2 or name.endswith("bias"):
            if out.setdefault(key, list(p.shape)) != list(p.shape):
                out[name] = list(p.shape)
    return out


ATTENTION = re.compile(r"\.(self_attn|attn|self_attention)$")  # BLOOM, Falcon: self_attention


class ElementCounter(TorchDispatchMode):
    """Elements of elementwise ops in an attention module's own forward (not its submodules': q/k norms, rotary)
        that hwsim prices on rows of their own and the FLOP counter does not see: `clamp`, every clamp's output (OLMo /
        OLMoE / DBRX's clip_qkv); `token_scale`, every 4-D multiply by a factor of one element per batch row and position
        (broadcast over heads and channels: Ministral-3's query scale, Llama-4's attention temperature); `score_bias`,
        every 4-D add of a 3-D bias (per head, query and key: MPT's ALiBi added to the scores) or a baddbmm's
    bias (BLOOM's ALiBi, added in the q·k batched product: its output's elements)."""

    def __init__(self, model) -> None:
        super().__init__()
        self.counts = {"clamp": 0, "token_scale": 0, "score_bias": 0}
        self.names = {id(m): n for n, m in model.named_modules()}
        self.stack: list[str] = []

    def __enter__(self):
        def pre(mod, args):
            self.stack.append(self.names.get(id(mod), ""))

        def post(mod, args, out):  # returns None: the module's output stays its own
            self.stack.pop()

        self.hooks = [
            torch.nn.modules.module.register_module_forward_pre_hook(pre),
            torch.nn.modules.module.register_module_forward_hook(post),
        ]
        return super().__enter__()

    def __exit__(self, *exc):
        for hook in self.hooks:
            hook.remove()
        return super().__exit__(*exc)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if not (self.stack and ATTENTION.search(self.stack[-1])):
            return out
        name = func.overloadpacket.__name__
        if name in ("clamp", "clamp_"):
            self.counts["clamp"] += out.numel()
        elif name in ("add", "add_") and out.dim() == 4:
            if any(isinstance(a, torch.Tensor) and a.dim() == 3 for a in args[:2]):
                self.counts["score_bias"] += out.numel()
        elif name == "baddbmm":
            self.counts["score_bias"] += out.numel()  # BLOOM: the ALiBi bias broadcast into the q·k product
        elif name in ("mul", "mul_") and out.dim() == 4:
            factors = [a for a in args[:2] if isinstance(a, torch.Tensor) and a.dim() == 4 and a.numel() < out.numel()]
            # a factor per position broadcast over heads and channels: [b, 1, t, 1] (heads second) or [b, t, 1, 1]
            # (heads third, more than one of them: Granite-SWA's sink rescale of a decode step's [b, h, 1, d] output by
            # [b, h, 1, 1] is per head, not per position)
            if any(
                f.shape[1] * f.shape[3] == 1 or (f.shape[2] * f.shape[3] == 1 and out.shape[2] > 1) for f in factors
            ):
                self.counts["token_scale"] += out.numel()
        return out


def group_macs(model, run, mlp_layers: frozenset = frozenset()) -> dict:
    """MACs per group; `mlp_layers`: layers whose `mixer` module is an MLP (Nemotron-H's "-" and "E" blocks). Under
    "elements", ElementCounter's counts where any is not zero."""
    with FlopCounterMode(display=False) as fc, ElementCounter(model) as ec:
        run()
    groups = {"mixer": 0, "mlp": 0, "lm_head": 0}
    for mod, counts in fc.get_flop_counts().items():
        total = sum(counts.values()) // 2
        parts = mod.split(".")
        layer = re.search(r"layers\.(\d+)\.mixer$", mod)
        if len(parts) >= 2 and parts[-1] == "lm_head":
            groups["lm_head"] += total
        elif layer and int(layer[1]) in mlp_layers:
            groups["mlp"] += total
        elif MIXER.search(mod) and LAYER_OF.search(mod + "."):
            groups["mixer"] += total
        elif MLP.search(mod) and LAYER_OF.search(mod + "."):
            groups["mlp"] += total
    if any(ec.counts.values()):
        groups["elements"] = ec.counts
    return groups


def tiny_wrapped(cfg: dict) -> dict:
    """A wrapper's tiny run: its language model (text_config, with the fields its config class would default
    set to tiny widths too), run as the text model class; the recorded config is the wrapper around it."""
    fields = cfg.get("text_config") or {k: v for k, v in cfg.items() if k not in ("model_type", "vision_config")}
    text_type = hf_config(cfg).text_config.model_type
    text = {**fields, "model_type": TEXT_AS.get(text_type, text_type)}
    if text_type in TEXT_AS:  # M-RoPE sections are the wrapper's; the decoder's linear MACs do not depend on them
        text.pop("rope_scaling", None)
    for k in ("vocab_size", "num_attention_heads", "num_key_value_heads", "head_dim"):
        text.setdefault(k, {**TINY, **HEADS}[k])
    layers = TINY["num_hidden_layers"]  # per-layer lists (Llama-4's no_rope_layers, moe_layers) cut to the tiny depth
    for k in ("pad_token_id", "bos_token_id", "eos_token_id"):  # ids of the real vocabulary, beyond the tiny one
        text.pop(k, None)
    if "no_rope_layers" in text:
        text["no_rope_layers"] = text["no_rope_layers"][:layers]
    if "moe_layers" in text:
        text["moe_layers"] = [i for i in text["moe_layers"] if i < layers]
    run = tiny_run(text)
    run["config"] = {"model_type": cfg["model_type"], "text_config": run["config"]}
    return run


def wrapper_counts(cfg: dict) -> dict:
    """The whole multimodal model as transformers builds it: its class, all parameters, and those outside the
    vision encoder and projector (the language model and LM head as the wrapper ties them)."""
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(hf_config(cfg))
    named = list(model.named_parameters())
    return {
        "class": type(model).__name__,
        "params": sum(p.numel() for _, p in named),
        "language_model": sum(p.numel() for n, p in named if not NOT_LANGUAGE.search(n)),
        "shapes": shapes(model),
    }


def tiny_run(cfg: dict) -> dict:
    # a field the real config leaves null stays null (DeepSeek-V2-Lite's q_lora_rank: no query compression)
    tiny = {
        **cfg,
        **{
            k: v
            for k, v in TINY.items()
            if (k in cfg and cfg[k] is not None) or k in ("hidden_size", "num_hidden_layers")
        },
    }
    tiny.update({k: v for k, v in HEADS.items() if k in cfg and cfg[k] is not None})
    if cfg["model_type"] in ("gpt2", "gpt_bigcode", "gptj"):
        tiny.pop("hidden_size", None), tiny.pop("num_hidden_layers", None)
    if cfg["model_type"] in ("falcon",):
        tiny["num_attention_heads"] = 4
    if "layer_types" in tiny:
        tiny["layer_types"] = tiny["layer_types"][:4]
        if cfg["model_type"] == "granitemoehybrid":  # one attention layer among the tiny depth's Mamba layers
            tiny["layer_types"][1] = "attention"
        if cfg["model_type"] == "minimax":  # one softmax layer among the tiny depth's lightning layers
            tiny["layer_types"][1] = "full_attention"
    if cfg.get("hidden_size_per_layer_input"):  # Gemma-4's per-layer embeddings (0: none, kept)
        tiny["hidden_size_per_layer_input"], tiny["vocab_size_per_layer_input"] = 8, TINY["vocab_size"]
    if cfg.get("num_kv_shared_layers"):  # Gemma-4: the last two tiny layers share the first two's keys and values
        tiny["num_kv_shared_layers"] = 2
        tiny["layer_types"] = ["sliding_attention", "full_attention"] * 2
    if "layers_block_type" in tiny:  # Zamba2: three hybrid layers, the third reusing the first's block (2 blocks)
        tiny["layers_block_type"] = ["hybrid", "mamba", "hybrid", "hybrid"]
    if tiny.get("use_shared_attention_adapter"):  # Zamba2's k / v adapters are 2 × hidden wide: one KV head per head
        tiny["num_key_value_heads"] = tiny["num_attention_heads"]
    if "attn_layer_period" in tiny:  # Jamba: attention on layer 1 of the tiny depth, MoE on layers 1 and 3
        tiny["attn_layer_period"], tiny["attn_layer_offset"] = 4, 1
    if "attn_layer_indices" in tiny:  # Bamba: one attention layer among the tiny depth's Mamba layers
        tiny["attn_layer_indices"] = [1]
    if "hybrid_override_pattern" in tiny:  # Nemotron-H: one layer of each kind, in the order the real pattern has
        pattern = tiny["hybrid_override_pattern"]
        tiny["hybrid_override_pattern"] = "".join(sorted(set(pattern), key=pattern.index))
        tiny["num_hidden_layers"] = len(tiny["hybrid_override_pattern"])
    if cfg["model_type"] == "dbrx":  # DBRX: its widths under their own names, attention and MoE fields nested
        for k in ("hidden_size", "num_hidden_layers", "ffn_hidden_size"):
            tiny.pop(k, None)
        tiny |= {"d_model": TINY["hidden_size"], "n_heads": HEADS["num_attention_heads"], "n_layers": TINY["n_layer"]}
        tiny["attn_config"] = {**cfg["attn_config"], "kv_n_heads": HEADS["num_key_value_heads"]}
        tiny["ffn_config"] = {
            **cfg["ffn_config"],
            "ffn_hidden_size": TINY["moe_intermediate_size"],
            "moe_num_experts": HEADS["num_experts"],
            "moe_top_k": HEADS["num_experts_per_tok"],
        }
    if cfg["model_type"] == "mpt":  # MPT: its widths under its own names
        for k in ("hidden_size", "num_hidden_layers"):
            tiny.pop(k, None)
        tiny |= {"d_model": TINY["hidden_size"], "n_heads": HEADS["num_attention_heads"], "n_layers": TINY["n_layer"]}
    if cfg["model_type"] == "glm_moe_dsa":  # GLM-5: the third tiny layer reuses the second's top-k (F, F, S, F)
        tiny["index_topk_freq"] = 2
    if cfg["model_type"] == "longcat_flash":  # LongcatFlashConfig's head_dim is the rotary width: the tiny rope dim
        tiny["head_dim"] = TINY["qk_rope_head_dim"]
    if cfg["model_type"] == "mimo_v2_flash":  # a tiny head whose rotary share (0.334) is a whole even width: 24 -> 8
        tiny["head_dim"] = 24
    if "num_layers" in cfg:  # EXAONE-3.5's, GPT-Neo's name of num_hidden_layers (attribute_map): the tiny depth
        tiny["num_layers"] = tiny.pop("num_hidden_layers")
    if "attention_types" in cfg:  # GPT-Neo: its global / local pattern over the tiny depth
        kinds = cfg["attention_types"][0][0]
        tiny["attention_types"] = [[kinds, tiny["num_layers"] // len(kinds)]]
    if "kv_lora_rank" in cfg:
        # MLA: kv_b_proj expands the latent to one key/value per query head and the eager path then repeats
        # them num_heads // num_key_value_heads times, so the kv head count must stay the query head count
        tiny["num_key_value_heads"] = tiny["num_attention_heads"]
    # a config class's default pad token beyond the tiny vocabulary (SmolLM3's 128004, GLM-4's 151329) is dropped
    if (getattr(hf_config(tiny), "pad_token_id", None) or 0) >= tiny["vocab_size"]:
        tiny["pad_token_id"] = None
    torch.manual_seed(0)
    hc = hf_config(tiny)
    hc._attn_implementation = "eager"
    model = AutoModelForCausalLM.from_config(hc, attn_implementation="eager").eval().requires_grad_(False)
    seq = SEQ_OF.get(tiny["model_type"], SEQ)
    ids = torch.randint(0, tiny["vocab_size"], (BATCH, seq))
    state = {}

    def prefill():
        state["out"] = model(input_ids=ids, use_cache=True, logits_to_keep=0)

    def decode():
        nxt = torch.randint(0, tiny["vocab_size"], (BATCH, 1))
        if tiny["model_type"] in CACHE_OUTPUT:
            model(input_ids=nxt, cache=state["out"].cache, use_cache=True)
        else:
            model(input_ids=nxt, past_key_values=state["out"].past_key_values, use_cache=True)

    # Parameters are frozen instead of running under no_grad: FlopCounterMode's module tracker hooks every
    # tensor input that requires grad, and under no_grad a leaf parameter passed as a module input (mamba's
    # kernelised causal_conv1d_forward takes conv1d.bias) has no grad accumulator to hook, which asserts.
    kinds = getattr(hc, "layers_block_type", None) if tiny["model_type"] == "nemotron_h" else None
    mlp_layers = frozenset(i for i, t in enumerate(kinds or ()) if t in ("mlp", "moe"))
    pre = group_macs(model, prefill, mlp_layers)
    dec = group_macs(model, decode, mlp_layers)
    return {"config": tiny, "batch": BATCH, "seq": seq, "prefill_macs": pre, "decode_macs": dec}


def main() -> int:
    out = {"transformers": transformers.__version__, "torch": torch.__version__, "types": {}}
    for mt, path in REAL.items():
        cfg = read(path) | VARIANT.get(mt, {})
        wrapped = "vision_config" in cfg
        text_cfg = hf_config(cfg).text_config if wrapped else hf_config(cfg)
        entry = {"source": str(path.relative_to(ROOT))}
        if text_cfg.model_type not in TEXT_AS:
            # a wrapper's params: its language model as the text model class (AutoModelForCausalLM of text_config)
            with torch.device("meta"):
                model = AutoModelForCausalLM.from_config(text_cfg)
            entry |= {"params": sum(p.numel() for p in model.parameters()), "shapes": shapes(model)}
            if mt in UNFOLDED:
                entry["named_shapes"] = {n: list(p.shape) for n, p in model.named_parameters() if p.dim() >= 2}
            del model
        if wrapped:  # checkpoint names and shapes: the whole wrapper's, vision encoder included
            entry["wrapper"] = wrapper_counts(cfg)
            entry["shapes"] = entry["wrapper"].pop("shapes")
            entry.setdefault("params", entry["wrapper"]["language_model"])
        try:
            entry["tiny"] = tiny_wrapped(cfg) if wrapped else tiny_run(cfg)
        except Exception as exc:  # noqa: BLE001 - record why a type has no MAC reference
            entry["tiny_error"] = f"{type(exc).__name__}: {exc}"[:300]
        out["types"][mt] = entry
        print(
            mt, entry["params"], entry.get("tiny", {}).get("prefill_macs"), entry.get("tiny_error", ""), file=sys.stderr
        )
    OUT.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
