"""The shared tiling model: re-fetch only when neither operand fits, choosing the cheaper operand."""
import numpy as np

from hwsim.engine.memory import backing_traffic

KI = 1024.0


def test_fits_streams_once():
    dram, fa, fb = backing_traffic(np.array([100 * KI]), np.array([10_000 * KI]), np.array([5.0]),
                                   np.array([1.0]), 512 * KI, 512 * KI)
    assert dram[0] == 100 * KI + 10_000 * KI + 5 and fa[0] == 1 and fb[0] == 1


def test_refetch_picks_fewer_bytes():
    a, b = 2048 * KI, 3 * 1024 * KI  # A = 4 tiles of 512 KiB, B = 6 tiles
    dram, fa, fb = backing_traffic(np.array([a]), np.array([b]), np.array([0.0]), np.array([1.0]), 512 * KI, 512 * KI)
    # B re-read 4 times: 4b + a = 14 MiB; A re-read 6 times: 6a + b = 15 MiB → re-read B
    assert dram[0] == 4 * b + a and fb[0] == 4 and fa[0] == 1


def test_count_splits_instances():
    # 32 heads of 64 KiB each fit their buffers even though the op total does not
    dram, fa, fb = backing_traffic(np.array([32 * 64 * KI]), np.array([32 * 64 * KI]), np.array([0.0]),
                                   np.array([32.0]), 512 * KI, 512 * KI)
    assert dram[0] == 2 * 32 * 64 * KI
