"""User models fitted on logs: recovery of a known truth, the time split, metrics, shapes."""

from __future__ import annotations

import numpy as np
import pytest

from recbandit.data.logged import Interactions, Items, LoggedData, Users
from recbandit.envs.contexts import feature_block
from recbandit.envs.fitted import (
    FittedUserModel,
    LogisticMFConfig,
    fit_logistic_mf,
    grouped_auc,
    log_loss,
    popularity,
    roc_auc,
)
from recbandit.envs.user_models import LatentFactorUserModel, UserModel

N_USERS, N_ITEMS, N_COLD, ROWS = 300, 150, 20, 30_000
FIT = LogisticMFConfig(l2_side=5.0)


def make_log(seed: int = 0) -> tuple[LoggedData, LatentFactorUserModel, np.ndarray]:
    """A binary log drawn from a known latent-factor truth, one row per time step.

    Items ``0 .. N_COLD-1`` appear only in the last 20% of the rows (cold at the split);
    the item side features are the true item factors plus noise.
    """
    rng = np.random.default_rng(seed)
    f = 3
    P = rng.normal(size=(N_USERS, f))
    Q = rng.normal(size=(N_ITEMS, f))
    bias = rng.normal(0.0, 0.7, N_ITEMS)
    truth = LatentFactorUserModel(P, Q, bias, global_bias=-0.3)
    users = rng.integers(N_USERS, size=ROWS)
    items = rng.integers(N_COLD, N_ITEMS, size=ROWS)
    late = np.arange(ROWS) >= int(0.8 * ROWS)
    swap = late & (rng.random(ROWS) < 0.2)
    items[swap] = rng.integers(N_COLD, size=int(swap.sum()))
    p = truth.expected_reward(users, items[:, None])[:, 0]
    y = (rng.random(ROWS) < p).astype(np.float64)
    side = np.hstack([Q, bias[:, None]]) + rng.normal(0.0, 0.2, (N_ITEMS, f + 1))
    data = LoggedData(
        name="synthetic-log",
        source="tests",
        interactions=Interactions(user=users, item=items, reward=y, timestamp=np.arange(ROWS, dtype=np.float64)),
        items=Items(ids=np.arange(N_ITEMS), text=[""] * N_ITEMS),
        users=Users(ids=np.arange(N_USERS)),
        reward_kind="binary",
    )
    return data, truth, side.astype(np.float32)


@pytest.fixture(scope="module")
def fitted() -> tuple[FittedUserModel, LoggedData, LatentFactorUserModel, np.ndarray]:
    data, truth, side = make_log()
    # The side features here carry the item factors, so a weak prior on their map suits them.
    model = fit_logistic_mf(data, split_time=0.8 * ROWS, config=FIT, item_side=side)
    return model, data, truth, side


def test_fit_recovers_known_ranking(fitted) -> None:
    model, data, truth, _ = fitted
    rep = model.fit_report
    assert rep["train_rows"] == int(0.8 * ROWS) and rep["test_rows"] == ROWS - int(0.8 * ROWS)
    # Held-out: well above popularity, and close to what the truth itself achieves.
    _, test = data.split_by_time(0.8 * ROWS)
    te = test.interactions
    oracle = roc_auc(te.reward, truth.expected_reward(te.user, te.item[:, None])[:, 0])
    assert rep["model"]["auc"] > rep["popularity"]["auc"] + 0.08
    assert rep["model"]["auc"] > oracle - 0.04
    assert rep["model"]["user_auc"] > rep["popularity"]["user_auc"] + 0.1
    assert rep["model"]["log_loss"] < rep["popularity"]["log_loss"]
    # Every (user, item) pair, rated or not: the fitted probabilities track the truth.
    users = np.arange(N_USERS)
    items = np.tile(np.arange(N_ITEMS), (N_USERS, 1))
    corr = np.corrcoef(model.logits(users, items).ravel(), truth.logits(users, items).ravel())[0, 1]
    assert corr > 0.85


def test_items_without_training_rows_are_scored_from_side_features(fitted) -> None:
    model, _, truth, _ = fitted
    cold = model.fit_report["cold_items"]
    assert cold["rows"] > 1000
    assert cold["popularity_auc"] == pytest.approx(0.5)  # popularity knows nothing of them
    assert cold["model_auc"] > 0.7
    users = np.arange(N_USERS)
    items = np.tile(np.arange(N_COLD), (N_USERS, 1))
    corr = np.corrcoef(model.logits(users, items).ravel(), truth.logits(users, items).ravel())[0, 1]
    assert corr > 0.6


def test_time_split_is_respected(fitted) -> None:
    model, data, _, side = fitted
    split = 0.8 * ROWS
    assert model.split_time == split
    assert model.train_max_timestamp < split
    assert model.train_max_timestamp == data.interactions.timestamp[data.interactions.timestamp < split].max()
    # Rewriting every row at or after the split changes the report, never the model.
    inter = data.interactions
    late = inter.timestamp >= split
    poisoned = Interactions(
        user=inter.user,
        item=np.where(late, (inter.item + 7) % N_ITEMS, inter.item),
        reward=np.where(late, 1.0 - inter.reward, inter.reward),
        timestamp=inter.timestamp,
    )
    other = fit_logistic_mf(
        LoggedData(data.name, data.source, poisoned, data.items, data.users, "binary"),
        split_time=split,
        config=FIT,
        item_side=side,
    )
    np.testing.assert_array_equal(other.user_factors, model.user_factors)
    np.testing.assert_array_equal(other.item_factors, model.item_factors)
    np.testing.assert_array_equal(other.item_bias, model.item_bias)
    assert other.fit_report["model"]["auc"] < 0.5 < model.fit_report["model"]["auc"]


