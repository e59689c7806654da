"""Problems built from a real trace and arch: units, hardware costs vs the engine, accuracy costs,
checkpoint tensors, the frontier."""

import json

import numpy as np
import pytest

from hwsim.allocate import InfeasibleBudget, allocate, build_problem, resolve_trace, solve
from hwsim.allocate.errors import load_sensitivity, lookup
from hwsim.allocate.frontier import frontier
from hwsim.allocate.tensors import CheckpointTensors, SyntheticTensors
from hwsim.allocate.units import kv_units, weight_units
from hwsim.arch import load_arch
from hwsim.engine import Precision
from hwsim.errors import HwsimError
from hwsim.engine import evaluate

FORMATS = ("int3_g128", "int4_g128", "int8")
ROLES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def tiny_config(folder) -> str:
    """A 2-layer Llama-style HF config.json (GQA: 4 heads, 2 KV heads) small enough for fast tests."""
    cfg = {
        "model_type": "llama",
        "hidden_size": 128,
        "intermediate_size": 256,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "num_hidden_layers": 2,
        "vocab_size": 256,
        "max_position_embeddings": 512,
    }
    path = folder / "config.json"
    path.write_text(json.dumps(cfg))
    return str(path)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return resolve_trace(tiny_config(tmp_path_factory.mktemp("tiny")), "decode", context=64)


@pytest.fixture(scope="module")
def arch():
    return load_arch("bitmod")


def test_units_by_op_layer_and_group(tiny):
    ops = weight_units(tiny)
    assert [u.name for u in ops[:7]] == [
        f"layers.0.{r}" if r.endswith(("q_proj", "k_proj", "v_proj", "o_proj")) else f"layers.0.mlp.{r}" for r in ROLES
    ]
    assert len(ops) == 14 and ops[1].params == 128 * 64  # k_proj: hidden × kv_dim (2 heads × 32)
    layers = weight_units(tiny, "layer")
    assert [u.name for u in layers] == ["layers.0", "layers.1"] and len(layers[0].ops) == 7
    assert layers[0].params == sum(u.params for u in ops[:7])
    grouped = weight_units(tiny, groups=["qkv=q_proj,k_proj,v_proj"])
    assert grouped[0].name == "layers.0.qkv" and grouped[0].ops == (
        "layers.0.q_proj",
        "layers.0.k_proj",
        "layers.0.v_proj",
    )
    assert len(grouped) == 10
    with pytest.raises(HwsimError, match="did you mean"):
        weight_units(tiny, groups=["qkv=q_prj"])
    with pytest.raises(HwsimError, match="two groups"):
        weight_units(tiny, groups={"a": ["q_proj"], "b": ["q_proj"]})
    with pytest.raises(HwsimError, match="granularity"):
        weight_units(tiny, "tensor")
    kv = kv_units(tiny)
    assert [u.name for u in kv] == ["layers.0.kv", "layers.1.kv"]
    assert kv[0].storage == 2 * 1 * 65 * 64  # K and V, batch 1, 64 cached + 1 new token, kv_dim 64


def test_uniform_totals_equal_the_engine(tiny, arch):
    """With every unit and the fixed weights at one format, the totals are the engine's totals."""
    for f in FORMATS:
        p = build_problem(arch, tiny, FORMATS, fixed_weights=f, proxy="uniform")
        t = p.totals(p.uniform_choice(f))
        engine = evaluate(arch, tiny, Precision(weights=f)).totals
        assert t["seconds"] == pytest.approx(engine["seconds"], rel=1e-12)
        assert t["energy_j"] == pytest.approx(engine["energy_j"], rel=1e-12)
        bits = {"int3_g128": 3.125, "int4_g128": 4.125, "int8": 8.0}[f]
        assert t["avg_bits"] == pytest.approx(bits)
        assert t["memory_bytes"] == pytest.approx(tiny.model.params * bits / 8 + tiny.kv_cache_bytes(16))


