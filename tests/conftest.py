"""Test-wide settings. Small matrix products are 10-40x slower with threaded BLAS on a loaded 2-core
machine (measured by the allocation tests), and xdist already runs one worker per core."""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
