"""SB3 adapters (DQN, PPO, A2C): runner and CLI, determinism, equivariance, propensities, buffers."""

from __future__ import annotations

import io
import json
import random
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from recbandit.agents import make_agent
from recbandit.cli import main
from recbandit.envs import make_env
from recbandit.evaluation import RunSpec, execute
from recbandit.evaluation.runner import run

SMALL = {"n_items": 200, "n_users": 100}
#: Small schedules so that a few hundred decisions train every algorithm several times.
FAST = {
    "dqn": {"learning_starts": 16, "batch_size": 16, "train_freq": 1, "target_update_interval": 64},
    "ppo": {"n_steps": 8, "batch_size": 16, "n_epochs": 2},
    "a2c": {"n_steps": 4},
}
SB3 = list(FAST)


def obs_batch(rng: np.random.Generator, b: int = 3, k: int = 5, d_u: int = 4, d_i: int = 3) -> dict[str, np.ndarray]:
    return {
        "user": rng.normal(size=(b, d_u)).astype(np.float32),
        "items": rng.normal(size=(b, k, d_i)).astype(np.float32),
        "item_ids": np.tile(np.arange(k), (b, 1)),
    }


@pytest.mark.parametrize("name", SB3)
def test_runs_through_the_runner_and_trains(name: str) -> None:
    env = make_env("recbandit/Session-v0", batch_size=4, **SMALL)
    agent = make_agent(name, **FAST[name])
    with threadpool_limits(limits=1):
        metrics, log = run(env, agent, 400, seed=0)
    assert agent.model.num_timesteps == 396  # every transition but the last was stored
    assert agent.model._n_updates > 0
    assert ((log.propensities > 0) & (log.propensities <= 1)).all()
    assert metrics["sessions"]["completed"] > 10 and metrics["diversity"]["diversity_over"] == "session"
    assert np.isfinite(metrics["cumulative_regret"])


def test_cli_runs_deep_rl_agents_with_the_bandit_flags(tmp_path: Path) -> None:
    out = tmp_path / "res"
    argv = [
        "run", "--env", "recbandit/Session-v0", "--agents", "ppo:n_steps=8:batch_size=16,dqn:learning_starts=20,a2c",
        "--horizon", "96", "--batch-size", "2", "--seeds", "1", "--env-arg", "n_items=200", "--env-arg", "n_users=100",
        "--out", str(out), "--quiet", "--no-plot",
    ]  # fmt: skip
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = main(argv)
    assert code == 0, stderr.getvalue()
    records = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    assert sorted(r["agent_class"] for r in records) == ["a2c", "dqn", "ppo"]
    for rec in records:
        assert rec["horizon"] == 96 and rec["mode"] == "batched (B=2)"
        assert 0 < rec["propensity"]["min"] <= 1 and rec["propensity"]["missing"] == 0
        assert rec["sessions"]["completed"] > 0 and rec["diversity"]["coverage"] > 0
    ppo = next(r for r in records if r["agent_class"] == "ppo")
    assert ppo["agent_params"]["n_steps"] == 8 and ppo["agent_params"]["batch_size"] == 16
    assert "session return (len)" in stdout.getvalue()


@pytest.mark.parametrize("name", SB3)
def test_same_seed_same_actions_and_global_generators_untouched(name: str) -> None:
    def actions(seed: int) -> np.ndarray:
        spec = RunSpec(
            env="recbandit/Session-v0",
            agent=name,
            seed=seed,
            horizon=240,
            batch_size=4,
            env_kwargs=SMALL,
            agent_params=FAST[name],
        )
        env = make_env(spec.env, batch_size=spec.batch_size, **spec.env_kwargs)
        with threadpool_limits(limits=1):
            _, log = run(env, make_agent(name, **FAST[name]), spec.horizon, seed)
        return log.actions

    np.random.seed(123)
    random.seed(123)
    torch.manual_seed(123)
    before = (np.random.random(), random.random(), torch.rand(1).item())
    np.random.seed(123)
    random.seed(123)
    torch.manual_seed(123)
    first = actions(0)
    # the caller's global generators continue as if the agent had not run (SB3 code is isolated)
    assert (np.random.random(), random.random(), torch.rand(1).item()) == before
    np.testing.assert_array_equal(first, actions(0))
    assert not np.array_equal(first, actions(1))


def test_record_reproduces_through_execute(tmp_path: Path) -> None:
    spec = RunSpec(
        env="recbandit/Session-v0", agent="ppo", seed=3, horizon=64, batch_size=2, env_kwargs=SMALL,
        agent_params=FAST["ppo"],
    )  # fmt: skip
    a, b = execute(spec, tmp_path / "a"), execute(spec, tmp_path / "b")
    for key in ("cumulative_regret", "mean_reward", "sessions", "diversity", "propensity"):
        assert a[key] == b[key]


def permuted(obs: dict[str, np.ndarray], perm: np.ndarray) -> dict[str, np.ndarray]:
    return {"user": obs["user"], "items": obs["items"][:, perm], "item_ids": obs["item_ids"][:, perm]}


@pytest.mark.parametrize("name", SB3)
def test_candidate_scores_are_permutation_equivariant(name: str) -> None:
    rng = np.random.default_rng(0)
    agent = make_agent(name, seed=0)
    obs = obs_batch(rng, b=6, k=7)
    score = agent.q_values if name == "dqn" else agent.logits
    base = score(obs)
    assert base.shape == (6, 7) and np.ptp(base, axis=1).min() > 0  # candidates are told apart
    for _ in range(3):
        perm = rng.permutation(7)
        np.testing.assert_allclose(score(permuted(obs, perm)), base[:, perm], rtol=1e-5, atol=1e-6)
    if name != "dqn":
        values = agent.model.policy.predict_values(agent._tensors(agent._contexts(obs))).detach().numpy()
        perm_obs = agent._contexts(permuted(obs, rng.permutation(7)))
        perm_values = agent.model.policy.predict_values(agent._tensors(perm_obs)).detach().numpy()
        np.testing.assert_allclose(perm_values, values, rtol=1e-5, atol=1e-6)  # the state value is invariant


