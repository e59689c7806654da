"""Test-wide settings. Small matrix products are 10-40x slower with threaded BLAS on a loaded 2-core
machine (measured by the allocation tests), and xdist already runs one worker per core."""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


import sys  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    """Figures a test leaves open (plot functions return theirs) are closed after it: pyplot keeps every one,
    and a worker that ran 20 plot tests warned 'More than 20 figures have been opened'."""
    yield
    plt = sys.modules.get("matplotlib.pyplot")  # only where a test imported it: no matplotlib import otherwise
    if plt is not None:
        plt.close("all")