def test_kv_units_price_the_cache(tiny, arch):
    # Llama writes K through rope (exact) and V through v_proj, a weight op: its KV part is the additive
    # delta cost(kv=f) − cost(kv=fp16) at fp16 weights: close, not exact (the engine's per-op costs are
    # not linear in the bytes written — max(compute, memory), tile rounding).
    p = build_problem(arch, tiny, ["int4_g128"], kv_formats=["fp8_e4m3", "int4_g128"], proxy="uniform")
    assert p.units[-2:] == ("layers.0.kv", "layers.1.kv")
    assert not p.allowed[:-2, p.formats.index("fp8_e4m3")].any()  # weights never take a KV-only format
    choice = np.array([p.formats.index("int4_g128")] * 14 + [p.formats.index("fp8_e4m3")] * 2)
    engine = evaluate(arch, tiny, Precision(weights="int4_g128", kv="fp8_e4m3")).totals
    base = evaluate(arch, tiny, Precision(weights="fp16", kv="fp8_e4m3"))
    outside = tiny.ops["layer"].to_numpy() < 0  # embedding and lm_head: fixed at fp16 in the problem
    quant = evaluate(arch, tiny, Precision(weights="int4_g128", kv="fp8_e4m3")).ops[outside]
    t = p.totals(choice)
    for key, rel in (("energy_j", 1e-2), ("seconds", 1e-2)):
        want = engine[key] - quant[key].sum() + base.ops[outside][key].sum()
        assert t[key] == pytest.approx(want, rel=rel) and t[key] != pytest.approx(p.fixed[key], rel=0.05)
    assert t["memory_bytes"] == pytest.approx(
        (tiny.model.params - 2 * sum(u.params for u in weight_units(tiny)[:7])) * 2
        + 2 * sum(u.params for u in weight_units(tiny)[:7]) * 4.125 / 8
        + tiny.kv_cache_bytes(8)
    )
    assert t["avg_bits"] == pytest.approx(4.125)  # the KV cache does not enter the parameter average


def test_accuracy_costs_follow_bits_and_seed(tiny, arch):
    p = build_problem(arch, tiny, FORMATS, proxy="output", seed=1)
    e = p.costs["error"]
    assert (e[:, 0] > e[:, 1]).all() and (e[:, 1] > e[:, 2]).all()  # int3 > int4 > int8 on every op
    assert 0.05 < e[0, 0] < 0.5 and e[0, 2] < 5e-3  # q_proj (Student-t): int3_g128 loses ~25%, per-tensor int8 ~0.2%
    again = build_problem(arch, tiny, FORMATS, proxy="output", seed=1).costs["error"]
    other = build_problem(arch, tiny, FORMATS, proxy="output", seed=2).costs["error"]
    assert np.array_equal(e, again) and not np.allclose(e, other)
    # uniform proxy = relative weight MSE of the op's synthetic sample, recomputed here directly
    from hwsim.formats import get_format

    w = SyntheticTensors(seed=1).weight("layers.0.q_proj", "q_proj", 128, 128)
    w_hat = get_format("int4_g128").quantize(w, axis=-1, seed=1)
    nsr = float(np.sum((w.astype(np.float64) - w_hat) ** 2) / np.sum(w.astype(np.float64) ** 2))
    u = build_problem(arch, tiny, FORMATS, proxy="uniform", seed=1).costs["error"]
    assert u[0, 1] == pytest.approx(nsr, rel=1e-12)


def test_method_errors_are_after_the_method(tiny, arch):
    """GPTQ minimises the output error on the inputs it is fitted on (Frantar et al. 2023): with the
    output proxy (same synthetic inputs) no unit costs more than under RTN; GPTQ on ternary is refused."""
    rtn = build_problem(arch, tiny, FORMATS[:2], proxy="output").costs["error"]
    gptq = build_problem(arch, tiny, FORMATS[:2], proxy="output", method="gptq").costs["error"]
    assert (gptq <= rtn * (1 + 1e-9)).all() and (gptq < rtn).any()
    with pytest.raises(HwsimError, match="does not apply"):
        build_problem(arch, tiny, ["ternary", "int4_g128"], proxy="output", method="gptq")


def test_sensitivity_table_scales_errors(tiny, arch, tmp_path):
    table = tmp_path / "sens.csv"
    table.write_text("name,sensitivity\nlayers.0.q_proj,10\ndown_proj,0\nlayers.*,1\n")
    sens = load_sensitivity(table)
    assert lookup(sens, "layers.0.q_proj", "q_proj") == 10 and lookup(sens, "layers.1.mlp.down_proj", "down_proj") == 0
    u = build_problem(arch, tiny, FORMATS, proxy="uniform").costs["error"]
    t = build_problem(arch, tiny, FORMATS, sensitivity=table).costs["error"]
    assert t[0] == pytest.approx(10 * u[0]) and t[1] == pytest.approx(u[1]) and (t[6] == 0).all()
    (tmp_path / "bad.json").write_text('{"q_proj": -1}')
    with pytest.raises(HwsimError, match="bad.json: q_proj: sensitivity must be"):
        load_sensitivity(tmp_path / "bad.json")
    (tmp_path / "partial.json").write_text('{"q_proj": 1}')
    with pytest.raises(HwsimError, match="no sensitivity for 'layers.0.k_proj'"):
        build_problem(arch, tiny, FORMATS, sensitivity=tmp_path / "partial.json")


