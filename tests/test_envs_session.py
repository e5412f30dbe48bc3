"""Session envs: fatigue, drift, satisfaction and leaving against their equations; seeding; runner."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from test_envs_logged import assert_fit_report_describes
from threadpoolctl import threadpool_limits

import recbandit  # noqa: F401  (registers ids)
from recbandit.agents import make_agent
from recbandit.envs import BanditProblem, LatentFactorUserModel, make_env
from recbandit.envs.session import BatchedSessionEnv, SessionCore, SessionDynamics, SessionEnv
from recbandit.evaluation.runner import run

SMALL = {"n_items": 300, "n_users": 200}


def sigmoid(x: float | np.ndarray) -> float | np.ndarray:
    return 1 / (1 + np.exp(-x))


def logit(p: float | np.ndarray) -> float | np.ndarray:
    return np.log(p) - np.log1p(-p)


def tiny_problem(bias: np.ndarray | None = None, k: int = 2) -> tuple[BanditProblem, np.ndarray]:
    """2 users x 6 items; items 0-2 are topic 0, items 3-5 topic 1 (pure topics)."""
    topics = np.repeat(np.eye(2), 3, axis=0)
    bias = np.array([0.5, -1.0, -1.5, 0.0, -0.5, -2.0]) if bias is None else bias
    model = LatentFactorUserModel(np.array([[1.0, 0.0], [0.0, 1.0]]), topics, bias, scale=1.0)
    ctx = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    user_ctx = np.array([[1.0, -1.0], [-1.0, 1.0]], np.float32)
    return BanditProblem(user_model=model, user_contexts=user_ctx, item_contexts=ctx, k=k), topics


def core_with(dynamics: SessionDynamics, bias: np.ndarray | None = None) -> SessionCore:
    problem, topics = tiny_problem(bias)
    core = SessionCore(problem, topics, dynamics, batch=1)
    core.start(np.random.default_rng(0), np.array([0]))
    core.users[:] = 0
    return core


def test_fatigue_lowers_click_probability_of_repeated_topic_exactly() -> None:
    dyn = SessionDynamics(fatigue_decay=0.5, fatigue_strength=1.0, drift_strength=0.0, leave_logit=-50.0)
    core = core_with(dyn)
    rng = np.random.default_rng(1)
    p0 = core.problem.user_model.expected_reward(np.array([0]), np.array([[1, 4]]))[0]
    previous = []
    for n in range(6):
        core.candidates = np.array([[1, 4]])  # item 1 (topic 0) and item 4 (topic 1)
        p = core.expected_rewards()[0]
        fatigue = sum(0.5**j for j in range(n))  # topic 0 shown n times in a row
        assert p[0] == pytest.approx(sigmoid(logit(p0[0]) - fatigue), rel=1e-12)
        assert p[1] == pytest.approx(p0[1], rel=1e-12)  # the other topic is untouched
        previous.append(p[0])
        core.step(rng, 0, np.array([0]))
    assert np.all(np.diff(previous) < 0)
    # Fatigue fades when the topic rests: show topic 1 twice, topic 0 recovers part of its logit.
    for _ in range(2):
        core.candidates = np.array([[1, 4]])
        core.step(rng, 0, np.array([1]))
    core.candidates = np.array([[1, 4]])
    rested = core.expected_rewards()[0, 0]
    assert rested > previous[-1]
    assert rested == pytest.approx(sigmoid(logit(p0[0]) - 0.25 * sum(0.5**j for j in range(6))), rel=1e-12)


def test_interest_drifts_toward_clicked_topics() -> None:
    # item 0 is clicked for sure (huge bias); a click on topic 0 lifts item 1 (also topic 0)
    bias = np.array([30.0, -1.0, -1.5, 0.0, -0.5, -2.0])
    dyn = SessionDynamics(fatigue_strength=0.0, drift_strength=0.7, drift_decay=0.5, leave_logit=-50.0)
    core = core_with(dyn, bias)
    rng = np.random.default_rng(2)
    base = core.problem.user_model.expected_reward(np.array([0]), np.array([[1, 4]]))[0]
    core.candidates = np.array([[0, 4]])
    rewards, *_ = core.step(rng, 0, np.array([0]))
    assert rewards[0] == 1.0
    core.candidates = np.array([[1, 4]])
    p = core.expected_rewards()[0]
    assert p[0] == pytest.approx(sigmoid(logit(base[0]) + 0.7), rel=1e-12)
    assert p[1] == pytest.approx(base[1], rel=1e-12)


def test_satisfaction_and_leave_probability_follow_their_equations() -> None:
    dyn = SessionDynamics(satisfaction_rate=0.25, initial_satisfaction=0.6, leave_logit=-1.0, leave_sensitivity=4.0)
    np.testing.assert_allclose(dyn.leave_probability(np.array([0.0, 0.5, 1.0])), sigmoid(np.array([-1.0, -3.0, -5.0])))
    assert np.all(np.diff(dyn.leave_probability(np.linspace(0, 1, 11))) < 0)  # lower satisfaction, likelier to leave
    problem, topics = tiny_problem()
    env = BatchedSessionEnv(problem, topics, dyn, batch_size=64)
    env.reset(seed=0)
    sat = np.full(64, 0.6)
    for _ in range(20):
        _, _, _, _, info = env.step(np.zeros(64, np.int64))
        sat = np.where(info["session_step"] == 0, 0.6, sat)
        sat = 0.75 * sat + 0.25 * info["rewards"]
        np.testing.assert_allclose(info["satisfaction"], sat)
        np.testing.assert_allclose(info["leave_probability"], sigmoid(-1.0 - 4.0 * sat))
        sat = np.where(info["terminated"] | info["truncated"], np.nan, sat)


def expected_length(dyn: SessionDynamics, click: float) -> float:
    """E[session length] when every step's click is ``click`` (0 or 1): satisfaction is deterministic."""
    s, alive, total = dyn.initial_satisfaction, 1.0, 0.0
    for _ in range(dyn.max_steps):
        total += alive  # the session reaches this step
        s = (1 - dyn.satisfaction_rate) * s + dyn.satisfaction_rate * click
        alive *= 1 - float(dyn.leave_probability(np.array(s)))
    return total


