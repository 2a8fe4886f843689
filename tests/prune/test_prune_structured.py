"""2:4 (m-by-n) structured sparsity through TFMOT, and the pattern checker."""

import numpy as np
import pytest

from tfcompress.errors import ConfigError, ShapeError
from tfcompress.prune import MbyNPruning, check_m_by_n, is_m_by_n_sparse


def test_checker_on_hand_made_dense_kernels():
    # Dense kernel [C_in=8, C_out=2]; groups of 4 run along C_in (down each column).
    good = np.zeros((8, 2), "float32")
    good[[0, 3, 5, 6], 0] = 1.0
    good[[1, 2, 4, 7], 1] = 1.0
    assert is_m_by_n_sparse(good, (2, 4))
    bad = good.copy()
    bad[1, 0] = 1.0  # three nonzeros among inputs 0..3 of output 0
    assert not is_m_by_n_sparse(bad, (2, 4))
    # groups run along inputs, not outputs: a kernel sparse along outputs only fails
    along_outputs = np.zeros((4, 8), "float32")
    along_outputs[:, :2] = 1.0
    assert not is_m_by_n_sparse(along_outputs, (2, 4))


def test_checker_on_conv_kernels_and_short_last_group():
    kernel = np.ones((3, 3, 6, 2), "float32")  # C_in = 6: groups {0..3}, {4, 5}
    kernel[:, :, [0, 1, 4], :] = 0.0
    assert is_m_by_n_sparse(kernel, (2, 4))
    kernel[:, :, 0, :] = 1.0  # the first group now holds three nonzeros
    assert not is_m_by_n_sparse(kernel, (2, 4))
    assert not is_m_by_n_sparse(np.ones((3, 3, 6, 2)), (1, 4))  # the short group {4, 5} counts too
    with pytest.raises(ShapeError):
        is_m_by_n_sparse(np.ones((3, 4, 2)), (2, 4))


@pytest.mark.parametrize("bad", [(4, 2), (0, 4), (2,), "2:4", (2.5, 4)])
def test_bad_pattern_raises_config_error(bad):
    with pytest.raises(ConfigError):
        MbyNPruning(m_by_n=bad)


def test_two_four_pattern_holds_after_fine_tuning(cnn, trainer):
    # conv0 has one input channel, so every group of 4 trivially holds at most one nonzero
    assert check_m_by_n(cnn) == {"conv0": True, "conv1": False, "dense": False, "logits": False}
    stage = MbyNPruning(m_by_n=(2, 4), epochs=1)
    pruned = stage.apply(cnn, trainer)
    holds = check_m_by_n(pruned)
    assert holds == {"conv0": True, "conv1": True, "dense": True, "logits": False}
    assert stage.report["pattern_holds"] == {"conv1": True, "dense": True}
    assert stage.report["pruned_kernel_sparsity"] == pytest.approx(0.5, abs=0.01)
