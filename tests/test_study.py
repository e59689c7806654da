"""Study YAML: parsing, expansion, samplers, and one-line errors naming file and key path."""

import textwrap

import numpy as np
import pytest

from hwsim.errors import HwsimError
from hwsim.study import design_points, load_study, n_points

BASE = """
name: t
architectures:
  - preset: bitmod
    sweep:
      compute.rows: [16, 32, 64]
      clock: {min: 0.5 GHz, max: 2 GHz, num: 3, log: true}
  - preset: bitmod-fp16
    name: fp16
workloads:
  - model: llama-2-7b
    phase: [prefill, decode]
    batch: [1, 4]
    seq: 128
precisions:
  weights: [int4, fp16]
objectives: [energy_j:min, seconds:min]
"""


def write(tmp_path, text, name="s.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_parse_and_expand(tmp_path):
    s = load_study(write(tmp_path, BASE), check_names=False)
    assert [d.name for d in s.designs] == ["bitmod", "fp16"]
    # decode ignores seq (one new token) and takes the trace's default context of 256
    assert [(w.phase, w.batch, w.seq, w.context) for w in s.workloads] == [
        ("prefill", 1, 128, 0),
        ("prefill", 4, 128, 0),
        ("decode", 1, 1, 256),
        ("decode", 4, 1, 256),
    ]
    # activations and kv left out are `model`: the checkpoint's activation and KV-cache formats, fp16 for this
    # plain preset (sweep.evaluate.concrete)
    assert [(p.weights, p.activations, p.kv) for p in s.precisions] == [
        ("int4", "model", "model"),
        ("fp16", "model", "model"),
    ]
    assert n_points(s.designs[0], s.sampler) == 9 and n_points(s.designs[1], s.sampler) == 1
    pts = design_points(s.designs[0], s.sampler)
    assert pts["compute.rows"].tolist() == [16, 16, 16, 32, 32, 32, 64, 64, 64]
    np.testing.assert_allclose(pts["clock"][:3], [0.5e9, 1e9, 2e9])  # units → SI, geometric spacing
    assert s.outputs.dir == "results/t" and s.outputs.format == "parquet"
    assert design_points(s.designs[0], s.sampler, 4, 6)["compute.rows"].tolist() == [32, 32]


@pytest.mark.parametrize("kind", ["random", "lhs"])
def test_samplers_seeded_and_in_range(tmp_path, kind):
    text = BASE.replace("objectives:", f"sampler: {{kind: {kind}, samples: 500, seed: 3}}\nobjectives:")
    text = text.replace("num: 3, log: true", "log: true").replace("[16, 32, 64]", "{min: 8, max: 128, integer: true}")
    s = load_study(write(tmp_path, text), check_names=False)
    a = design_points(s.designs[0], s.sampler)
    b = design_points(s.designs[0], s.sampler)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert a["compute.rows"].dtype == np.int64 and a["compute.rows"].min() >= 8 and a["compute.rows"].max() <= 128
    assert 0.5e9 <= a["clock"].min() and a["clock"].max() <= 2e9
    assert len(np.unique(a["compute.rows"])) > 60  # the whole range is used
    if kind == "lhs":  # Latin hypercube: exactly one sample per stratum of each axis
        u = np.log(a["clock"] / 0.5e9) / np.log(4)
        assert sorted(np.floor(u * 500).astype(int).tolist()) == list(range(500))
    other = load_study(write(tmp_path, text.replace("seed: 3", "seed: 4"), "o.yaml"), check_names=False)
    assert not np.array_equal(design_points(other.designs[0], other.sampler)["clock"], a["clock"])


@pytest.mark.parametrize(
    "old, new, where, msg",
    [
        ("name: t", "name: t\nbogus: 1", "bogus", "unknown key"),
        ("    sweep:", "    swep:", r"architectures\[0\]\.swep", "did you mean sweep"),
        ("[16, 32, 64]", "[]", r"architectures\[0\]\.sweep\.compute\.rows", "must not be empty"),
        ("batch: [1, 4]", "batch: four", r"workloads\[0\]\.batch\[0\]", "expected an integer"),
        ("phase: [prefill, decode]", "phase: train", r"workloads\[0\]\.phase\[0\]", "must be one of prefill, decode"),
        ("num: 3, ", "", r"architectures\[0\]\.sweep\.clock", "needs num"),
        ("[int4, fp16]", "[int4, {x: 1}]", r"precisions\.weights\[1\]", "format name or a number of bits"),
        (
            "objectives: [energy_j:min, seconds:min]",
            "objectives: [energy_j:least]",
            "objectives",
            "direction must be min or max",
        ),
        ("objectives:", "sampler: {kind: lhs}\nobjectives:", "sampler", "needs samples"),
        ("0.5 GHz", "0.5 furlongs", r"architectures\[0\]\.sweep\.clock\.min", "cannot read"),
        ("name: fp16", "name: bitmod", r"architectures\[1\]", "used twice"),
        # a NaN bound was a ValueError traceback, an infinite one an OverflowError or a grid of inf clocks
        ("min: 0.5 GHz", "min: .nan", r"architectures\[0\]\.sweep\.clock\.min", "finite numbers, got nan"),
        ("max: 2 GHz", "max: .inf", r"architectures\[0\]\.sweep\.clock\.max", "finite numbers, got inf"),
        # num: 10^12 asked numpy for 7 TiB (MemoryError traceback) before the study's size was checked
        ("num: 3", "num: 1000000000000", r"architectures\[0\]\.sweep\.clock\.num", "at most 100,000,000"),
        # the plain 32 was read as 32 B/cycle (the others' unit), where a plain number is SI (B/s)
        ("[16, 32, 64]", '["128 bit/cycle", 32]', r"architectures\[0\]\.sweep\.compute\.rows", "units and without"),
    ],
)
def test_schema_errors_name_file_and_path(tmp_path, old, new, where, msg):
    assert old in BASE
    p = write(tmp_path, BASE.replace(old, new))
    with pytest.raises(HwsimError, match=msg) as info:
        load_study(p, check_names=False)
    assert str(info.value).startswith(str(p) + ": ")
    import re

    assert re.search(where, info.value.field or "")


def test_not_yaml_and_missing(tmp_path):
    with pytest.raises(HwsimError, match="invalid YAML at line"):
        load_study(write(tmp_path, "a: [1, 2"))
    with pytest.raises(HwsimError, match="no such file"):
        load_study(tmp_path / "nope.yaml")
    with pytest.raises(HwsimError, match=r"architectures\[0\]: no workloads"):
        load_study(write(tmp_path, "architectures: [{preset: x}]"))


@pytest.mark.parametrize(
    "old, new, where, msg",
    [
        ("preset: bitmod-fp16", "preset: bitmod-fp61", r"architectures\[1\]\.preset", "unknown architecture preset"),
        ("model: llama-2-7b", "model: llama-9", r"workloads\[0\]\.model", "unknown"),
        ("[int4, fp16]", "[int4, fp99z]", "precisions", "weights"),
    ],
)
def test_name_checks(tmp_path, old, new, where, msg):
    import re

    p = write(tmp_path, BASE.replace(old, new))
    with pytest.raises(HwsimError, match=msg) as info:
        load_study(p)
    assert str(info.value).startswith(str(p)) and re.search(where, info.value.field)


def test_fingerprint_tracks_rows_not_location(tmp_path):
    a = load_study(write(tmp_path, BASE), check_names=False)
    b = load_study(write(tmp_path, BASE + "outputs: {dir: elsewhere}\n", "b.yaml"), check_names=False)
    c = load_study(write(tmp_path, BASE.replace("[16, 32, 64]", "[16, 32]"), "c.yaml"), check_names=False)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