@pytest.mark.parametrize("click_bias, click", [(-40.0, 0.0), (40.0, 1.0)])
def test_unsatisfied_users_leave_sooner_as_predicted(click_bias: float, click: float) -> None:
    dyn = SessionDynamics(
        fatigue_strength=0.0, drift_strength=0.0, leave_logit=-1.0, leave_sensitivity=6.0, max_steps=30
    )
    problem, topics = tiny_problem(np.full(6, click_bias))
    n = 4000
    env = BatchedSessionEnv(problem, topics, dyn, batch_size=n)
    env.reset(seed=3)
    # The first session of each of the n slots (ids < n): n independent sessions (collecting
    # whichever sessions end first would over-sample short ones).
    lengths = np.zeros(n)
    for _ in range(dyn.max_steps):
        _, _, _, _, info = env.step(np.zeros(n, np.int64))
        assert (info["rewards"] == click).all()
        first = (info["terminated"] | info["truncated"]) & (info["session_ids"] < n)
        lengths[info["session_ids"][first]] = info["session_length"][first]
    assert (lengths > 0).all()
    lengths_arr = lengths
    want = expected_length(dyn, click)
    assert abs(lengths_arr.mean() - want) < 4 * lengths_arr.std() / np.sqrt(len(lengths_arr))
    if click == 0.0:
        assert want < 0.5 * expected_length(dyn, 1.0)  # never-clicking users leave much sooner


