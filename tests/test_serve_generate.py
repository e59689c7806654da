"""Generation loop and the shape-polynomial step costs it rests on (hwsim.serve.basis / stepcost / generate)."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.arch import load_arch
from hwsim.cli import main
from hwsim.engine import Precision, evaluate
from hwsim.serve import StepCost, generate
from hwsim.serve.basis import build_basis
from hwsim.workload import load_model, trace

LLAMA = load_model("llama-3-8b")
H100 = load_arch("h100-sxm")
_COSTS: dict = {}


def step_cost(arch="h100-sxm", model="llama-3-8b", prec=None) -> StepCost:
    key = (arch, model, repr(prec))
    if key not in _COSTS:
        _COSTS[key] = StepCost(load_arch(arch), load_model(model), prec)
    return _COSTS[key]


def _direct(arch, model, b, t, c, prec=None):
    return evaluate(arch, trace(model, "prefill", batch=b, seq=t, context=c), prec).totals


@settings(max_examples=15, deadline=None)
@given(b=st.integers(1, 9), t=st.integers(1, 300), c=st.integers(0, 5000))
def test_basis_rows_reproduce_the_trace_exactly(b, t, c):
    basis = build_basis(LLAMA)
    ops = trace(LLAMA, "prefill", batch=b, seq=t, context=c).ops
    ctx = basis.context_rows(np.array([b]), np.array([t]), np.array([t + c]))
    real = ops[ops["name"].isin(basis.names["context"])]
    # identical layers collapse to one row with a multiplicity; the sums over the model must agree
    for col in ("macs", "kv_read_elems", "act_in_elems", "act_out_elems", "vector_ops"):
        assert (ctx[col].to_numpy() * basis.context.mult).sum() == real[col].sum()
    tok = basis.token_rows(np.array([b * t]))
    real = ops[ops["name"].isin(basis.names["token"])]
    for col in ("macs", "weight_elems", "act_in_elems", "kv_write_elems", "vector_ops"):
        assert (tok[col].to_numpy() * basis.token.mult).sum() == real[col].sum()


@pytest.mark.parametrize(
    "arch,model,prec",
    [
        ("h100-sxm", "llama-3-8b", None),
        ("bitmod", "llama-2-7b", Precision(weights=3.0625)),
        ("tpu-like", "phi-3-mini", None),
        ("u280", "llama-2-7b", Precision(weights="int8", activations="int8", kv="int8")),
        ("h100-sxm", "mixtral-8x7b", None),  # MoE: token rows costed from real traces
        # MLA: one-token steps run their own ops (q_absorb, v_up); the basis raised KeyError on them
        ("h100-sxm", "deepseek-v2-lite", Precision(weights="int4_g128", kv="int8")),
        ("tpu-like", "deepseek-v2-lite", None),
    ],
)
def test_generation_equals_the_engine_on_real_traces(arch, model, prec):
    sc = step_cost(arch, model, prec)
    assert sc.check_error < 1e-9
    gen = generate(sc, prompt=100, output=40, batch=3)
    m, a = load_model(model), load_arch(arch)
    assert gen.ttft_s == pytest.approx(_direct(a, m, 3, 100, 0, prec)["seconds"], rel=1e-9)
    for d in (0, 17, 38):  # decode step d feeds one token over a cache of 100 + d tokens
        want = evaluate(a, trace(m, "decode", batch=3, context=100 + d), prec).totals
        assert gen.step_s[d] == pytest.approx(want["seconds"], rel=1e-9)
        assert gen.step_j[d] == pytest.approx(want["energy_j"], rel=1e-9)
    assert len(gen.step_s) == 39
    assert gen.e2e_s == pytest.approx(gen.ttft_s + gen.step_s.sum())


def test_mixtral_token_rows_are_not_polynomial_and_fall_back():
    sc = step_cost("h100-sxm", "mixtral-8x7b")
    assert sc.polynomial == {"token": False, "seq": True, "context": True}


@pytest.mark.parametrize("stage", [None, (0, 16), (16, 32)])
def test_moe_token_rows_alone_cost_exactly_what_the_whole_trace_gives_them(stage):
    """MoE token rows are costed per token count from a real trace built in the machine's attention form, only
    those rows evaluated (`_traced_rows`): the same floats, bit for bit, as the whole trace's token rows summed
    (`_by_trace`, the whole-trace fallback), on random counts, for the whole model and each pipeline stage."""
    sc = StepCost(H100, load_model("mixtral-8x7b"), stage=stage)
    assert not sc.polynomial["token"] and not sc.whole
    counts = np.random.default_rng(7).integers(1, 9000, size=6)
    got = sc.token(counts)
    want = np.array([sc._by_trace(1, int(m), 0)["token"] for m in counts])
    assert np.asarray(got.seconds).tolist() == want[:, 0].tolist()
    assert np.asarray(got.energy_j).tolist() == want[:, 1].tolist()


def test_moe_token_rows_use_the_whole_trace_when_op_costs_depend_on_it(tmp_path):
    """A PIM array keeps weights resident only when all of a trace's weights fit: a small MoE model whose token
    rows fit without lm_head costs them differently alone, so the construction check sends every class to whole
    real traces (`whole`), which the composition then matches."""
    (tmp_path / "tiny.yaml").write_text(
        "name: tiny-moe\nmodel_type: mixtral\nhidden_size: 1024\nintermediate_size: 1024\nnum_attention_heads: 8\n"
        "num_key_value_heads: 2\nnum_hidden_layers: 2\nvocab_size: 64000\nnum_local_experts: 4\n"
        "num_experts_per_tok: 2\nmax_position_embeddings: 4096\nhidden_act: silu\ntie_word_embeddings: false\n"
    )
    arch = load_arch("neural-cache").with_values({"compute.weights_resident": True})
    sc = StepCost(arch, load_model(str(tmp_path / "tiny.yaml")), Precision(weights="int4_g128", activations="int8"))
    assert sc.whole and not any(sc.polynomial.values()) and sc.check_error < 1e-9
    alone = sc._traced_rows("token", [(1, 7, 0)])[0][0]
    assert abs(alone - sc._by_trace(1, 7, 0)["token"][0]) > 1e-6 * alone  # rows alone would be wrong here


def test_mla_context_rows_of_each_form_are_polynomials_of_that_form():
    """MLA's decode form (q_absorb, v_up) and prefill form (kv_b_proj) are context rows, each form's fitted on its
    own shapes (they were costed from a real trace per shape); the rows both forms share keep their polynomial."""
    basis = build_basis(load_model("deepseek-v2-lite"))
    assert basis.forms and basis.context.exact and basis.one.exact and basis.seq.exact
    for op in ("q_absorb", "v_up", "kv_b_proj"):
        assert f"layers.0.{op}" in basis.names["context"]
    assert "layers.0.q_absorb" in basis.one.names and "layers.0.kv_b_proj" in basis.context.names
    assert "layers.0.q_proj" in basis.names["token"]
    assert not build_basis(LLAMA).forms
    assert step_cost("h100-sxm", "deepseek-v2-lite").polynomial["context"]


def test_mixed_batch_is_one_varlen_attention_kernel():
    """Two sequences over different contexts under the per-sequence rule (`batched_decode=False`; the default runs
    them as one batched op, tests/test_serve_batched_decode.py): each one's attention cost, one launch less than
    two kernels."""
    sc = StepCost(H100, LLAMA, batched_decode=False)
    both = sc.iteration(np.array([1, 1]), np.array([100, 900]), emit=2)
    one = sc.attention([1, 1], [1, 1], [101, 901])
    want = sc.token(2).seconds + sc.seq(2).seconds + one.seconds.sum() - sc.fixed.seconds
    assert both.seconds == pytest.approx(want)
    # one fused attention kernel per layer (the GPU folds qk, softmax, av) × h100 launch_overhead
    assert sc.fixed.seconds == pytest.approx(32 * H100.compute["launch_overhead"])


def test_longer_context_never_makes_a_step_cheaper():
    gen = generate(step_cost(), prompt=10, output=3000)
    assert np.all(np.diff(gen.step_s) >= -1e-15)
    assert np.all(np.diff(gen.step_j) >= -1e-12)


def test_generate_cli_json(capsys):
    assert (
        main(
            [
                "generate",
                "--arch",
                "bitmod",
                "--model",
                "llama-2-7b",
                "--weights",
                "3.0625",
                "--prompt",
                "256",
                "--output",
                "21",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["decode_steps"] == 20
    assert out["ttft_s"] > 0 and out["tpot_s"] > 0
    assert out["energy_per_token_j"] == pytest.approx(out["energy_j"] / 21)
    assert out["e2e_s"] == pytest.approx(out["ttft_s"] + 20 * out["tpot_s"])


@pytest.mark.parametrize(
    "argv,field",
    [
        (["--prompt", "0", "--output", "3"], "--prompt"),
        (["--prompt", "4", "--output", "-1"], "--output"),
        (["--prompt", "4", "--output", "2", "--batch", "0"], "--batch"),
        # beyond what a trace holds: one line, not numpy's 160 GiB allocation error or an int64 overflow
        (["--prompt", "4", "--output", "2", "--batch", str(2**53 + 1)], "--batch: must be at most"),
        (["--prompt", str(2**31 - 8), "--output", "100"], "--output: prompt + output"),
        (["--prompt", "10", "--output", "10", "--batch", str(2**31)], "too large to count: macs of layers.0"),
    ],
)
def test_generate_bad_input_is_one_line_exit_2(argv, field, capsys):
    assert main(["generate", "--arch", "h100-sxm", "--model", "llama-3-8b", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and field in err[0]


def test_a_huge_index_is_costed_alone_and_alike(monkeypatch):
    """A dense cost table fills every index below the largest asked for; one far beyond DENSE_MAX (here made small)
    is costed on its own (a prompt of 2^31 tokens used to fill 2^31 entries: 160 GiB), with the numbers the dense
    fill gives."""
    from hwsim.serve import stepcost

    monkeypatch.setattr(stepcost, "DENSE_MAX", 1024)
    sc = StepCost(H100, load_model("gpt-2"))
    far = sc.token(np.array([100, 50_000]))
    assert len(sc.token.sec) <= 1024  # not filled up to 50,000
    near = StepCost(H100, load_model("gpt-2")).token(np.array([100]))
    # equal but for the order of a float sum over the table's rows (1 ulp of the energy)
    assert far.seconds[0] == pytest.approx(near.seconds[0], rel=1e-12)
    assert far.energy_j[0] == pytest.approx(near.energy_j[0], rel=1e-12)
    assert far.seconds[1] > far.seconds[0] > 0


def _tiny_moe(tmp_path, experts, top_k):
    path = tmp_path / f"moe-{experts}-{top_k}.yaml"
    path.write_text(
        f"name: tiny-moe-{experts}-{top_k}\nmodel_type: mixtral\nhidden_size: 128\nintermediate_size: 64\n"
        "num_attention_heads: 4\nnum_key_value_heads: 2\nnum_hidden_layers: 1\nvocab_size: 512\n"
        f"num_local_experts: {experts}\nnum_experts_per_tok: {top_k}\nmax_position_embeddings: 4096\n"
        "hidden_act: silu\ntie_word_embeddings: false\n"
    )
    return load_model(str(path))


@settings(max_examples=40, deadline=None)
@given(
    ek=st.integers(2, 64).flatmap(lambda e: st.tuples(st.just(e), st.integers(1, e))),
    batch=st.integers(1, 5),
    prompt=st.integers(1, 70),
)
def test_moe_serving_equals_real_traces_for_any_experts_and_top_k(tmp_path_factory, ek, batch, prompt):
    """The top-k assignments of a step split over the experts evenly at some token counts and unevenly at others
    (hwsim.workload.layer_ops.mlp: `experts_rest` only then). 8 experts top 5 runs it at two tokens but not at one,
    and the basis fit crashed (ValueError) on its probe shapes' differing rows: serving costs every step as the
    engine costs its real trace (tests/test_serve_generate.py's own reference: trace + evaluate)."""
    experts, top_k = ek
    model = _tiny_moe(tmp_path_factory.mktemp("moe"), experts, top_k)
    sc = StepCost(H100, model)
    assert sc.check_error < 1e-9
    gen = generate(sc, prompt=prompt, output=4, batch=batch)
    assert gen.ttft_s == pytest.approx(_direct(H100, model, batch, prompt, 0)["seconds"], rel=1e-9)
    for d in range(3):
        want = evaluate(H100, trace(model, "decode", batch=batch, context=prompt + d)).totals
        assert gen.step_s[d] == pytest.approx(want["seconds"], rel=1e-9)
        assert gen.step_j[d] == pytest.approx(want["energy_j"], rel=1e-9)


@pytest.mark.parametrize("experts,top_k", [(8, 5), (7, 5)])
def test_moe_whose_two_token_step_splits_unevenly_serves(tmp_path, experts, top_k, capsys):
    """The cases found crashing (`experts_rest` at two tokens, not at one): the basis is built, its token rows marked
    inexact (costed from real traces), the rest still polynomials; `hwsim serve`-style generation runs."""
    model = _tiny_moe(tmp_path, experts, top_k)
    basis = build_basis(model)
    assert "layers.0.experts_rest.down_proj" in basis.token.names
    assert not basis.token.exact and basis.seq.exact and basis.context.exact
    assert StepCost(H100, model).polynomial == {"token": False, "seq": True, "context": True}