@pytest.mark.parametrize("name", ["ppo", "a2c"])
def test_policy_propensity_is_probability_of_chosen_action(name: str) -> None:
    rng = np.random.default_rng(1)
    agent = make_agent(name, seed=2)
    obs = obs_batch(rng, b=2000, k=4)
    obs["user"][:] = obs["user"][0]  # one state, 2000 draws from the same distribution
    obs["items"][:] = obs["items"][0]
    probs = np.exp(agent.logits(obs).astype(np.float64))
    decision = agent.act(obs)  # the first act builds and trains nothing: same policy
    np.testing.assert_allclose(decision.propensities, probs[np.arange(2000), decision.actions], rtol=1e-6)
    freq = np.bincount(decision.actions, minlength=4) / 2000
    np.testing.assert_allclose(freq, probs[0], atol=4 * np.sqrt(0.25 / 2000))


def test_dqn_propensity_is_exact_epsilon_greedy() -> None:
    rng = np.random.default_rng(2)
    agent = make_agent("dqn", seed=0, learning_starts=4, exploration_initial_eps=0.3, exploration_final_eps=0.3)
    k = 5
    for step in range(6):
        obs = obs_batch(rng, b=400, k=k)
        d = agent.act(obs)
        if step < 1:  # warm-up: uniform
            np.testing.assert_allclose(d.propensities, 1 / k)
        else:
            greedy = agent.q_values(obs).argmax(axis=1)
            np.testing.assert_allclose(d.propensities, np.where(d.actions == greedy, 0.3 / k + 0.7, 0.3 / k))
            explored = (d.actions != greedy).mean()
            assert abs(explored - 0.3 * (k - 1) / k) < 4 * np.sqrt(0.24 * 0.76 / 400)
        agent.update(obs, d.actions, rng.random(400))


def test_dqn_stores_terminal_and_truncated_transitions_like_sb3() -> None:
    rng = np.random.default_rng(3)
    agent = make_agent("dqn", seed=0, learning_starts=1000)
    obs = obs_batch(rng, b=3)
    d = agent.act(obs)
    agent.update(obs, d.actions, np.array([1.0, 0.0, 1.0]))
    final = obs_batch(rng, b=3)
    agent.end_episodes(final, np.array([True, False, False]), np.array([False, True, False]))
    nxt = obs_batch(rng, b=3)
    agent.act(nxt)
    buf = agent.model.replay_buffer
    np.testing.assert_array_equal(buf.dones[0], [1, 1, 0])
    np.testing.assert_array_equal(buf.timeouts[0], [0, 1, 0])  # truncated: bootstrapped by SB3's train
    np.testing.assert_array_equal(buf.rewards[0], [1, 0, 1])
    np.testing.assert_array_equal(buf.next_observations["user"][0, :2], final["user"][:2])
    np.testing.assert_array_equal(buf.next_observations["user"][0, 2], nxt["user"][2])
    np.testing.assert_array_equal(buf.observations["items"][0], obs["items"])


def test_ppo_bootstraps_truncation_and_trains_when_the_rollout_is_full() -> None:
    rng = np.random.default_rng(4)
    agent = make_agent("ppo", seed=0, n_steps=3, batch_size=6, n_epochs=1, gamma=0.9)
    obs = obs_batch(rng, b=2)
    for step in range(3):
        d = agent.act(obs)
        agent.update(obs, d.actions, np.array([1.0, 0.0]))
        if step == 0:
            final = obs_batch(rng, b=2)
            final_value = agent.model.policy.predict_values(agent._tensors(agent._contexts(final))).detach().numpy()
            agent.end_episodes(final, np.array([False, False]), np.array([False, True]))
        obs = obs_batch(rng, b=2)
        if step == 1:
            buf = agent.model.rollout_buffer
            assert buf.pos == 1 and agent.model._n_updates == 0
            np.testing.assert_allclose(buf.rewards[0], [1.0, 0.9 * final_value[1, 0]], rtol=1e-6)
    assert agent.model._n_updates == 0
    agent.act(obs)  # completes the third step: the rollout (3 steps x 2 users) is full -> train
    assert agent.model._n_updates == 1 and agent.model.rollout_buffer.pos == 0
    np.testing.assert_array_equal(agent._episode_starts, [0, 0])


@pytest.mark.parametrize("name", SB3)
def test_protocol_misuse_is_refused(name: str) -> None:
    rng = np.random.default_rng(5)
    agent = make_agent(name, seed=0)
    obs = obs_batch(rng)
    d = agent.act(obs)
    with pytest.raises(ValueError, match=r"update\(\) got actions that differ from those act\(\) chose"):
        agent.update(obs, (d.actions + 1) % 5, np.zeros(3))
    with pytest.raises(ValueError, match=r"act\(\) was called again before update\(\)"):
        agent.act(obs)
    agent.reset(0)
    agent.act(obs)
    with pytest.raises(ValueError, match=r"observation shape \(B, K, d_u, d_i\) = \(3, 6, 4, 3\) does not match"):
        agent.act(obs_batch(rng, k=6))
    with pytest.raises(ValueError, match=r"^threads must be an integer >= 1, got 0$"):
        make_agent(name, threads=0)
