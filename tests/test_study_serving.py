"""Serving workloads in studies: schema, the serving evaluator (rows equal a direct replay), infeasible
points, Pareto fronts on serving columns, and determinism across reruns, workers and the Dask executor."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from hwsim.arch import load_arch
from hwsim.cli import main
from hwsim.engine import Precision
from hwsim.errors import HwsimError, HwsimWarning
from hwsim.serve.replay import serve
from hwsim.serve.scheduler import SchedulerConfig
from hwsim.study import load_study
from hwsim.study.serving import ServingWorkload
from hwsim.sweep import run_sweep
from hwsim.workload import load_model

STUDY = """
name: serving-test
architectures:
  - preset: bitmod
    sweep:
      compute.rows: [16, 64]
      compute.cols: [16, 32]
workloads:
  - kind: serving
    model: gpt-2
    requests: {{rate: 4, num_requests: 6, input_len: "uniform:16:64", output_len: "uniform:2:6", seed: 3}}
    max_num_seqs: 4
    kv_blocks: {kv_blocks}
    tp: [1, 2]
    link: pcie4-x16
precisions:
  weights: int8
objectives: [tpot_p99_s:min, total_area_mm2:min]
outputs: {{plot: false}}
"""


def study(tmp_path, kv_blocks=256, text=STUDY):
    p = tmp_path / "s.yaml"
    p.write_text(text.format(kv_blocks=kv_blocks))
    return load_study(p)


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_schema_expands_lists_and_keeps_the_load_apart(tmp_path):
    s = study(tmp_path)
    assert [(w.kind, w.tp) for w in s.workloads] == [("serving", 1), ("serving", 2)]
    w = s.workloads[0]
    assert w.load == "poisson(rate=4, n=6, in=uniform:16:64, out=uniform:2:6, seed=3)"
    assert (w.max_num_seqs, w.kv_blocks, w.link, w.dp) == (4, 256, "pcie4-x16", 1)
    assert len(w.stream()) == 6


def test_chunked_prefill_takes_a_list_like_every_scheduler_key(tmp_path):
    """docs/studies.md: every scheduler key takes a list; chunked_prefill refused one ('expected true or false')."""
    s = study(tmp_path, text=STUDY.replace("max_num_seqs: 4", "max_num_seqs: 4\n    chunked_prefill: [true, false]"))
    assert [(w.tp, w.chunked_prefill) for w in s.workloads] == [(1, True), (1, False), (2, True), (2, False)]


def test_rows_equal_a_direct_replay_and_fronts_work(tmp_path):
    s = study(tmp_path)
    r = run_sweep(s, tmp_path / "out", progress=False)
    t = r.table()
    assert len(t) == 8 and t["feasible"].all()
    assert set(t["phase"]) == {"serve"} and (t["devices"] == t["tp"]).all()
    # the row of bitmod 64×32, tp 1 is exactly the summary of `serve` on that machine
    row = t[(t["compute.rows"] == 64) & (t["compute.cols"] == 32) & (t["tp"] == 1)].iloc[0]
    arch = load_arch("bitmod", {"compute.rows": 64, "compute.cols": 32})
    direct = serve(
        arch,
        load_model("gpt-2"),
        s.workloads[0].stream(),
        Precision(weights="int8"),
        SchedulerConfig(max_num_seqs=4),
        kv_blocks=256,
    ).summary
    assert row["tpot_p99_s"] == direct["tpot_s"]["p99"] and row["ttft_p50_s"] == direct["ttft_s"]["median"]
    assert row["energy_per_token_j"] == direct["energy_per_output_token_j"]
    assert row["tokens_per_s"] == direct["throughput_out_tokens_per_s"]
    # tp 2 doubles the silicon; one front over both layouts (the load is the group, not the layout)
    assert np.allclose(t["total_area_mm2"], t["area_mm2"] * t["tp"])
    front = r.front_table()
    assert 1 <= len(front) < len(t)
    assert front["tpot_p99_s"].is_monotonic_increasing


def test_point_that_cannot_serve_is_an_infeasible_row(tmp_path):
    # one block of 16 tokens holds no request (prompts of 16+ tokens and 2+ outputs): every point is
    # infeasible, the reason in serve_error
    s = study(tmp_path, kv_blocks=1)
    with pytest.warns(HwsimWarning, match="none of the 8 rows is feasible"):
        r = run_sweep(s, tmp_path / "out", progress=False)
    t = r.table()
    assert r.front_rows == 0 and len(t) == 8
    assert not t["feasible"].any() and t["serve_error"].str.contains("KV blocks").all()
    assert t["tpot_p99_s"].isna().all() and (t["area_mm2"] > 0).all()


def test_point_that_cannot_serve_under_a_latency_constraint_is_infeasible_not_an_error(tmp_path):
    """Its NaN tpot_p99_s is the replay's verdict, not a metric the family lacks (the constraint raised
    "the bitserial family does not provide tpot_p99_s")."""
    text = STUDY.replace("objectives:", "constraints: {{tpot_p99_s: {{max: 10}}}}\nobjectives:")
    s = study(tmp_path, kv_blocks=1, text=text)
    with pytest.warns(HwsimWarning, match="none of the 8 rows meets them"):
        r = run_sweep(s, tmp_path / "out", progress=False)
    assert r.front_rows == 0 and not r.table()["feasible"].any()


@pytest.mark.slow
def test_serving_sweep_is_deterministic_across_runs_workers_and_dask(tmp_path):
    # one design point per task, so the workers really share the study
    s = study(
        tmp_path,
        text=STUDY.replace("compute.cols: [16, 32]", "compute.cols: [16]").replace(
            "plot: false", "plot: false, chunk_size: 1"
        ),
    )
    one = run_sweep(s, tmp_path / "a", progress=False)
    again = run_sweep(s, tmp_path / "b", progress=False)
    two = run_sweep(s, tmp_path / "c", workers=2, progress=False)
    assert digest(one.results) == digest(again.results) == digest(two.results)
    assert digest(one.front) == digest(two.front)
    pytest.importorskip("dask.distributed")
    dask = run_sweep(s, tmp_path / "d", executor="dask", workers=2, progress=False)
    assert digest(one.results) == digest(dask.results)


BAD = [
    ("requests: {rate: -1}", "workloads[0].requests.rate: expected a positive number"),
    ("requests: {rate: 1, input_len: 'weird:1'}", "workloads[0].requests: expected N (fixed)"),
    ("requests: {rate: 1}\n    tp: 5", "workloads[0]: tp 5, pp 1, ep 1: 5 does not divide the 12"),
    ("requests: {rate: 1}\n    max_num_seqs: 0", "workloads[0].max_num_seqs: must be >= 1"),
    ("requests: {rate: 1}\n    kv_blockz: 4", "workloads[0].kv_blockz: unknown key (did you mean kv_blocks"),
    ("requests: {rate: 1}\n    link: nvlink99", "workloads[0].link:"),
    ("requests: {rate: 1}\n    kv_blocks: 4\n    memory_utilization: 0.5", "workloads[0].kv_blocks: give kv_blocks or"),
    ("requests: {rate: 1}\n    kind: batchy", "workloads[0].kind: must be one of step, serving"),
    ("requests: {rate: 1}\n    kv_admission: greedy", "workloads[0].kv_admission: must be one of on-demand, reserve"),
    ("requests: {rate: 1}\n    dp_routing: sticky", "workloads[0].dp_routing: must be one of round_robin, cache_aware"),
]


@pytest.mark.parametrize("line, message", BAD)
def test_bad_serving_workload_is_one_line_exit_2(tmp_path, capsys, line, message):
    p = tmp_path / "s.yaml"
    kind = [] if "kind:" in line else ["  kind: serving"]  # a second `kind:` would be refused as a repeated key
    entry = "\n".join("    " + x for x in ["- model: gpt-2", *kind, *("  " + y for y in line.split("\n    "))])
    p.write_text(
        f"architectures: [{{preset: bitmod}}]\nworkloads:\n{entry}\nobjectives: [tpot_p99_s:min, area_mm2:min]\n"
    )
    assert main(["sweep", str(p), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{p}: " in err and message in err, err


def test_bad_request_file_names_the_file_and_line(tmp_path, capsys):
    reqs = tmp_path / "reqs.jsonl"
    reqs.write_text(
        json.dumps({"arrival_time": 0, "input_tokens": 8, "output_tokens": 2})
        + "\n"
        + json.dumps({"arrival_time": 1, "input_tokens": -3, "output_tokens": 2})
        + "\n"
    )
    p = tmp_path / "s.yaml"
    p.write_text(
        f"architectures: [{{preset: bitmod}}]\nworkloads: [{{kind: serving, model: gpt-2, requests: {reqs}}}]\n"
        "objectives: [tpot_p99_s:min, area_mm2:min]\n"
    )
    assert main(["sweep", str(p), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(reqs) in err and "line 2" in err, err


def test_request_file_workload_and_recheck_refused_for_serving_only(tmp_path):
    reqs = tmp_path / "reqs.jsonl"
    reqs.write_text(
        "".join(json.dumps({"arrival_time": i * 0.5, "input_tokens": 20, "output_tokens": 3}) + "\n" for i in range(4))
    )
    w = ServingWorkload(model="gpt-2", requests_file=str(reqs))
    assert w.load == str(reqs) and len(w.stream()) == 4
    p = tmp_path / "s.yaml"
    p.write_text(
        f"architectures: [{{preset: bitmod}}]\nworkloads: [{{kind: serving, model: gpt-2, requests: {reqs}}}]\n"
        "recheck: {sample: 2}\n"
    )
    with pytest.raises(HwsimError, match="recheck: re-checks cost step workloads"):
        load_study(p)


@pytest.mark.slow
def test_shipped_serving_quickstart_runs(tmp_path):
    s = load_study(Path(__file__).resolve().parents[1] / "studies" / "serving-quickstart.yaml")
    r = run_sweep(s, tmp_path, progress=False)
    t, front = r.table(), r.front_table()
    assert len(t) == 8 and t["feasible"].all() and r.plot.exists()
    # two devices halve the p99 TPOT of the same array at twice the silicon: both layouts reach the front
    assert set(front["tp"]) == {1, 2}
    by = t.set_index(["compute.rows", "compute.cols", "tp"])["tpot_p99_s"]
    assert (by.xs(2, level="tp") < by.xs(1, level="tp")).all()


def test_devices_needed_for_an_slo(tmp_path):
    """constraints on a latency percentile + devices:min: the front's first row is the fewest devices
    whose replay meets the target (here the tp-2 layouts of a slow array meet it, one device does not)."""
    text = STUDY.replace("compute.cols: [16, 32]", "compute.cols: [16]")
    t = run_sweep(study(tmp_path, text=text), tmp_path / "all", progress=False).table()
    slo = float(t.loc[t["tp"] == 2, "tpot_p99_s"].max())
    assert (t.loc[t["tp"] == 1, "tpot_p99_s"] > slo).any()
    text = text.replace(
        "objectives: [tpot_p99_s:min, total_area_mm2:min]",
        f"constraints: {{{{tpot_p99_s: {{{{max: {slo!r}}}}}}}}}\nobjectives: [devices:min, energy_per_token_j:min]",
    )
    r = run_sweep(study(tmp_path, text=text), tmp_path / "slo", progress=False)
    meets = t[t["tpot_p99_s"] <= slo]
    assert r.front_table()["devices"].iloc[0] == meets["devices"].min()
    assert (r.table()["feasible"] == (r.table()["tpot_p99_s"] <= slo)).all()


def test_cache_from_memory_and_replicas_count_devices(tmp_path, capsys):
    text = """
