"""Every row of a prefill and a decode step of each model type added with its own mixer or MoE layout costs
time on the H100-SXM preset (positive, finite), and the rows that type adds are in the step. One table instead of
one copied test per model file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwsim.arch import load_arch
from hwsim.core.precision import Precision
from hwsim.engine import evaluate
from hwsim.workload import load_model, trace

CONFIGS = Path(__file__).parent / "data" / "hf_configs"

# model (preset name or config file), batch, context, prefill tokens, rows (name after "layers.N.") each phase has
STEPS = {
    "deepseek-v3.2-exp": (
        "deepseek-v3.2-exp",
        2,
        4096,
        256,
        {"both": {"indexer.qk", "indexer.reduce", "indexer.topk", "indexer_wq_b"}},
    ),
    "glm-4.5-air": (
        CONFIGS / "glm-4.5-air.json",
        4,
        512,
        256,
        {"both": {"rope", "router", "experts.gate_proj", "shared.down_proj"}},
    ),
    "lfm2-1.2b": (
        CONFIGS / "lfm2-1.2b.json",
        4,
        512,
        256,
        {
            "both": {"conv_in_gate", "in_proj", "q_norm", "attn"},
            "prefill": {"conv1d"},
            "decode": {"conv.update"},
        },
    ),
    "lfm2-8b-a1b": (
        CONFIGS / "lfm2-8b-a1b.json",
        4,
        512,
        256,
        {"both": {"router", "experts.gate_proj", "mlp.gate_proj", "in_proj"}},
    ),
    "minimax-text-01": (
        CONFIGS / "minimax-text-01.json",
        2,
        512,
        256,
        {
            "both": {"qkv_proj", "output_gate", "lightning_norm", "attn"},
            "prefill": {"lightning.intra_qk", "lightning.scan"},
            "decode": {"lightning.update", "lightning.readout"},
        },
    ),
    "minimax-m2": (
        CONFIGS / "minimax-m2.json",
        4,
        512,
        256,
        {"both": {"rope", "q_norm", "k_norm", "router", "experts.gate_proj"}},
    ),
    "kimi-linear-48b-a3b": (
        CONFIGS / "kimi-linear-48b-a3b-instruct.json",
        2,
        512,
        256,
        {
            "both": {"f_a_proj", "f_b_proj", "g_a_proj", "g_b_proj", "b_proj", "gdn_norm", "kv_a_proj", "router"},
            "prefill": {"gdn.kkt", "gdn.scan", "kv_b_proj"},
            "decode": {"gdn.update", "q_absorb"},
        },
    ),
    "qwen3-next-80b-a3b": (CONFIGS / "qwen3-next-80b-a3b-instruct.json", 4, 512, 300, {"both": set()}),
    "gemma-4-26b-a4b": (
        CONFIGS / "gemma-4-26b-a4b-it.json",
        4,
        512,
        256,
        {"both": {"v_norm", "q_norm", "k_norm", "router", "experts.gate_proj", "shared.gate_proj", "mlp.combine"}},
    ),
    "gemma-4-e2b": (
        CONFIGS / "gemma-4-e2b-it.json",
        2,
        700,
        256,
        {
            "both": {
                "v_norm",
                "per_layer_input_gate",
                "per_layer_act",
                "per_layer_projection",
                "post_per_layer_input_norm",
            }
        },
    ),
    "qwen3.5-35b-a3b": (
        CONFIGS / "qwen3.5-35b-a3b.json",
        4,
        512,
        300,
        {
            "both": {"in_proj_qkv", "in_proj_z", "in_proj_b", "in_proj_a", "gdn_norm", "router"},
            "prefill": {"gdn.kkt", "gdn.scan"},
            "decode": {"gdn.update"},
        },
    ),
}


@pytest.mark.parametrize("phase", ["prefill", "decode"])
@pytest.mark.parametrize("name", list(STEPS))
def test_every_op_of_a_step_is_priced(name, phase):
    model, batch, context, seq, rows = STEPS[name]
    shape = {"seq": seq} if phase == "prefill" else {}
    ops = evaluate(
        load_arch("h100-sxm"), trace(load_model(model), phase, batch=batch, context=context, **shape), Precision()
    ).ops
    assert (ops["seconds"] > 0).all() and np.isfinite(ops["seconds"]).all()
    assert rows["both"] | rows.get(phase, set()) <= set(ops["name"].str.split(".", n=2).str[2])
