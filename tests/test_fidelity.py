"""The fidelity report's metrics and protocols, and the ground truth's fit: no leakage, seeded, clear errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from recbandit.data.logged import Interactions, Items, LoggedData, Users
from recbandit.envs.fidelity import (
    build_mixture,
    expected_calibration_error,
    format_report,
    grouped_auc,
    make_split,
    pair_keys,
    per_user_last,
    platt,
    sample_unrated,
    summary_line,
)
from recbandit.envs.truth import TruthConfig, fit_truth, fit_truth_cached

# --------------------------------------------------------------------------- metrics


def test_ece_on_hand_computed_cases() -> None:
    # Two equal-mass bins: {0.1, 0.2} with labels {0, 1}: |0.5 - 0.15| = 0.35; {0.3, 0.4}: |0.5 - 0.35| = 0.15.
    assert expected_calibration_error([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], bins=2) == pytest.approx(0.25)
    # Rows are sorted by probability before binning, whatever their order.
    assert expected_calibration_error([1, 0, 1, 0], [0.4, 0.3, 0.2, 0.1], bins=2) == pytest.approx(0.25)
    # One bin: |mean(y) - mean(p)|.
    assert expected_calibration_error([1, 0, 0], [0.2, 0.2, 0.2], bins=1) == pytest.approx(1 / 3 - 0.2)
    # Perfectly calibrated bins.
    assert expected_calibration_error([0, 1, 1, 1], [0.5, 0.5, 1.0, 1.0], bins=2) == pytest.approx(0.0)
    assert np.isnan(expected_calibration_error([], []))
    with pytest.raises(ValueError, match="bins"):
        expected_calibration_error([1], [0.5], bins=0)


def test_grouped_auc_is_the_mean_over_users_with_both_classes() -> None:
    groups = np.array([0, 0, 0, 1, 1, 2])
    labels = np.array([1, 0, 0, 1, 0, 1])
    scores = np.array([0.9, 0.5, 0.95, 0.1, 0.2, 0.3])
    # user 0: positive 0.9 beats 0.5, loses to 0.95 -> 0.5; user 1: 0.1 < 0.2 -> 0; user 2 has one class.
    assert grouped_auc(groups, labels, scores) == (pytest.approx(0.25), 2)


def test_platt_recovers_a_logistic_relation() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=20_000)
    y = (rng.random(20_000) < 1 / (1 + np.exp(-(-1.0 + 2.0 * x)))).astype(float)
    a, b = platt(x, y)
    assert a == pytest.approx(-1.0, abs=0.1) and b == pytest.approx(2.0, abs=0.1)


# --------------------------------------------------------------------------- protocols


def test_per_user_split_holds_out_each_users_last_rows_by_time() -> None:
    users = np.array([0, 0, 0, 0, 0, 1, 2, 2])
    ts = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 0.0, 9.0, 8.0])
    held = per_user_last(users, ts, 0.4)
    # user 0: round(0.4 * 5) = 2 latest rows (t = 5 and 4); user 1 keeps its only row; user 2: 1 of 2 (t = 9).
    np.testing.assert_array_equal(held, [True, False, True, False, False, False, True, False])
    split = make_split(users, ts, "per-user", holdout=0.4, val_share=0.34)
    assert not (split.val & split.held_out).any()
    # Validation: the same rule inside the fitting part (user 0's 3 fitting rows -> the latest, t = 3).
    np.testing.assert_array_equal(np.flatnonzero(split.val), [4])
    assert split.split_time is None


def test_global_split_is_by_time() -> None:
    ts = np.arange(100, dtype=float)
    split = make_split(np.zeros(100, np.int64), ts, "global", holdout=0.2, val_share=0.1)
    assert split.split_time == pytest.approx(79.2)
    np.testing.assert_array_equal(np.flatnonzero(split.held_out), np.arange(80, 100))
    np.testing.assert_array_equal(np.flatnonzero(split.val), np.arange(72, 80))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"protocol": "random"}, "unknown protocol 'random'"),
        ({"holdout": 1.0}, "holdout must be a finite number"),
        ({"val_share": 0.0}, "val_share must be a finite number"),
    ],
)
def test_split_arguments_are_validated(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_split(np.zeros(4, np.int64), np.arange(4.0), **kwargs)


def test_sampled_unrated_items_are_unrated_and_seeded() -> None:
    users = np.array([0, 0, 1, 2, 2, 2])
    items = np.array([0, 1, 2, 0, 3, 4])
    keys = pair_keys(users, items, 6)
    draw_users = np.repeat([0, 1, 2], 2000)
    got = sample_unrated(np.random.default_rng(3), draw_users, 6, keys)
    assert not np.isin(draw_users * 6 + got, keys).any()
    assert set(got[draw_users == 2].tolist()) == {1, 2, 5}
    np.testing.assert_array_equal(got, sample_unrated(np.random.default_rng(3), draw_users, 6, keys))
    mix = build_mixture(np.random.default_rng(0), users, items, np.ones(6), 3, 6, keys)
    assert len(mix.labels) == 24 and mix.rated.sum() == 6 and mix.labels[~mix.rated].sum() == 0


# --------------------------------------------------------------------------- the truth


def rating_log(seed: int = 0, n_users: int = 150, n_items: int = 60, per_user: int = 25) -> LoggedData:
    """Users choose items near their taste (latent 3-d), rate them 1-5; features describe both sides."""
    rng = np.random.default_rng(seed)
    taste = rng.normal(size=(n_users, 3))
    item_f = rng.normal(size=(n_items, 3))
    affinity = taste @ item_f.T + rng.normal(0, 0.5, size=(n_users, n_items))
    users, items, ratings = [], [], []
    for u in range(n_users):
        p = np.exp(affinity[u]) / np.exp(affinity[u]).sum()
        chosen = rng.choice(n_items, size=per_user, replace=False, p=p)
        users += [u] * per_user
        items += chosen.tolist()
        ratings += np.clip(np.round(3 + affinity[u, chosen] + rng.normal(0, 0.7, per_user)), 1, 5).tolist()
    ts = rng.permutation(len(users)).astype(float)
    order = np.argsort(ts)
    return LoggedData(
        name="tiny-ratings",
        source="tests",
        interactions=Interactions(
            user=np.array(users)[order],
            item=np.array(items)[order],
            reward=np.array(ratings, dtype=float)[order],
            timestamp=ts[order],
        ),
        items=Items(ids=np.arange(n_items), text=[""] * n_items, features=item_f.astype(np.float32)),
        users=Users(ids=np.arange(n_users)),
        reward_kind="rating",
        rating_threshold=4.0,
    )


FAST = TruthConfig(model="mf")


@pytest.fixture(scope="module")
def fitted():
    data = rating_log()
    return data, fit_truth(data, FAST, item_side=data.items.features)


def test_truth_is_personal_and_reported(fitted) -> None:
    _, model = fitted
    rep = model.fit_report
    assert rep["protocol"]["name"] == "per-user" and rep["exposure"]["neg_ratio"] == 4
    assert rep["rows"]["eval_unrated"] == 4 * rep["rows"]["held_out"]
    assert rep["model"]["user_auc"] > rep["popularity"]["user_auc"] + 0.03
    assert rep["model"]["auc"] > rep["item_rate"]["auc"]
    assert set(rep["segments"]) == {"known_users", "new_users", "cold_items"}
    assert rep["segments"]["known_users"]["held_out_rows"] == rep["rows"]["held_out"]
    table = format_report(rep)
    assert "| model |" in table and "| popularity |" in table and "| item_rate |" in table
    assert summary_line(rep).startswith("fidelity of tiny-ratings's truth (mf, per-user split): AUC ")
    p = model.expected_reward(np.arange(5), np.tile(np.arange(10), (5, 1)))
    assert p.shape == (5, 10) and ((p > 0) & (p < 1)).all()


def test_held_out_labels_are_never_used_for_fitting(fitted) -> None:
    data, model = fitted
    held = model.split.held_out
    reward = data.interactions.reward.copy()
    reward[held] = 6 - reward[held]  # every held-out like becomes a dislike and back
    flipped = replace(data, interactions=replace(data.interactions, reward=reward))
    other = fit_truth(flipped, FAST, item_side=data.items.features)
    np.testing.assert_array_equal(other.user_factors, model.user_factors)
    np.testing.assert_array_equal(other.item_factors, model.item_factors)
    np.testing.assert_array_equal(other.item_bias, model.item_bias)
    assert other.fit_report["model"]["auc"] != model.fit_report["model"]["auc"]  # the report does see them


def test_same_seed_same_truth_other_seed_other_truth(fitted) -> None:
    data, model = fitted
    again = fit_truth(data, FAST, item_side=data.items.features)
    np.testing.assert_array_equal(again.user_factors, model.user_factors)
    other = fit_truth(data, replace(FAST, seed=1), item_side=data.items.features)
    assert not np.array_equal(other.user_factors, model.user_factors)


def test_auto_chooses_on_validation_only() -> None:
    data = rating_log(seed=1, n_users=80)
    model = fit_truth(data, TruthConfig(protocol="global"), item_side=data.items.features)
    sel = model.fit_report["truth"]["selection"]
    assert [s["name"] for s in sel] == ["mf", "two-tower"]  # logistic-mf only where neg_ratio == 0
    assert model.name == min(sel, key=lambda s: s["val_log_loss"])["name"]
    assert model.fit_report["split_time"] is not None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "deep"}, "unknown model 'deep'"),
        ({"neg_ratio": -1}, "neg_ratio must be an integer"),
        ({"protocol": "by-item"}, "unknown protocol"),
    ],
)
def test_truth_config_is_validated(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TruthConfig(**kwargs)


def test_truth_bad_input_is_named() -> None:
    data = rating_log(n_users=20)
    no_likes = replace(data, interactions=replace(data.interactions, reward=np.ones(len(data.interactions))))
    with pytest.raises(ValueError, match="tiny-ratings: the fitting part has .* rows with 0 likes"):
        fit_truth(no_likes, FAST)
    with pytest.raises(ValueError, match=r"item_side must have shape \(60, d\)"):
        fit_truth(data, FAST, item_side=np.zeros((3, 2)))


def test_cached_truth_is_the_fitted_truth(fitted, tmp_path, monkeypatch) -> None:
    data, model = fitted
    monkeypatch.setenv("RECBANDIT_TRUTH_CACHE", str(tmp_path / "truth"))
    first = fit_truth_cached(data, FAST, item_side=data.items.features)
    assert first.fit_report["truth"]["cache"].startswith("written ")
    second = fit_truth_cached(data, FAST, item_side=data.items.features)
    assert second.fit_report["truth"]["cache"].startswith("read ")
    for m in (first, second):
        np.testing.assert_array_equal(m.user_factors, model.user_factors)
        np.testing.assert_array_equal(m.item_factors, model.item_factors)
        np.testing.assert_array_equal(m.item_bias, model.item_bias)
        np.testing.assert_array_equal(m.split.held_out, model.split.held_out)
        assert m.split.split_time is None and m.name == "mf"
    assert second.fit_report["model"] == model.fit_report["model"]
    # Another setting (or other labels) is another entry; "0" turns the cache off.
    other = fit_truth_cached(data, replace(FAST, seed=3), item_side=data.items.features)
    assert other.fit_report["truth"]["cache"].startswith("written ")
    monkeypatch.setenv("RECBANDIT_TRUTH_CACHE", "0")
    assert "cache" not in fit_truth_cached(data, FAST, item_side=data.items.features).fit_report["truth"]


def test_a_one_class_validation_part_does_not_collapse_the_calibration() -> None:
    # Regression: Platt scaling fitted on a validation part with no like drove every
    # probability to ~0 (an OBD refit predicted a CTR of 1.6e-11). Calibration is skipped then.
    from recbandit.envs.fidelity import make_split

    data = rating_log(seed=3)
    config = TruthConfig(model="mf", protocol="global", neg_ratio=0)
    split = make_split(data.interactions.user, data.interactions.timestamp, "global", config.holdout, config.val_share)
    reward = data.interactions.reward.copy()
    reward[split.val] = 1.0  # every validation row a dislike
    data = replace(data, interactions=replace(data.interactions, reward=reward))
    model = fit_truth(data, config, item_side=data.items.features)
    assert model.fit_report["truth"]["calibration"] == {"a": 0.0, "b": 1.0}
    held = model.split.held_out
    p = model.pair_reward(data.interactions.user[held], data.interactions.item[held])
    assert p.mean() > 0.05  # not collapsed (the fit itself is poor: validation stopped it early)