architectures: [{preset: h100-sxm}]
workloads:
  - {kind: serving, model: gpt-2, requests: {rate: 20, num_requests: 8, input_len: 64, output_len: 4}, dp: [1, 2]}
objectives: [ttft_p99_s:min, devices:min]
outputs: {plot: false}
"""
    p = tmp_path / "h.yaml"
    p.write_text(text)
    t = run_sweep(load_study(p), tmp_path / "o", progress=False).table()
    assert list(t["devices"]) == [1, 2] and (t["kv_capacity_blocks"] > 1000).all() and t["kv_blocks"].isna().all()
    # an array without a memory capacity needs the cache size: one line naming the workload key, exit 2
    p.write_text(text.replace("h100-sxm", "bitmod"))
    assert main(["sweep", str(p), "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "kv_blocks" in err and str(p) in err, err
    assert not (tmp_path / "b" / "manifest.json").exists()  # told before any point runs, not at the first one


FIT = """
architectures:
  - preset: h100-sxm
    {arch}
workloads:
  - {{kind: serving, model: gpt-2, requests: {{rate: 20, num_requests: 4, input_len: 32, output_len: 4}},
      max_batched_tokens: 256, {extra}}}
objectives: [ttft_p99_s:min, devices:min]
outputs: {{plot: false}}
"""


@pytest.mark.parametrize(
    "extra, message",
    [
        ("tp: 1", "gpt-2 does not fit on 1 device(s)"),  # sized from memory: weights alone overflow it
        ("tp: [1, 2], memory_utilization: 0.5", "tp 1, pp 1, weights fp16: gpt-2 does not fit"),  # no layout fits
        ("kv_blocks: 64", "0.25 GB of weights"),  # a given cache size used to skip the memory check (a feasible row)
    ],
)
def test_design_that_cannot_hold_the_model_is_refused_before_any_point_runs(tmp_path, capsys, extra, message):
    """docs/studies.md: a fixed design (its backing store not swept) that cannot hold a serving entry in any
    combination the entry lists stops the study before any point runs: one line naming the file and the
    entry's model, exit 2 (it used to be an infeasible row found at run time, or with kv_blocks a feasible one)."""
    p = tmp_path / "s.yaml"
    p.write_text(FIT.format(arch='set: {memory.hbm.capacity: "0.1 GB"}', extra=extra))
    out = tmp_path / "o"
    assert main(["sweep", str(p), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{p}: workloads[0].model: h100-sxm (architectures[0])" in err, err
    assert message in err, err
    assert not (out / "manifest.json").exists()  # refused before the sweep wrote anything


def test_kv_blocks_that_do_not_fit_beside_the_weights_are_refused(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(FIT.format(arch="name: h100", extra="kv_blocks: 100000000"))  # 100M blocks of 16 tokens: ~2.9 PB
    with pytest.raises(HwsimError, match=r"workloads\[0\].model: .* the 100000000 KV blocks given need"):
        load_study(p)


def test_fit_that_depends_on_swept_values_is_an_infeasible_row(tmp_path):
    """Where the fit depends on what the study sweeps (the backing store's capacity, or a layout list of which
    one fits), the points that do not fit are infeasible rows with the reason, the others are served."""
    p = tmp_path / "s.yaml"
    p.write_text(FIT.format(arch='sweep: {memory.hbm.capacity: ["0.1 GB", "80 GB"]}', extra="kv_blocks: 64"))
    t = run_sweep(load_study(p), tmp_path / "swept", progress=False).table()
    assert list(t["feasible"]) == [False, True]
    assert "0.25 GB of weights" in t["serve_error"][0] and t["serve_error"][1] == ""
    assert np.isnan(t["tpot_p99_s"][0]) and t["tpot_p99_s"][1] > 0
    p.write_text(FIT.format(arch='set: {memory.hbm.capacity: "0.25 GB"}', extra="tp: [1, 2]"))
    t = run_sweep(load_study(p), tmp_path / "tp", progress=False).table()
    assert list(t["tp"]) == [1, 2] and list(t["feasible"]) == [False, True]
    assert t["serve_error"][0].startswith("gpt-2 does not fit on 1 device(s)")


def test_serve_cli_checks_a_given_kv_blocks_against_memory(capsys):
    """The same rule on the command line: `hwsim serve --kv-blocks` sized no cache, so it checked no memory and
    replayed Llama-2-70B fp16 (138 GB of weights) on one 24 GB RTX 4090."""
    base = ["serve", "--rate", "1", "--num-requests", "2", "--input-len", "16", "--output-len", "2", "--kv-blocks"]
    assert main([*base, "100", "--arch", "rtx-4090", "--model", "llama-2-70b"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("hwsim serve: error: --kv-blocks: llama-2-70b does not fit")
    assert main([*base, "100", "--arch", "h100-sxm", "--model", "gpt-2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kv_capacity_blocks"] == 100


def test_serving_row_of_an_fpga_design_over_its_device_is_infeasible(tmp_path):
    """A serving row took `feasible` from the replay alone: a u280 with every DSP in chains (115% of its LUTs,
    which its step rows mark infeasible) was a feasible serving point. Its metrics stay, with the reason."""
    p = tmp_path / "s.yaml"
    p.write_text(
        """
architectures: [{preset: u280, sweep: {compute.dsps: [4512, 9024]}}]
workloads:
  - {kind: serving, model: gpt-2, requests: {rate: 20, num_requests: 3, input_len: 16, output_len: 2}}
precisions: {weights: int4_g128, activations: int8}
objectives: [tpot_p99_s:min, devices:min]
outputs: {plot: false}
"""
    )
    t = run_sweep(load_study(p), tmp_path / "o", progress=False).table()
    assert list(t["feasible"]) == [True, False] and (t["tpot_p99_s"] > 0).all()
    assert t["serve_error"][0] == "" and t["serve_error"][1].startswith(
        "u280 does not fit its device (limiting resource: lut, "
    )


def test_serving_only_study_without_objectives_is_refused_before_it_runs(tmp_path, capsys):
    """The default objectives name `seconds`, a step-workload column: a serving-only study without `objectives`
    ran its first point and then stopped on 'objectives: unknown column seconds'. Now it is told up front."""
    p = tmp_path / "s.yaml"
    p.write_text(
        "architectures: [{preset: bitmod}]\n"
        "workloads: [{kind: serving, model: gpt-2, kv_blocks: 64, requests: {rate: 1, num_requests: 2}}]\n"
    )
    out = tmp_path / "o"
    assert main(["sweep", str(p), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{p}: objectives: missing: the default objectives" in err, err
    assert "give `objectives`, e.g. [tpot_p99_s:min, energy_per_token_j:min]" in err and not out.exists()
    p.write_text(p.read_text() + "objectives: [tpot_p99_s:min, area_mm2:min]\n")
    assert load_study(p).objectives[0].column == "tpot_p99_s"


def test_the_library_checks_a_given_kv_blocks_against_memory():
    """hwsim.serve.replay.serve (not only the CLI) refuses a given cache that cannot fit beside the weights."""
    from hwsim.arch import load_arch
    from hwsim.serve.replay import serve
    from hwsim.serve.requests import poisson_requests
    from hwsim.workload import load_model

    reqs = poisson_requests(1.0, 2, input_len="16", output_len="2")
    with pytest.raises(HwsimError, match="llama-2-70b does not fit") as err:
        serve(load_arch("rtx-4090"), load_model("llama-2-70b"), reqs, kv_blocks=100)
    assert err.value.field == "kv_blocks"


def test_shared_prefixes_and_prefix_caching_in_a_study(tmp_path):
    """docs/studies.md: the stream's shared_prefix/prefix_groups/prefix_fraction and a prefix_caching list; the
    hit rate is a column, and caching lowers TTFT on the same load (hwsim.serve.scheduler)."""
    text = STUDY.replace("seed: 3}}", "seed: 3, shared_prefix: 32}}").replace(
        "tp: [1, 2]", "prefix_caching: [true, false]"
    )
    s = study(tmp_path, text=text)
    assert [w.prefix_caching for w in s.workloads] == [True, False]
    assert s.workloads[0].load.endswith("seed=3, prefix=32×1 on 1)")
    t = run_sweep(s, tmp_path / "out", progress=False).table()
    on, off = t[t["prefix_caching"]], t[~t["prefix_caching"]]
    assert (on["prefix_cache_hit_rate"] > 0).all() and off["prefix_cache_hit_rate"].isna().all()
    assert on["ttft_mean_s"].mean() < off["ttft_mean_s"].mean()
    bad = STUDY.replace("seed: 3}}", "seed: 3, prefix_groups: 2}}")
    with pytest.raises(HwsimError, match="shared_prefix"):
        study(tmp_path, text=bad)


def test_kv_admission_in_a_study(tmp_path):
    """docs/studies.md: kv_admission takes a list like every scheduler key; reserving whole lives (TensorRT-LLM's
    GUARANTEED_NO_EVICT) never preempts where vLLM's on-demand policy does, on a cache of 12 blocks."""
    text = STUDY.replace("tp: [1, 2]", "kv_admission: [on-demand, reserve]").replace(
        'rate: 4, num_requests: 6, input_len: "uniform:16:64", output_len: "uniform:2:6"',
        'rate: 1000, num_requests: 6, input_len: "48", output_len: "40"',
    )
    s = study(tmp_path, kv_blocks=12, text=text.replace("link: pcie4-x16", "block_size: 16"))
    assert [w.kv_admission for w in s.workloads] == ["on-demand", "reserve"]
    t = run_sweep(s, tmp_path / "out", progress=False).table()
    on_demand, reserve = t[t["kv_admission"] == "on-demand"], t[t["kv_admission"] == "reserve"]
    assert (on_demand["preemptions"] > 0).all() and (reserve["preemptions"] == 0).all()