def test_checkpoint_tensors_map_llama_names(tiny, arch, tmp_path):
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    shapes = tiny.model.linear_shapes()
    tensors = {}
    for i in range(2):
        for role, (k, n, _) in shapes.items():
            mod = "self_attn" if role in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
            tensors[f"model.layers.{i}.{mod}.{role}.weight"] = (rng.standard_normal((n, k)) * 0.02).astype(np.float32)
    save_file(tensors, str(tmp_path / "model.safetensors"))
    src = CheckpointTensors(tmp_path)
    assert src.tensor_name("layers.1.mlp.up_proj", "up_proj") == "model.layers.1.mlp.up_proj.weight"
    w = src.weight("layers.1.mlp.down_proj", "down_proj", 128, 256)
    assert w.shape == (128, 256) and np.array_equal(w, tensors["model.layers.1.mlp.down_proj.weight"])
    small = CheckpointTensors(tmp_path, sample_elems=1024)  # 4 evenly spaced rows of 256
    assert np.array_equal(
        small.weight("layers.1.mlp.down_proj", "down_proj", 128, 256),
        tensors["model.layers.1.mlp.down_proj.weight"][[0, 42, 84, 127]],
    )
    p = build_problem(arch, tiny, FORMATS, checkpoint=tmp_path, proxy="uniform")
    assert p.costs["error"].shape == (14, 3)
    del tensors["model.layers.1.mlp.up_proj.weight"]
    save_file(tensors, str(tmp_path / "model.safetensors"))
    with pytest.raises(HwsimError, match="no tensor for op 'layers.1.mlp.up_proj'"):
        build_problem(arch, tiny, FORMATS, checkpoint=tmp_path, proxy="uniform")


def test_frontier_is_monotone_with_uniform_points(tiny, arch):
    p = build_problem(arch, tiny, FORMATS, proxy="output")
    table = frontier(p, "avg_bits", "error", points=8)
    mixed = table[table["kind"] == "mixed"]
    assert (mixed["status"] == "optimal").all() and len(mixed) == 8
    assert (np.diff(mixed["objective"].to_numpy()) <= 1e-12).all()  # looser budget, never worse
    assert (mixed["avg_bits"].to_numpy() <= mixed["budget"].to_numpy() * (1 + 1e-9)).all()
    uni = table[table["kind"] == "uniform"].set_index("format")
    assert list(uni.index) == list(FORMATS)
    # the mixed optimum at a uniform point's bits is at least as good as that uniform point
    for f in FORMATS:
        at = solve(p, "error", {"avg_bits": uni.loc[f, "avg_bits"]}).objective_value
        assert at <= uni.loc[f, "error"] + 1e-12
    # latency frontier: minimise seconds as the error budget loosens
    lat = frontier(p, "error", "seconds", points=5)
    obj = lat[lat["kind"] == "mixed"]["objective"].to_numpy()
    assert (np.diff(obj) <= 1e-15).all() and obj[-1] < obj[0]


def test_allocate_end_to_end_matches_its_parts(tiny, arch):
    sol = allocate(
        arch,
        tiny,
        "int3_g128,int4_g128,int8",
        "energy_j",
        {"error": 0.5},
        proxy="uniform",
        groups={"qkv": ["q_proj", "k_proj", "v_proj"]},
    )
    p = build_problem(arch, tiny, FORMATS, proxy="uniform", groups={"qkv": ["q_proj", "k_proj", "v_proj"]})
    assert sol.objective_value == pytest.approx(solve(p, "energy_j", {"error": 0.5}).objective_value)
    a = sol.assignment()
    assert len(a) == 14 and a["layers.0.q_proj"] == a["layers.0.k_proj"] == a["layers.0.v_proj"]
    with pytest.raises(InfeasibleBudget, match="error=0 is infeasible"):
        allocate(arch, tiny, FORMATS, "seconds", {"error": 0.0}, proxy="uniform")


# Mixtral-8x7B per layer (hidden 4096, intermediate 14336, 32 heads, 8 KV heads of 128, 8 experts, top-2):
MIXTRAL_ATTN = 2 * 4096 * 4096 + 2 * 4096 * 1024  # q, o + k, v
MIXTRAL_ROUTER = 4096 * 8
MIXTRAL_EXPERTS = 8 * 3 * 4096 * 14336  # every expert's gate, up, down — stored whether routed to or not
MIXTRAL_OTHER = 2 * 32000 * 4096 + (2 * 32 + 1) * 4096  # embed_tokens, lm_head, RMSNorms


