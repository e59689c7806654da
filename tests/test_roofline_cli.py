"""`hwsim roofline`: JSON rows, text, plots of several machines, one-line errors with exit 2."""

import json

import matplotlib
import pytest

from hwsim.cli import main
from hwsim.roofline import roofline
from hwsim.workload import load_model, trace

matplotlib.use("Agg")

BASE = ("--model", "llama-2-7b", "--phase", "decode")


def run(capsys, *argv):
    rc = main(["roofline", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_json_rows(capsys):
    rc, out, err = run(capsys, "--arch", "h100-sxm", "--arch", "bitmod", *BASE, "--weights", "4.0625", "--json")
    assert rc == 0 and err == ""
    doc = json.loads(out)
    assert set(doc) == {"summary", "roofs", "ops", "plot"} and doc["plot"] is None
    assert [s["arch"] for s in doc["summary"]] == ["h100-sxm", "bitmod"]
    row = next(r for r in doc["ops"] if r["arch"] == "bitmod" and r["name"] == "layers.0.q_proj")
    assert {
        "name",
        "intensity",
        "attainable_ops_per_s",
        "bound",
        "ridge_intensity",
        "arch",
        "level",
        "attained_ops_per_s",
        "fraction_of_roof",
        "bytes",
        "compute_roof_ops_per_s",
    } <= set(row)
    # 4.0625-bit weights on bitmod: ceil(4/2) = 2 cycles per term → 4.096 Top/s, ridge 128 op/B on 32 GB/s
    assert row["ridge_intensity"] == 128.0 and row["level"] == "dram" and row["bound"] == "memory"
    nbytes = 4096 * 2 + 4096 * 4096 * 4.0625 / 8 + 4096 * 2
    assert row["intensity"] == pytest.approx(2 * 4096 * 4096 / nbytes, rel=1e-12)
    assert row["attainable_ops_per_s"] == pytest.approx(32e9 * row["intensity"], rel=1e-12)
    h100 = doc["summary"][0]
    assert h100["tokens_per_s_ceiling"] == pytest.approx(3.35e12 / h100["bytes_per_token"], rel=1e-15)


def test_text_and_plot(tmp_path, capsys):
    path = tmp_path / "roof.png"
    rc, out, err = run(
        capsys,
        "--arch",
        "bitmod",
        *BASE,
        "--weights",
        "3",
        "--weights",
        "8",
        "--plot",
        str(path),
        "--set",
        "compute.rows=64",
        "--set",
        "compute.cols=16",
    )
    assert rc == 0 and err == ""
    assert "bitmod (bitserial) / W 3b" not in out and "W 3b / A fp16 / KV fp16" in out
    assert "tokens/s" in out and "q_proj" in out and f"plot: {path}" in out
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000


def test_several_machines_share_one_plot():
    rl = roofline(["h100-sxm", "bitmod", "tpu-like"], trace(load_model("llama-2-7b"), "decode"))
    fig = rl.plot(title="t")
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:3] == ["h100-sxm", "bitmod", "tpu-like"]
    texts = {t.get_text() for t in ax.texts}
    assert {"989 Top/s", "1.02 Top/s", "91.8 Top/s"} <= texts  # one ceiling label per machine
    assert any(t.startswith("hbm 3.35 TB/s") for t in texts)
    assert ax.get_xscale() == ax.get_yscale() == "log"
    matplotlib.pyplot.close(fig)


def test_plot_into_a_subfigure_saves_the_whole_figure(tmp_path):
    """An `ax` inside a subfigure: the file written is the root figure (a SubFigure has no savefig)."""
    rl = roofline("bitmod", trace(load_model("llama-2-7b"), "decode"))
    import matplotlib.pyplot as plt

    root = plt.figure()
    left, right = root.subfigures(1, 2)
    path = tmp_path / "sub.png"
    fig = rl.plot(path, ax=left.add_subplot())
    assert fig is left
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plt.close(root)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (("--arch", "h200", *BASE), "h200"),
        (("--arch", "bitmod", "--model", "llama-9b", "--phase", "decode"), "llama-9b"),
        (("--arch", "bitmod", *BASE, "--weights", "int4_gg"), "--weights"),
        (("--arch", "bitmod", "--arch", "bitmod", *BASE), "distinct name"),
        (("--arch", "bitmod", *BASE, "--plot", "/proc/nonexistent-dir/x.png"), "--plot"),
        (("--arch", "bitmod", *BASE, "--plot", "out.txt"), "must end in .png"),
        (("--arch", "bitmod", *BASE, "--set", "compute.lanes=3"), "compute.lanes"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, needle):
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("hwsim roofline: error:") and needle in err


def test_plot_path_that_cannot_be_written(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("")
    rc, out, err = run(capsys, "--arch", "bitmod", *BASE, "--plot", str(afile / "x.png"))  # parent is a file
    assert rc == 2 and err.count("\n") == 1 and "cannot create folder" in err
    (tmp_path / "x.png").mkdir()  # the target is a directory: fails at save time, still one line
    rc, out, err = run(capsys, "--arch", "bitmod", *BASE, "--plot", str(tmp_path / "x.png"))
    assert rc == 2 and err.count("\n") == 1 and "cannot write plot" in err and out == ""


def test_plot_into_a_new_folder(tmp_path, capsys):
    """README examples write under results/ in a fresh clone: the folder is made."""
    rc, out, err = run(capsys, "--arch", "bitmod", *BASE, "--plot", str(tmp_path / "results" / "rl.png"))
    assert rc == 0 and (tmp_path / "results" / "rl.png").stat().st_size > 0


def test_precision_the_family_cannot_execute(capsys):
    rc, out, err = run(capsys, "--arch", "lut-tensor-core", *BASE, "--weights", "2", "--activations", "8", "--json")
    assert rc == 0 and json.loads(out)["summary"][0]["family"] == "lut"
    rc, out, err = run(capsys, "--arch", "lut-tensor-core", *BASE)  # fp16 weights on a LUT datapath
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert "lut-tensor-core.yaml: --weights:" in err and "cannot execute floating-point weights" in err
