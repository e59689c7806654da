"""Traces: op shapes, GQA-aware KV traffic, MoE routing, totals, and the pandas table contract."""

import numpy as np
import pytest

from hwsim.errors import HwsimError
from hwsim.workload import load_model, trace


@pytest.fixture(scope="module")
def llama7b():
    return load_model("llama-2-7b")


def test_prefill_linear_macs_equal_params_times_tokens(llama7b):
    tr = trace(llama7b, "prefill", batch=2, seq=128, logits="all")
    lin = tr.linear()
    # every linear weight (all layers + lm_head) is used once per token
    linear_weights = int(lin["weight_elems"].sum())
    assert int(lin["macs"].sum()) == linear_weights * 2 * 128
    assert linear_weights == llama7b.params - 32000 * 4096 - (2 * 32 + 1) * 4096  # minus embedding and norms


def test_ops_per_layer_and_columns(llama7b):
    tr = trace(llama7b, "decode", context=100)
    ops = tr.ops
    layer0 = ops[ops["layer"] == 0]["op"].tolist()
    assert layer0 == [
        "norm",
        "q_proj",
        "k_proj",
        "v_proj",
        "rope",
        "qk",
        "softmax",
        "av",
        "o_proj",
        "residual",
        "norm",
        "gate_proj",
        "up_proj",
        "act",
        "down_proj",
        "residual",
    ]
    assert ops["name"].is_unique
    assert ops.iloc[0]["op"] == "embed" and ops.iloc[-1]["op"] == "lm_head"
    gemm = ops[ops["kind"].isin(["linear", "attention"])]
    assert (gemm["macs"] == gemm["m"] * gemm["n"] * gemm["k"] * gemm["count"]).all()
    assert (ops.loc[~ops.index.isin(gemm.index), "macs"] == 0).all()


def test_gqa_kv_reads_and_decode_kv_bytes():
    m = load_model("llama-2-70b")
    tr = trace(m, "decode", batch=3, context=1000)
    qk = tr.ops[tr.ops["name"] == "layers.5.attn.qk"].iloc[0]
    # one new token attends over 1000 cached + itself; K read once per KV head (8), not per query head (64)
    assert (qk["m"], qk["n"], qk["k"], qk["count"]) == (1, 1001, 128, 3 * 64)
    assert qk["kv_read_elems"] == 3 * 8 * 1001 * 128
    assert qk["macs"] == 3 * 64 * 1001 * 128
    # cache after the step, fp16: 2 (K,V) × 80 layers × 3 seqs × 1001 tokens × 1024 × 2 bytes
    assert tr.kv_cache_bytes(16) == 2 * 80 * 3 * 1001 * 1024 * 2
    assert tr.totals(kv_bits=8)["kv_cache_bytes"] == 2 * 80 * 3 * 1001 * 1024
    # each new K/V element is written to the cache exactly once per layer
    assert int(tr.ops["kv_write_elems"].sum()) == 2 * 80 * 3 * 1024


def test_activation_sized_by_intermediate(llama7b):
    tr = trace(llama7b, "prefill", seq=16)
    act = tr.ops[tr.ops["name"] == "layers.0.mlp.act"].iloc[0]
    assert (act["m"], act["n"]) == (16, 11008)
    assert act["act_in_elems"] == 2 * 16 * 11008  # gate and up outputs


def test_moe_active_experts():
    m = load_model("mixtral-8x7b")
    dec = trace(m, "decode", batch=1)
    up = dec.ops[dec.ops["name"] == "layers.0.experts.up_proj"].iloc[0]
    assert (up["m"], up["count"]) == (1, 2)  # top-2 experts, one token each
    pre = trace(m, "prefill", batch=1, seq=13)  # 26 assignments over 8 experts: 2 take 4 tokens, 6 take 3
    rows = pre.ops[pre.ops["op"].eq("up_proj") & pre.ops["layer"].eq(0)]
    assert sorted(zip(rows["m"], rows["count"])) == [(3, 6), (4, 2)]
    assert int((rows["m"] * rows["count"]).sum()) == 26
    # weights read in decode = active params (all but 6 idle experts per layer), minus norms and embedding rows
    lin_w = int(dec.linear()["weight_elems"].sum())
    assert lin_w == m.active_params_per_token - 32000 * 4096 - (2 * 32 + 1) * 4096


def test_opt_no_gate_no_rope_biases():
    m = load_model("opt-6.7b")
    tr = trace(m, "decode", context=10)
    l0 = tr.ops[tr.ops["layer"] == 0]
    assert "gate_proj" not in l0["op"].values and "rope" not in l0["op"].values
    k = l0[l0["op"] == "k_proj"].iloc[0]
    assert k["kv_write_elems"] == 4096 and k["weight_elems"] == 4096 * 4096 + 4096


def test_logits_last_vs_all(llama7b):
    last = trace(llama7b, "prefill", batch=2, seq=64)
    allt = trace(llama7b, "prefill", batch=2, seq=64, logits="all")
    assert last.ops.iloc[-1]["m"] == 2 and allt.ops.iloc[-1]["m"] == 128


def test_trace_exports(llama7b, tmp_path):
    tr = trace(llama7b, "decode")
    tr.ops.to_csv(tmp_path / "t.csv", index=False)
    import pandas as pd

    back = pd.read_csv(tmp_path / "t.csv")
    assert back["macs"].sum() == tr.ops["macs"].sum()
    assert tr.ops["macs"].dtype == np.int64


@pytest.mark.parametrize(
    "kw,field",
    [
        ({"batch": 0}, "batch"),
        ({"seq": -1}, "seq"),
        ({"phase": "train"}, "phase"),
        ({"context": -5}, "context"),
        ({"phase": "decode", "seq": 7}, "seq"),
    ],
)
def test_bad_trace_arguments(llama7b, kw, field):
    args = {"phase": "prefill", **kw}
    with pytest.raises(HwsimError) as err:
        trace(llama7b, **args)
    assert err.value.field == field
