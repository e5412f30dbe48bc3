"""Env contract: both Gymnasium and SB3 checkers, determinism, batched == single for B=1, info."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import recbandit  # noqa: F401  (registers ids)
from recbandit.data.fetch import DatasetNotFoundError
from recbandit.envs import ENVS, make_env

SMALL = {"n_items": 300, "n_users": 200}
SHARED = Path(os.environ.get("RECBANDIT_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
#: Arguments per id for the contract tests (the logged-data envs take their data's size).
ENV_KWARGS: dict[str, dict] = {
    "recbandit/Synthetic-v0": SMALL,
    "recbandit/Session-v0": SMALL,
    "recbandit/MovieLens-v0": {"path": str(SHARED / "ml-100k")},
    "recbandit/Logged-v0": {"path": str(SHARED / "ml-100k")},
}


def make_or_skip(env_id: str, batch_size: int | None) -> gym.Env:
    """The env, or a skip naming what is missing when its logged data is absent."""
    try:
        return make_env(env_id, batch_size=batch_size, **ENV_KWARGS.get(env_id, {}))
    except DatasetNotFoundError as exc:
        pytest.skip(f"{env_id}: data not found: {exc}")


@pytest.mark.parametrize("env_id", list(ENVS))
@pytest.mark.parametrize("batch_size", [None, 1, 64])
def test_registered_envs_pass_both_checkers(env_id: str, batch_size: int | None) -> None:
    env = make_or_skip(env_id, batch_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SB3 advises flattening Dict observations; not an error
        check_env(env, skip_render_check=True)
        sb3_check_env(env, warn=False)


def test_gym_make_by_id() -> None:
    env = gym.make("recbandit/Synthetic-v0", **SMALL)
    obs, _ = env.reset(seed=0)
    assert obs["items"].shape == (10, 12) and obs["user"].shape == (12,) and obs["item_ids"].shape == (10,)
    assert env.observation_space.contains(obs)


def _trajectory(env: gym.Env, actions: np.ndarray, batched: bool) -> list:
    out = []
    obs, _ = env.reset(seed=123)
    for a in actions:
        step = env.step(np.array([a]) if batched else int(a))
        info = step[4]
        out.append(
            (
                np.asarray(obs["item_ids"]).reshape(-1).tolist(),
                np.asarray(obs["items"]).reshape(-1).tolist(),
                float(np.asarray(info["rewards"]).reshape(-1)[0]),
                float(np.asarray(info["regret"]).reshape(-1)[0]),
            )
        )
        obs = step[0]
    return out


def test_batched_env_with_one_user_reproduces_single_env() -> None:
    actions = np.random.default_rng(0).integers(10, size=300)
    single = _trajectory(make_env("recbandit/Synthetic-v0", **SMALL), actions, batched=False)
    batched = _trajectory(make_env("recbandit/Synthetic-v0", batch_size=1, **SMALL), actions, batched=True)
    assert single == batched


def test_same_seed_same_trajectory_and_different_seed_differs() -> None:
    actions = np.zeros(50, dtype=np.int64)
    env = make_env("recbandit/Synthetic-v0", **SMALL)
    a = _trajectory(env, actions, batched=False)
    b = _trajectory(env, actions, batched=False)
    assert a == b
    env.reset(seed=124)
    first = env.reset(seed=124)[0]["item_ids"].tolist()
    assert first != a[0][0]


def test_info_is_exact_and_consistent() -> None:
    env = make_env("recbandit/Synthetic-v0", batch_size=256, **SMALL)
    obs, _ = env.reset(seed=0)
    actions = np.random.default_rng(1).integers(10, size=256)
    _, total, terminated, truncated, info = env.step(actions)
    rows = np.arange(256)
    expected = env.problem.user_model.expected_reward(info["user_ids"], info["item_ids"])
    np.testing.assert_array_equal(info["expected_rewards"], expected)
    np.testing.assert_array_equal(info["item_ids"], obs["item_ids"])
    np.testing.assert_allclose(info["optimal_reward"], expected.max(axis=1))
    np.testing.assert_allclose(info["regret"], expected.max(axis=1) - expected[rows, actions])
    assert (info["regret"] >= 0).all()
    assert total == info["rewards"].sum() and not terminated and not truncated
    assert set(np.unique(info["rewards"])) <= {0.0, 1.0}
    # candidates of a user are distinct
    srt = np.sort(obs["item_ids"], axis=1)
    assert (srt[:, 1:] != srt[:, :-1]).all()


def test_rewards_follow_expected_rewards() -> None:
    env = make_env("recbandit/Synthetic-v0", batch_size=4096, **SMALL)
    env.reset(seed=0)
    chosen, rewards = [], []
    for _ in range(10):
        _, _, _, _, info = env.step(np.zeros(4096, dtype=np.int64))
        chosen.append(info["expected_reward"])
        rewards.append(info["rewards"])
    p, r = np.concatenate(chosen), np.concatenate(rewards)
    # 40,960 Bernoulli draws: the mean matches the mean probability within 4 standard errors
    assert abs(r.mean() - p.mean()) < 4 * np.sqrt((p * (1 - p)).sum()) / len(p)


def test_cold_items_arrive_over_time_and_are_flagged() -> None:
    env = make_env("recbandit/Synthetic-v0", batch_size=1000, cold_window=1000, **SMALL)
    arrival = env.problem.item_arrival
    env.reset(seed=0)
    seen_cold = 0
    for _ in range(20):
        t0 = env._t
        obs_ids = env._candidates
        _, _, _, _, info = env.step(np.zeros(1000, dtype=np.int64))
        assert (arrival[obs_ids] <= t0).all(), "an item was offered before its arrival"
        cold = (arrival[obs_ids] > 0) & (t0 - arrival[obs_ids] < 1000)
        np.testing.assert_array_equal(info["cold"], cold)
        seen_cold += int(cold.sum())
    assert seen_cold > 0


def test_synthetic_catalogue_is_seeded_text() -> None:
    from recbandit.data import make_catalogue

    a, b = make_catalogue(n_items=50, n_users=20, seed=3), make_catalogue(n_items=50, n_users=20, seed=3)
    c = make_catalogue(n_items=50, n_users=20, seed=4)
    assert a.item_text == b.item_text and a.user_text == b.user_text
    np.testing.assert_array_equal(a.item_topics, b.item_topics)
    assert a.item_text != c.item_text
    assert all(t.endswith(".") and len(t.split()) >= 8 for t in a.item_text)
    np.testing.assert_allclose(a.item_topics.sum(axis=1), 1.0)
    assert (a.item_arrival >= 0).all() and (a.item_arrival > 0).any()


def test_bow_encoder_is_deterministic_and_normalised() -> None:
    from recbandit.encoders import Encoder, HashingBowEncoder

    enc = HashingBowEncoder(dim=32, seed=1)
    assert isinstance(enc, Encoder)
    x = enc.encode(["The haunted castle.", "the HAUNTED castle", "", "a dragon"])
    assert x.dtype == np.float32 and x.shape == (4, 32)
    np.testing.assert_allclose(np.linalg.norm(x[[0, 1, 3]], axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(x[0], x[1])  # case and punctuation folded
    assert not x[2].any()
    np.testing.assert_array_equal(
        x, HashingBowEncoder(dim=32, seed=1).encode(["The haunted castle.", "the HAUNTED castle", "", "a dragon"])
    )
    assert abs(float(x[0] @ x[3])) < 0.9
