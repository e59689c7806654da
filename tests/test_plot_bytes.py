"""The same figure saved twice gives the same bytes in every plot format: no time of saving (PDF CreationDate,
SVG dc:date, which follow SOURCE_DATE_EPOCH when set, else the clock) and SVG ids from a fixed salt."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hwsim.plotting import save_figure  # noqa: E402


@pytest.mark.parametrize("ext", ["png", "pdf", "svg"])
def test_same_figure_same_bytes_at_another_time(tmp_path, monkeypatch, ext):
    fig, ax = plt.subplots()
    ax.scatter(np.arange(20), np.arange(20) ** 2, rasterized=True)  # rasterized, as the Pareto plot's cloud
    ax.plot([0, 19], [0, 361], clip_on=True)
    saved = []
    for day, epoch in enumerate(("1767225600", "1767312000")):  # 2026-01-01, then a day later
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
        save_figure(fig, tmp_path / f"{day}.{ext}")
        saved.append((tmp_path / f"{day}.{ext}").read_bytes())
    plt.close(fig)
    assert saved[0] == saved[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"0.{ext}", f"1.{ext}"]  # no temporary left
