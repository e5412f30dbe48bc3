"""Synthetic-v0's ``nonlinearity`` knob: the default stays the logistic-bilinear truth, eta > 0 is exact satiation."""

from __future__ import annotations

import numpy as np
import pytest

from recbandit.data.synthetic import make_catalogue
from recbandit.envs import make_env
from recbandit.envs.synthetic import make_config, synthetic_problem
from recbandit.envs.user_models import LatentFactorUserModel, SatiationUserModel, satiation_normaliser

SMALL = {"n_items": 300, "n_users": 200}


def _truth(nonlinearity: float | None) -> tuple[LatentFactorUserModel, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The env's user model, users int64[50], items int64[50, 6], true affinities [50, 6], item quality."""
    kwargs = dict(SMALL) if nonlinearity is None else {**SMALL, "nonlinearity": nonlinearity}
    config = make_config(**kwargs)
    model = synthetic_problem(config).user_model
    assert isinstance(model, LatentFactorUserModel)
    cat = make_catalogue(config.catalogue)
    users = np.arange(50)
    items = np.arange(50 * 6).reshape(50, 6)
    return model, users, items, np.einsum("bf,bkf->bk", cat.user_prefs[users], cat.item_topics[items]), cat.item_quality


def test_default_is_the_logistic_bilinear_model_bit_for_bit() -> None:
    for value in (None, 0.0):
        model, users, items, a, quality = _truth(value)
        assert type(model) is LatentFactorUserModel
        assert isinstance(model, LatentFactorUserModel)
        dots = np.einsum("bf,bkf->bk", model.user_factors[users], model.item_factors[items])
        expected = 1.0 / (1.0 + np.exp(-(dots + model.item_bias[items])))  # the class's own formula, unchanged
        np.testing.assert_array_equal(model.expected_reward(users, items), expected)
        documented = 1 / (1 + np.exp(-(4 * a + quality[items] - 2.5)))  # the env docstring's formula
        np.testing.assert_allclose(model.expected_reward(users, items), documented)


@pytest.mark.parametrize("eta", [0.25, 1.0, 1.5])
def test_satiation_truth_is_the_documented_formula(eta: float) -> None:
    model, users, items, a, quality = _truth(eta)
    assert isinstance(model, SatiationUserModel)
    s = (a - eta * a * a) / satiation_normaliser(eta)
    np.testing.assert_allclose(model.expected_reward(users, items), 1 / (1 + np.exp(-(4 * s + quality[items] - 2.5))))


def test_satiation_curve_peaks_at_one_over_two_eta_and_spans_zero_to_one() -> None:
    a = np.linspace(0, 1, 100_001)
    for eta in (0.75, 1.0, 1.5, 3.0):
        s = (a - eta * a * a) / satiation_normaliser(eta)
        assert a[s.argmax()] == pytest.approx(1 / (2 * eta), abs=1e-4)
        assert s.max() == pytest.approx(1.0) and s[0] == 0.0
    assert [satiation_normaliser(e) for e in (0.0, 0.25, 0.5, 1.0, 2.0)] == [1.0, 0.75, 0.5, 0.25, 0.125]


def test_a_non_monotone_truth_changes_which_candidate_is_best() -> None:
    linear, users, items, a, _ = _truth(None)
    curved, *_ = _truth(1.5)
    best_linear = linear.expected_reward(users, items).argmax(axis=1)
    best_curved = curved.expected_reward(users, items).argmax(axis=1)
    moved = best_linear != best_curved
    assert moved.any()  # the optimum moved for some users ...
    rows = np.arange(len(users))[moved]
    # ... mostly away from matches beyond the satiation peak (a = 1/3), towards ones nearer it
    assert np.mean(np.abs(a[rows, best_curved[moved]] - 1 / 3)) < np.mean(np.abs(a[rows, best_linear[moved]] - 1 / 3))


def test_bad_nonlinearity_names_the_argument() -> None:
    with pytest.raises(ValueError, match=r"^nonlinearity must be a finite number >= 0\.0, got -1$"):
        make_env("recbandit/Synthetic-v0", nonlinearity=-1, **SMALL)
    with pytest.raises(ValueError, match=r"^eta must be a finite number > 0, got 0\.0$"):
        SatiationUserModel(np.ones((2, 3)) / 3, np.ones((4, 3)) / 3, np.zeros(4), eta=0.0)


def test_nonlinear_env_steps() -> None:
    env = make_env("recbandit/Synthetic-v0", batch_size=8, nonlinearity=1.5, **SMALL)
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.zeros(8, np.int64))
    assert info["rewards"].shape == (8,) and ((info["expected_rewards"] > 0) & (info["expected_rewards"] < 1)).all()
