"""Env contract of every registered id: both checkers, determinism, batched == single for B=1; info."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import recbandit  # noqa: F401  (registers ids)
from recbandit.agents import make_agent
from recbandit.data.fetch import DatasetNotFoundError
from recbandit.envs import ENVS, make_env

SMALL = {"n_items": 300, "n_users": 200}
SHARED = Path(os.environ.get("RECBANDIT_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
#: Arguments per id for the contract tests (the logged-data envs take their data's size).
ENV_KWARGS: dict[str, dict] = {
    "recbandit/Synthetic-v0": SMALL,
    "recbandit/Session-v0": SMALL,
    "recbandit/MovieLens-v0": {"path": str(SHARED / "ml-100k")},
    "recbandit/OBD-v0": {"k": 10},
    "recbandit/Logged-v0": {"path": str(SHARED / "ml-100k")},
}
#: The episodic (session) env ids.
SESSION_IDS = [env_id for env_id, (entry, _) in ENVS.items() if entry.startswith("recbandit.envs.session:")]
#: Session dynamics under which no session ends within these tests' horizons.
ENDLESS = {"leave_logit": -40.0, "max_steps": 10_000}


def make_or_skip(env_id: str, batch_size: int | None, **extra: Any) -> gym.Env:
    """The env, or a skip naming what is missing when its logged data is absent."""
    try:
        return make_env(env_id, batch_size=batch_size, **ENV_KWARGS.get(env_id, {}), **extra)
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


def _play(env: gym.Env, seed: int, steps: int) -> list:
    """What happens over ``steps`` steps of disjoint LinTS (agent seed 0) on ``env`` reset with ``seed``.

    Per step: the agent's actions, the candidates' ids and the user contexts it saw, the
    rewards and regrets. A single-user env that ends an episode is reset unseeded, as the
    runner does.
    """
    agent = make_agent("lints-disjoint", seed=0)  # draws random numbers and reads the user contexts
    batched = hasattr(env, "num_envs")
    obs, _ = env.reset(seed=seed)
    out = []
    for _ in range(steps):
        x = obs if batched else {key: np.asarray(value)[None] for key, value in obs.items()}
        d = agent.act(x)
        obs, _, terminated, truncated, info = env.step(d.actions if batched else int(d.actions[0]))
        rewards = np.asarray(info["rewards"], dtype=np.float64).reshape(-1)
        agent.update(x, d.actions, rewards)
        ended = np.asarray(info.get("terminated", terminated)) | np.asarray(info.get("truncated", truncated))
        out.append(
            (
                d.actions.tolist(),
                np.asarray(x["item_ids"]).tolist(),
                np.asarray(x["user"]).tolist(),
                rewards.tolist(),
                np.asarray(info["regret"]).reshape(-1).tolist(),
                np.asarray(ended).reshape(-1).tolist(),
            )
        )
        if not batched and (terminated or truncated):
            obs, _ = env.reset()
    return out


@pytest.fixture(scope="module")
def built() -> Callable[..., gym.Env]:
    """``built(env_id, batch_size, **extra)``: each env built once per module (or the test skipped)."""
    envs: dict[tuple, gym.Env] = {}

    def get(env_id: str, batch_size: int | None = None, **extra: Any) -> gym.Env:
        key = (env_id, batch_size, tuple(sorted(extra.items())))
        if key not in envs:
            envs[key] = make_or_skip(env_id, batch_size, **extra)
        return envs[key]

    return get


@pytest.mark.parametrize("env_id", list(ENVS))
@pytest.mark.parametrize("batch_size", [None, 4])
def test_same_seed_same_trajectory_and_another_seed_differs(
    built: Callable[..., gym.Env], env_id: str, batch_size: int | None
) -> None:
    env = built(env_id, batch_size)
    steps = 60 if batch_size is None else 15
    first = _play(env, 5, steps)
    assert _play(env, 5, steps) == first  # the same env object: a seeded reset restores everything
    assert _play(env, 6, steps) != first


@pytest.mark.parametrize("env_id", list(ENVS))
def test_batched_env_with_one_user_reproduces_single_env(built: Callable[..., gym.Env], env_id: str) -> None:
    extra = ENDLESS if env_id in SESSION_IDS else {}  # see the next test for sessions that end
    single = _play(built(env_id, None, **extra), 5, 80)
    assert single == _play(built(env_id, 1, **extra), 5, 80)


@pytest.mark.parametrize("env_id", SESSION_IDS)
def test_batched_session_env_with_one_user_reproduces_single_env_across_session_ends(
    built: Callable[..., gym.Env], env_id: str
) -> None:
    single = _play(built(env_id, None), 5, 80)
    assert sum(step[-1][0] for step in single) >= 3, "no session ended: this test would test nothing"
    assert single == _play(built(env_id, 1), 5, 80)


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
    np.testing.assert_array_equal(info["optimal_reward"], expected[rows, info["optimal_action"]])
    # An oracle that plays the optimal actions on the same draws has no regret at all, and
    # the random actions had none exactly where they hit a best candidate.
    oracle = make_env("recbandit/Synthetic-v0", batch_size=256, **SMALL)
    oracle.reset(seed=0)
    _, _, _, _, best = oracle.step(info["optimal_action"])
    np.testing.assert_array_equal(best["item_ids"], info["item_ids"])
    assert not best["regret"].any()
    np.testing.assert_array_equal(best["expected_reward"], info["optimal_reward"])
    np.testing.assert_array_equal(info["regret"] == 0, expected[rows, actions] == expected.max(axis=1))
    assert 0 < (info["regret"] == 0).sum() < 256
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


@pytest.mark.parametrize("eta", [0.0, 1.5])
def test_tabulated_truth_equals_the_model_bit_for_bit(eta: float) -> None:
    """The problem's table of expected rewards (read by every step) is the user model's own values."""
    from recbandit.envs.problem import BanditProblem
    from recbandit.envs.user_models import LatentFactorUserModel, SatiationUserModel

    rng = np.random.default_rng(0)
    uf, vf, bias = rng.dirichlet(np.ones(6), 300), rng.dirichlet(np.ones(6), 500), rng.normal(size=500)
    model = SatiationUserModel(uf, vf, bias, -2.0, 4.0, eta) if eta else LatentFactorUserModel(uf, vf, bias, -2.0, 4.0)
    problem = BanditProblem(model, rng.random((300, 3)), rng.random((500, 3)), k=10)
    assert problem._truth_table() is not None
    for batch in (1, 7, 1024):
        users, items = rng.integers(300, size=batch), rng.integers(500, size=(batch, 10))
        direct = model.expected_reward(users, items)
        assert np.array_equal(problem.expected_reward(users, items), direct)


def test_truth_is_not_tabulated_for_other_models_or_when_too_large() -> None:
    from recbandit.envs import problem as problem_module
    from recbandit.envs.problem import BanditProblem
    from recbandit.envs.user_models import LatentFactorUserModel

    class Other(LatentFactorUserModel):
        def expected_reward(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
            return 0.5 + 0.0 * super().expected_reward(users, items)

    rng = np.random.default_rng(1)
    args = (rng.random((20, 2)), rng.random((30, 2)), np.zeros(30))
    other = BanditProblem(Other(*args), rng.random((20, 2)), rng.random((30, 2)), k=5)
    assert other._truth_table() is None
    assert np.all(other.expected_reward(np.arange(3), np.ones((3, 5), np.int64)) == 0.5)
    old = problem_module.TABLE_MAX
    problem_module.TABLE_MAX = 599  # 20 x 30 = 600 entries
    try:
        big = BanditProblem(LatentFactorUserModel(*args), rng.random((20, 2)), rng.random((30, 2)), k=5)
        assert big._truth_table() is None
    finally:
        problem_module.TABLE_MAX = old


def test_online_action_checks_refuse_what_discrete_refuses() -> None:
    env = make_env("recbandit/Synthetic-v0")
    env.reset(seed=0)
    for bad in (-1, 10, 3.0, np.array([3]), np.array(True), "3"):
        with pytest.raises(ValueError, match="action must be"):
            env.step(bad)
    for good in (3, np.int64(9), np.array(2), np.uint8(0)):
        env.step(good)
    batched = make_env("recbandit/Synthetic-v0", batch_size=1)
    batched.reset(seed=0)
    for bad_batch in (np.array([10]), np.array([-1]), np.array([1.0]), np.array([1, 2])):
        with pytest.raises(ValueError, match="action must be"):
            batched.step(bad_batch)