def _mixtral_totals(arch, batch: int):
    """Totals of a mixed choice (experts int4_g128, attention and router int8); costs from the engine."""
    from hwsim.allocate.costs import hardware_costs
    from hwsim.allocate.problem import Problem

    tr = resolve_trace("mixtral-8x7b", "decode", batch=batch)
    units, fmts = weight_units(tr), ("int4_g128", "int8")
    allowed = np.ones((len(units), 2), dtype=bool)
    costs, fixed = hardware_costs(arch, tr, units, fmts, allowed)
    p = Problem(
        units=tuple(u.name for u in units),
        formats=fmts,
        allowed=allowed,
        costs={**costs, "error": np.zeros((len(units), 2))},
        elems=[u.params for u in units],
        fixed=fixed,
    )
    choice = [0 if ".experts" in u.name else 1 for u in units]
    return p.totals(choice), tr.kv_cache_bytes(16), len(units)


def test_moe_units_store_every_expert_whatever_the_batch():
    """Source: Mixtral-8x7B has 46,702,792,704 parameters (REFERENCES.md, model table). Memory and average
    bits count all 8 experts at every batch (top-2 touches 2 at batch 1, an uneven 2+6 split at batch 5,
    all 8 at batch 8); only latency follows the experts the step reads."""
    assert 32 * (MIXTRAL_ATTN + MIXTRAL_ROUTER + MIXTRAL_EXPERTS) + MIXTRAL_OTHER == 46_702_792_704
    h100 = load_arch("h100-sxm")
    attn, experts = 32 * (MIXTRAL_ATTN + MIXTRAL_ROUTER), 32 * MIXTRAL_EXPERTS
    avg_bits = (attn * 8 + experts * 4.125) / (attn + experts)
    weights_bytes = (attn * 8 + experts * 4.125) / 8 + MIXTRAL_OTHER * 2  # other params at fp16
    seen = {}
    for batch in (1, 5, 8):
        totals, kv_bytes, n_units = _mixtral_totals(h100, batch)
        assert totals["avg_bits"] == pytest.approx(avg_bits, rel=1e-12)
        assert totals["memory_bytes"] - kv_bytes == pytest.approx(weights_bytes, rel=1e-12)
        seen[batch] = (totals, n_units)
    assert seen[5][1] > seen[1][1]  # experts and experts_rest are separate ops, sharing one role's storage
    assert seen[8][0]["seconds"] > seen[1][0]["seconds"]  # 8 experts read instead of 2


def test_refused_format_names_the_allocate_parameter(tiny):
    """A format the family refuses is reported under build_problem's parameter that set it (library names;
    the CLI maps them to --formats / --fixed-weights)."""
    tmac = load_arch("tmac-m2-ultra")
    with pytest.raises(HwsimError) as info:
        build_problem(tmac, tiny, ["int4_g128"])  # fixed_weights defaults to fp16: bit-planes refuse it
    assert info.value.field == "fixed_weights" and "--" not in str(info.value)
    with pytest.raises(HwsimError) as info:
        build_problem(tmac, tiny, ["fp16", "int4_g128"], fixed_weights="int8")
    assert info.value.field == "formats"


def test_a_sensitivity_table_with_another_proxy_is_refused(tiny, arch, tmp_path, capsys):
    """--sensitivity with --proxy measured/uniform/output was read and then ignored (the allocation was the other
    proxy's, the same with or without the table); a dict given to the API without a proxy prices with it."""
    from hwsim.cli import main

    table = tmp_path / "sens.json"
    table.write_text('{"layers.*": 2}')
    for proxy in ("uniform", "output"):
        with pytest.raises(HwsimError, match="table proxy prices with, not " + proxy):
            build_problem(arch, tiny, FORMATS, proxy=proxy, sensitivity=table)
    u = build_problem(arch, tiny, FORMATS, proxy="uniform").costs["error"]
    assert build_problem(arch, tiny, FORMATS, sensitivity={"layers.*": 2.0}).costs["error"] == pytest.approx(2 * u)
    argv = ["allocate", "--arch", "bitmod", "--model", "llama-2-7b", "--phase", "decode", "--formats", "int4_g128"]
    assert main([*argv, "--budget", "avg_bits=5", "--sensitivity", str(table), "--proxy", "uniform"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--sensitivity" in err and "--proxy table" in err, err
