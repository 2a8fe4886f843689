import numpy as np
import pytest

from tfcompress.distill import DecoupledKD, KLDivergence, StandardizedKL, losses
from tfcompress.errors import ConfigError

RNG = np.random.default_rng(0)
T_LOGITS = RNG.normal(size=(5, 7)).astype("float32") * 3
S_LOGITS = RNG.normal(size=(5, 7)).astype("float32")
LABELS = np.array([0, 3, 6, 2, 1])


@pytest.mark.parametrize("cls", [KLDivergence, StandardizedKL, DecoupledKD])
def test_zero_when_student_equals_teacher_and_positive_otherwise(cls):
    loss = cls()
    same = loss(T_LOGITS, T_LOGITS, LABELS).numpy()
    diff = loss(T_LOGITS, S_LOGITS, LABELS).numpy()
    assert same.shape == (5,)
    np.testing.assert_allclose(same, 0.0, atol=1e-4)
    assert np.all(diff > 1e-3)


@pytest.mark.parametrize("cls", [KLDivergence, StandardizedKL, DecoupledKD])
def test_config_round_trip(cls):
    loss = cls(temperature=3.0)
    again = cls.from_config(loss.get_config())
    assert again.get_config() == loss.get_config()
    restored = losses.get(losses.serialize(loss))
    assert type(restored) is cls and restored.get_config() == loss.get_config()


def test_kl_matches_hand_computation_and_scales_with_t_squared():
    t, s, temp = T_LOGITS[:1], S_LOGITS[:1], 2.0
    p = np.exp(t / temp) / np.exp(t / temp).sum()
    q = np.exp(s / temp) / np.exp(s / temp).sum()
    expected = (p * np.log(p / q)).sum() * temp**2
    np.testing.assert_allclose(KLDivergence(temp)(t, s).numpy()[0], expected, rtol=1e-4)


def test_standardized_kl_ignores_logit_scale_and_shift():
    loss = StandardizedKL(2.0)
    np.testing.assert_allclose(loss(T_LOGITS, 5 * T_LOGITS + 3).numpy(), 0.0, atol=1e-4)
    assert np.all(KLDivergence(2.0)(T_LOGITS, 5 * T_LOGITS + 3).numpy() > 0.01)


def test_dkd_accepts_one_hot_labels_and_needs_labels():
    one_hot = np.eye(7)[LABELS]
    np.testing.assert_allclose(DecoupledKD()(T_LOGITS, S_LOGITS, one_hot).numpy(),
                               DecoupledKD()(T_LOGITS, S_LOGITS, LABELS).numpy(), rtol=1e-5)
    with pytest.raises(ConfigError):
        DecoupledKD()(T_LOGITS, S_LOGITS)


def test_bad_arguments_are_named():
    with pytest.raises(ConfigError, match="temperature"):
        KLDivergence(0)
    with pytest.raises(ConfigError, match="Unknown distillation loss 'klx'"):
        losses.get("klx")