def test_observation_carries_user_context_and_session_features() -> None:
    env = make_env("recbandit/Session-v0", **SMALL)
    problem, dyn = env.problem, env.dynamics
    obs, _ = env.reset(seed=5)
    d_u, d_i = problem.user_dim, problem.item_dim
    assert obs["user"].shape == (d_u + 2 + 2 * d_i,) and env.observation_space.contains(obs)
    user = env.core.users[0]
    shown, clicked = np.zeros(d_i), np.zeros(d_i)
    for step in range(8):
        np.testing.assert_array_equal(obs["user"][:d_u], problem.user_contexts[user])
        np.testing.assert_array_equal(obs["items"], problem.item_contexts[obs["item_ids"]])
        assert obs["user"][d_u] == pytest.approx(step / dyn.max_steps)
        np.testing.assert_allclose(obs["user"][d_u + 2 : d_u + 2 + d_i], shown, atol=1e-6)
        np.testing.assert_allclose(obs["user"][d_u + 2 + d_i :], clicked, atol=1e-6)
        a = step % 3
        obs, reward, terminated, truncated, info = env.step(a)
        v = problem.item_contexts[info["item_ids"][a]]
        shown = dyn.fatigue_decay * shown + (1 - dyn.fatigue_decay) * v
        clicked = dyn.drift_decay * clicked + (1 - dyn.drift_decay) * reward * v
        assert info["session_step"] == step and info["session_length"] == step + 1
        if terminated or truncated:
            break


def test_info_is_exact_myopic_regret() -> None:
    env = make_env("recbandit/Session-v0", batch_size=128, **SMALL)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        expected = env.core.expected_rewards()
        actions = rng.integers(10, size=128)
        _, total, terminated, truncated, info = env.step(actions)
        rows = np.arange(128)
        np.testing.assert_array_equal(info["expected_rewards"], expected)
        np.testing.assert_allclose(info["regret"], expected.max(axis=1) - expected[rows, actions])
        np.testing.assert_array_equal(info["optimal_action"], expected.argmax(axis=1))
        assert total == info["rewards"].sum() and not terminated and not truncated


def test_batched_env_replaces_ended_sessions() -> None:
    env = make_env("recbandit/Session-v0", batch_size=64, max_steps=3, **SMALL)
    obs, _ = env.reset(seed=0)
    d_u = env.problem.user_dim
    returns = np.zeros(64)
    for _ in range(6):
        before = env.core.session_ids.copy()
        obs, _, _, _, info = env.step(np.zeros(64, np.int64))
        ended = info["terminated"] | info["truncated"]
        assert not (info["terminated"] & info["truncated"]).any()
        returns = np.where(info["session_step"] == 0, 0.0, returns) + info["rewards"]
        np.testing.assert_array_equal(info["session_return"], returns)
        assert (info["session_length"][info["truncated"]] == 3).all()
        if ended.any():
            final = info["final_obs"]
            np.testing.assert_allclose(final["user"][ended, d_u], info["session_length"][ended] / 3)
            assert (obs["user"][ended, d_u] == 0).all()  # a new session starts at step 0
            assert (env.core.session_ids[ended] > before.max()).all()
            np.testing.assert_array_equal(obs["user"][~ended], final["user"][~ended])


def test_same_seed_same_sessions_and_other_seed_differs() -> None:
    def trajectory(seed: int, batch: int | None) -> list:
        env = make_env("recbandit/Session-v0", batch_size=batch, **SMALL)
        obs, _ = env.reset(seed=seed)
        out = []
        for t in range(60):
            action = t % 10 if batch is None else np.full(batch, t % 10)
            obs, _, terminated, truncated, info = env.step(action)
            out.append((np.asarray(info["item_ids"]).tolist(), np.asarray(info["rewards"]).tolist()))
            if batch is None and (terminated or truncated):
                obs, _ = env.reset()
        return out

    for batch in (None, 8):
        assert trajectory(1, batch) == trajectory(1, batch)
        assert trajectory(1, batch) != trajectory(2, batch)


