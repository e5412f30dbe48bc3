"""Replay evaluation of agents on a uniformly random log (Li et al. 2011)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from recbandit.agents import make_agent
from recbandit.agents.base import Agent, Decision, Obs, deterministic
from recbandit.data.logged import Interactions, Items, LoggedData, Users
from recbandit.evaluation.replay import replay_arrays, replay_log, wilson_interval

SHARED = Path(os.environ.get("RECBANDIT_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
CTR = np.array([0.05, 0.1, 0.2, 0.3, 0.6])


def uniform_log(n: int = 20_000, seed: int = 0) -> dict[str, np.ndarray]:
    """A uniformly random log over 5 items with known click rates and 3-d contexts."""
    rng = np.random.default_rng(seed)
    actions = rng.integers(len(CTR), size=n)
    return {
        "users": rng.normal(size=(n, 3)).astype(np.float32),
        "items": np.eye(len(CTR), dtype=np.float32),
        "actions": actions,
        "rewards": (rng.random(n) < CTR[actions]).astype(float),
        "pscore": np.full(n, 1 / len(CTR)),
    }


class Fixed(Agent):
    """Always the candidate at ``slot``; records what it is shown and taught."""

    name: ClassVar[str] = "fixed"
    slot = 4

    def _reset(self) -> None:
        self.seen: list[Obs] = []
        self.taught: list[tuple[Obs, np.ndarray, np.ndarray]] = []

    def act(self, obs: Obs) -> Decision:
        self.seen.append(obs)
        b = len(obs["user"])
        return Decision(np.full(b, self.slot, np.int64), deterministic(b))

    def update(self, obs: Obs, actions: np.ndarray, rewards: np.ndarray) -> None:
        self.taught.append((obs, actions, rewards))


def test_fixed_policy_replays_its_item_ctr_and_learns_only_from_kept_rounds() -> None:
    log = uniform_log()
    agent = Fixed()
    res = replay_arrays(agent, log["users"], log["items"], log["actions"], log["rewards"], log["pscore"], batch_size=7)
    assert res.kept == int((log["actions"] == 4).sum()) and abs(res.kept - res.expected_kept) < 4 * np.sqrt(4000)
    assert res.ci95[0] < CTR[4] < res.ci95[1] and res.ctr == pytest.approx(log["rewards"][log["actions"] == 4].mean())
    np.testing.assert_array_equal(res.kept_rows, np.flatnonzero(log["actions"] == 4))
    # observations have the envs' layout: user [B, d_u], items [B, K, d_i], item_ids [B, K]
    first = agent.seen[0]
    assert first["user"].shape == (7, 3) and first["items"].shape == (7, 5, 5) and first["item_ids"].shape == (7, 5)
    assert first["item_ids"][0].tolist() == [0, 1, 2, 3, 4] and first["user"].dtype == np.float32
    # updates: only kept rounds, with their logged rewards
    taught_rewards = np.concatenate([r for _, _, r in agent.taught])
    np.testing.assert_array_equal(taught_rewards, log["rewards"][res.kept_rows])
    assert all((a == 4).all() and len(o["user"]) == len(a) for o, a, _ in agent.taught)


def test_a_learning_agent_beats_uniform_and_runs_are_reproducible() -> None:
    log = uniform_log(n=8_000, seed=1)
    args = (log["users"], log["items"], log["actions"], log["rewards"], log["pscore"])
    ucb = replay_arrays(make_agent("ucb1"), *args, seed=3)
    rnd = replay_arrays(make_agent("random"), *args, seed=3)
    assert ucb.ctr > CTR.mean() + 0.15 and abs(rnd.ctr - CTR.mean()) < 0.05
    again = replay_arrays(make_agent("ucb1"), *args, seed=3)
    assert again.kept == ucb.kept and again.ctr == ucb.ctr
    online = replay_arrays(make_agent("ts"), *args, seed=0, batch_size=1)
    batched = replay_arrays(make_agent("ts"), *args, seed=0, batch_size=500)
    assert online.ctr > CTR.mean() + 0.1 and batched.ctr > CTR.mean() + 0.1
    assert ucb.to_dict()["agent"] == "ucb1" and "kept_rows" not in ucb.to_dict()


def test_replay_refuses_what_it_cannot_evaluate() -> None:
    log = uniform_log(n=100)
    args = (log["users"], log["items"], log["actions"], log["rewards"])
    with pytest.raises(ValueError, match="uniformly random log"):
        replay_arrays(Fixed(), *args, np.linspace(0.1, 0.3, 100))
    with pytest.raises(ValueError, match=r"actions must be integers in \[0, 5\)"):
        replay_arrays(Fixed(), log["users"], log["items"], log["actions"] + 1, log["rewards"])
    with pytest.raises(ValueError, match="must have shape"):
        replay_arrays(Fixed(), log["users"], log["items"], log["actions"][:50], log["rewards"])
    with pytest.raises(ValueError, match="batch_size"):
        replay_arrays(Fixed(), *args, batch_size=0)


def test_replay_of_a_loggeddata() -> None:
    rng = np.random.default_rng(42)  # not the agent's seed: default_rng(0) would replay the log's own draws
    n, k = 3000, 4
    items = rng.integers(k, size=n)
    inter = Interactions(
        user=np.arange(n),
        item=items,
        reward=(rng.random(n) < CTR[items]).astype(float),
        timestamp=np.arange(n, dtype=float),
        propensity=np.full(n, 1 / k),
        position=rng.integers(1, 4, size=n),
        context=rng.normal(size=(n, 6)).astype(np.float32),
    )
    data = LoggedData(
        "obd-like", "t", inter, Items(np.arange(k), [""] * k, rng.normal(size=(k, 3))), Users(np.arange(n)), "binary"
    )

    class Second(Fixed):
        slot = 2

    res = replay_log(Second(), data, context_dim=2)
    assert res.kept == int((items == 2).sum()) and res.ci95[0] < CTR[2] < res.ci95[1]
    assert res.ctr == pytest.approx(inter.reward[items == 2].mean())
    res = replay_log(make_agent("random"), data, seed=0)
    assert abs(res.kept - n / k) < 4 * np.sqrt(n / k)


@pytest.mark.skipif(not (SHARED / "obd" / "random" / "all" / "all.csv").is_file(), reason="OBD sample not found")
def test_replay_on_the_obd_sample() -> None:
    from recbandit.data.obd import load_obd

    res = replay_log(make_agent("random"), load_obd(SHARED / "obd"), seed=0, batch_size=100)
    assert res.rounds == 10_000 and abs(res.kept - 125) < 4 * np.sqrt(125)


@pytest.mark.skipif(not (SHARED / "obd" / "random" / "all" / "all.csv").is_file(), reason="OBD sample not found")
def test_replay_contexts_are_the_obd_envs() -> None:
    # One set of rules: the round contexts replay gives the agent are the ones OBD-v0 gives
    # the same visitors (PCA fitted on the same training rows), and so are the item contexts.
    from recbandit.data.obd import load_obd
    from recbandit.envs import make_env
    from recbandit.evaluation.replay import log_contexts

    env = make_env("recbandit/OBD-v0", path=str(SHARED / "obd"), campaign="men")
    users, items = log_contexts(load_obd(SHARED / "obd", campaign="men"))
    problem = env.unwrapped.problem
    np.testing.assert_array_equal(users, problem.user_contexts)
    np.testing.assert_array_equal(items, problem.item_contexts)


def test_wilson_interval() -> None:
    lo, hi = wilson_interval(0, 130)
    assert lo == 0.0 and 0.02 < hi < 0.035
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
