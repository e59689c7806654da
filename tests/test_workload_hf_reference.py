"""hwsim against transformers (tests/data/hf_reference.json, made by tests/tools/hf_reference.py with
transformers 5.25 + torch 2.13 on the meta device and, for MACs, seeded tiny configs on CPU; no torch here)."""
import json
from pathlib import Path

import pytest

from hwsim.workload import from_hf_dict, load_model, trace

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "data" / "hf_reference.json").read_text())["types"]
MIXER_OPS = {"q_proj", "k_proj", "v_proj", "o_proj", "qk", "av", "q_a_proj", "q_b_proj", "kv_a_proj", "kv_b_proj",
             "in_proj", "x_proj", "dt_proj", "out_proj"}


@pytest.mark.parametrize("model_type", sorted(REF))
def test_parameter_count_equals_transformers(model_type):
    ref = REF[model_type]
    assert load_model(ROOT / ref["source"]).params == ref["params"]


def _groups(ops) -> dict:
    lin = ops[ops["macs"] > 0]
    mixer = lin["op"].isin(MIXER_OPS) & (lin["layer"] >= 0)
    return {"mixer": int(lin.loc[mixer, "macs"].sum()), "lm_head": int(lin.loc[lin["op"] == "lm_head", "macs"].sum()),
            "mlp": int(lin.loc[~mixer & (lin["layer"] >= 0), "macs"].sum())}


@pytest.mark.parametrize("model_type", sorted(t for t in REF if "tiny" in REF[t]))
def test_macs_per_group_equal_transformers(model_type):
    """Prefill (logits on every token) and one decode step after it. The MLP group is compared for dense
    models only: transformers 5 runs stacked experts through kernels its FLOP counter does not see."""
    tiny = REF[model_type]["tiny"]
    m = from_hf_dict(dict(tiny["config"]))
    b, s = tiny["batch"], tiny["seq"]
    pre = _groups(trace(m, "prefill", batch=b, seq=s, logits="all", mla="expanded").ops)
    dec = _groups(trace(m, "decode", batch=b, context=s, mla="expanded").ops)
    keys = ("mixer", "lm_head") if m.is_moe else ("mixer", "lm_head", "mlp")
    assert {k: pre[k] for k in keys} == {k: tiny["prefill_macs"][k] for k in keys}
    assert {k: dec[k] for k in keys} == {k: tiny["decode_macs"][k] for k in keys}