def test_gym_make_and_unknown_argument() -> None:
    env = gym.make("recbandit/Session-v0", **SMALL)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    with pytest.raises(ValueError, match=r"unknown Synthetic-v0 argument\(s\) \['fatigue'\].*session's fatigue_decay"):
        make_env("recbandit/Session-v0", fatigue=1.0, **SMALL)
    with pytest.raises(ValueError, match=r"^fatigue_decay must be a finite number >= 0\.0 and < 1\.0, got 1\.0$"):
        make_env("recbandit/Session-v0", fatigue_decay=1.0, **SMALL)


@pytest.mark.parametrize("batch, agent", [(None, "linucb-shared"), (8, "linucb-shared"), (8, "random")])
def test_bandit_agents_run_unchanged_through_the_runner(batch: int | None, agent: str) -> None:
    env = make_env("recbandit/Session-v0", batch_size=batch, **SMALL)
    with threadpool_limits(limits=1):  # as the runner's execute(): small matrices, one BLAS thread
        metrics, log = run(env, make_agent(agent), 400, seed=0)
    sessions = metrics["sessions"]
    ids, ends = log.sessions, log.ends
    assert (ids >= 0).all() and sessions["completed"] == ends.sum() > 10
    done = np.unique(ids[ends])
    lengths = np.array([np.sum(ids == s) for s in done])
    returns = np.array([log.rewards[ids == s].sum() for s in done])
    assert sessions["mean_length"] == pytest.approx(lengths.mean())
    assert sessions["mean_return"] == pytest.approx(returns.mean())
    assert metrics["diversity"]["diversity_over"] == "session" and 0 < metrics["diversity"]["coverage"] <= 1


def test_session_movielens_uses_genres_as_topics() -> None:
    from recbandit.data.fetch import DatasetNotFoundError

    try:
        env = make_env("recbandit/SessionMovieLens100K-v0")
    except DatasetNotFoundError as exc:
        pytest.skip(f"MovieLens 100K not found: {exc}")
    topics = env.core.topics
    assert topics.shape == (env.problem.n_items, 19)
    np.testing.assert_allclose(topics.sum(axis=1), 1.0)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert isinstance(env, SessionEnv)
    # p_0 is the fitted truth that the report scores: its held-out figures recompute from it
    from recbandit.envs.movielens import _load

    data = _load(env.config.path, env.config.rating_threshold)
    assert_fit_report_describes(env.fit_report, env, data, data.interactions.user)


def test_weighted_user_arrivals_draw_users_by_weight() -> None:
    # Regression: SessionCore read ``problem.n_users`` (absent from BanditProblem), so any
    # session env with user_weights (SessionMovieLens100K-v0 with user_arrival="activity")
    # raised AttributeError at its first reset.
    problem, topics = tiny_problem()
    problem = BanditProblem(
        user_model=problem.user_model,
        user_contexts=problem.user_contexts,
        item_contexts=problem.item_contexts,
        k=2,
        user_weights=np.array([0.9, 0.1]),
    )
    env = BatchedSessionEnv(problem, topics, SessionDynamics(leave_logit=50.0), batch_size=4000)  # all leave at once
    obs, _ = env.reset(seed=0)
    users = []
    for _ in range(3):
        obs, _, _, _, info = env.step(np.zeros(4000, np.int64))
        users.append(info["user_ids"])
    share = np.concatenate(users).mean()  # share of user 1 over 12,000 sessions
    assert abs(share - 0.1) < 4 * np.sqrt(0.1 * 0.9 / 12000)


@pytest.mark.realdata
def test_movielens_session_env_with_activity_arrivals_steps() -> None:
    from recbandit.data.fetch import DatasetNotFoundError

    try:
        env = make_env("recbandit/SessionMovieLens100K-v0", batch_size=8, user_arrival="activity")
    except DatasetNotFoundError as exc:
        pytest.skip(f"MovieLens 100K not available: {exc}")
    env.reset(seed=1)
    _, _, _, _, info = env.step(np.zeros(8, np.int64))
    assert info["user_ids"].shape == (8,) and (info["user_ids"] < 943).all()