def test_expected_reward_shape_range_and_vectorisation(fitted) -> None:
    model = fitted[0]
    assert isinstance(model, UserModel) and isinstance(model, LatentFactorUserModel)
    rng = np.random.default_rng(1)
    users = rng.integers(N_USERS, size=64)
    items = rng.integers(N_ITEMS, size=(64, 7))
    p = model.expected_reward(users, items)
    assert p.shape == (64, 7) and p.dtype == np.float64
    assert ((p > 0) & (p < 1)).all()
    loop = np.array(
        [[model.pair_reward(np.array([u]), np.array([i]))[0] for i in row] for u, row in zip(users, items, strict=True)]
    )
    np.testing.assert_allclose(p, loop, rtol=1e-12)
    assert model.expected_reward(users[:0], items[:0]).shape == (0, 7)


def test_fit_is_deterministic_and_seeded() -> None:
    data, _, side = make_log(seed=3)
    cfg = LogisticMFConfig(max_epochs=30)
    a = fit_logistic_mf(data, 0.8 * ROWS, cfg, item_side=side)
    b = fit_logistic_mf(data, 0.8 * ROWS, cfg, item_side=side)
    c = fit_logistic_mf(data, 0.8 * ROWS, LogisticMFConfig(max_epochs=30, seed=1), item_side=side)
    np.testing.assert_array_equal(a.user_factors, b.user_factors)
    assert not np.array_equal(a.user_factors, c.user_factors)


def test_early_stopping_and_refit_are_reported() -> None:
    data, _, side = make_log(seed=4)
    model = fit_logistic_mf(data, 0.8 * ROWS, LogisticMFConfig(max_epochs=300, patience=5, refit=False), item_side=side)
    rep = model.fit_report
    assert 1 <= rep["best_epoch"] <= rep["epochs_run"] <= 300
    assert rep["epochs_run"] - rep["best_epoch"] <= 5
    assert np.isfinite(rep["val_log_loss"])
    # Without refit the validation slice (the training period's last 10%) is not fitted on.
    n_fit = int(0.8 * ROWS) - rep["val_rows"]
    assert model.train_max_timestamp == n_fit - 1


def test_rating_logs_use_the_threshold() -> None:
    data, _, side = make_log(seed=5)
    inter = data.interactions
    ratings = np.where(inter.reward > 0, 4.0 + (inter.user % 2), 1.0 + (inter.item % 3))
    rated = LoggedData(
        data.name,
        data.source,
        Interactions(inter.user, inter.item, ratings, inter.timestamp),
        data.items,
        data.users,
        "rating",
        rating_threshold=4.0,
    )
    model = fit_logistic_mf(rated, 0.8 * ROWS, LogisticMFConfig(max_epochs=20), item_side=side)
    assert model.fit_report["train_positive_rate"] == pytest.approx(inter.reward[: int(0.8 * ROWS)].mean())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"factors": 0}, "factors must be an integer >= 1"),
        ({"l2": -1.0}, "l2 must be a finite number >= 0"),
        ({"lr": 0.0}, "lr must be a finite number > 0"),
        ({"val_fraction": 0.9}, "val_fraction must be a finite number > 0.0 and <= 0.5"),
        ({"patience": 0}, "patience must be an integer >= 1"),
        ({"seed": -1}, "seed must be an integer >= 0"),
    ],
)
def test_bad_config_is_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LogisticMFConfig(**kwargs)


def test_bad_inputs_are_rejected() -> None:
    data, _, side = make_log(seed=6)
    with pytest.raises(ValueError, match="item_side must have shape"):
        fit_logistic_mf(data, 0.8 * ROWS, item_side=side[:-1])
    with pytest.raises(ValueError, match="need rows of both classes before the split"):
        fit_logistic_mf(data, 0.0)


def test_metrics_against_brute_force() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.3
    s = np.round(rng.random(300), 1)  # many ties
    pos, neg = s[y], s[~y]
    brute = ((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean()
    assert roc_auc(y, s) == pytest.approx(brute, abs=1e-12)
    assert np.isnan(roc_auc(np.ones(5), np.arange(5)))
    p = np.clip(s, 0.05, 0.95)
    assert log_loss(y, p) == pytest.approx(-np.mean(np.where(y, np.log(p), np.log(1 - p))))
    groups = np.repeat([0, 1, 2], 100)
    mean_auc, n = grouped_auc(groups, y, s)
    assert n == 3 and mean_auc == pytest.approx(np.mean([roc_auc(y[g == groups], s[g == groups]) for g in range(3)]))
    pop = popularity(np.array([0, 0, 1]), np.array([1.0, 1.0, 0.0]), 3)
    assert pop[0] > pop[2] > pop[1]  # item 2 has no rows: the global rate
    block = feature_block(np.array([[1.0, 5.0], [3.0, 5.0]]))
    np.testing.assert_allclose(block, [[-1 / np.sqrt(2), 0.0], [1 / np.sqrt(2), 0.0]], atol=1e-7)
