"""Generate tests/data/kimi_linear_reference.json: what transformers says about kimi_linear (Kimi-Linear-48B-A3B).
Not part of the test suite and not a runtime dependency (needs `pip install torch==2.13.0 transformers`, 5.25 used).
The flagship config (tests/data/hf_configs/kimi-linear-48b-a3b-instruct.json) and a tiny one of the same fields
are built as KimiLinearForCausalLM on the meta device: parameter count, layer types, and (tiny) every state-dict
tensor's name and shape, which tests/test_workload_kimi_linear.py matches with hwsim's tensor map.
Run: python tests/tools/kimi_linear_reference.py  (a few seconds)
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "tests" / "data" / "hf_configs" / "kimi-linear-48b-a3b-instruct.json"
OUT = ROOT / "tests" / "data" / "kimi_linear_reference.json"
# small widths, the flagship's structure: KDA / MLA / KDA / MLA, a dense first layer, then experts
TINY = {
    "hidden_size": 64,
    "intermediate_size": 96,
    "moe_intermediate_size": 32,
    "num_hidden_layers": 4,
    "vocab_size": 300,
    "kv_lora_rank": 32,
    "qk_rope_head_dim": 8,
    "qk_nope_head_dim": 16,
    "v_head_dim": 16,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "num_experts": 8,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "num_experts_per_token": 2,
    "num_shared_experts": 1,
    "linear_attn_config": {
        "full_attn_layers": [2, 4],
        "kda_layers": [1, 3],
        "head_dim": 16,
        "num_heads": 4,
        "short_conv_kernel_size": 4,
    },
}


def build(cfg: dict):
    fields = {k: v for k, v in cfg.items() if not k.startswith("_") and k not in ("architectures", "model_type")}
    config = transformers.KimiLinearConfig(**fields)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    names = {n: list(p.shape) for n, p in model.state_dict().items()}
    return config, sum(p.numel() for p in model.parameters()), names


def main() -> None:
    flagship = json.loads(FLAGSHIP.read_text())
    config, params, _ = build(flagship)
    out = {
        "_source": f"tests/tools/kimi_linear_reference.py: transformers {transformers.__version__} "
        f"KimiLinearForCausalLM on the meta device, torch {torch.__version__}",
        "transformers": transformers.__version__,
        "flagship": {
            "config": "hf_configs/" + FLAGSHIP.name,
            "params": params,
            "layer_types": config.layer_types,
            "mlp_layer_types": config.mlp_layer_types,
        },
    }
    tiny = {**{k: v for k, v in flagship.items() if not k.startswith("_")}, **TINY}
    config, params, names = build(tiny)
    out["tiny"] = {"config": tiny, "params": params, "layer_types": config.layer_types, "state_dict": names}
    OUT.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
