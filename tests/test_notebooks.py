"""Every notebook in notebooks/ executes top to bottom (nbclient) on trimmed studies."""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit notebooks without outputs"
    monkeypatch.setenv("HWSIM_REPO", str(REPO))
    monkeypatch.setenv("HWSIM_NB_OUT", str(tmp_path))
    monkeypatch.setenv("HWSIM_NB_SMALL", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's own inline backend, as a reader gets
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    # figures render inline: a sweep or a plot that writes a file must not switch the kernel to Agg
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, f"{path.name} showed no figure"
