"""The runner's parts: what it reads of an env, what it builds, the memory it checks, what it records."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import recbandit.evaluation.runlog as runlog
import recbandit.evaluation.runner as runner
from recbandit.agents import AGENTS, make_agent
from recbandit.envs import ENVS, make_env
from recbandit.envs.problem import ProblemAttributes
from recbandit.evaluation import RunSpec, make_specs, run, run_sweep
from recbandit.evaluation.runlog import FIXED_BYTES, LOG_BYTES, SUMMARY_BYTES, RunLog, check_memory, run_bytes
from recbandit.evaluation.runner import EnvFacts, resolve_agent_params

ENV = "recbandit/Synthetic-v0"
SMALL = {"n_items": 200, "n_users": 100}
SHARED = Path(os.environ.get("RECBANDIT_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
needs_ml100k = pytest.mark.skipif(
    not (SHARED / "ml-100k" / "u.data").is_file(), reason=f"MovieLens 100K not found at {SHARED / 'ml-100k'}"
)


# --------------------------------------------------------------------------- what the runner reads of an env


@pytest.mark.parametrize("env_id", list(ENVS))
def test_every_registered_env_class_has_the_problem_attributes(env_id: str) -> None:
    for entry_point in ENVS[env_id]:
        module, attr = entry_point.split(":")
        cls = getattr(__import__(module, fromlist=[attr]), attr)
        assert issubclass(cls, ProblemAttributes), entry_point


def test_env_facts_are_read_through_gymnasium_wrappers() -> None:
    wrapped = gym.make(ENV, max_episode_steps=10, **SMALL)  # TimeLimit, OrderEnforcing, checker
    assert not isinstance(wrapped, ProblemAttributes)
    base = wrapped.unwrapped
    facts = EnvFacts.of(wrapped)
    assert facts.item_contexts is base.problem.item_contexts  # type: ignore[attr-defined]
    assert facts.n_items == 200 and facts.item_contexts.shape == (200, 12)
    assert facts.contexts_info is not None and facts.contexts_info["spec"] == "bow:256"
    assert facts.fit_report is None  # the synthetic truth is not fitted
    # Not a recbandit env: nothing to read (no coverage or diversity in its record).
    assert EnvFacts.of(object()) == EnvFacts()


def test_a_run_through_wrappers_reads_the_catalogue() -> None:
    wrapped = gym.make(ENV, **SMALL)
    metrics, log = run(wrapped, make_agent("random"), 300, 0)
    assert metrics["diversity"]["coverage"] == pytest.approx(len(np.unique(log.items)) / 200)
    assert metrics["diversity"]["diversity"] is not None


def test_synthetic_records_have_a_null_fit_report(tmp_path: Path) -> None:
    record = runner.execute(RunSpec(ENV, "random", 0, 100, env_kwargs=SMALL), tmp_path)
    assert "fit_report" in record and record["fit_report"] is None
    assert json.loads(next(tmp_path.glob("*.json")).read_text())["fit_report"] is None


@needs_ml100k
def test_movielens_records_carry_the_envs_fit_report(tmp_path: Path) -> None:
    spec = RunSpec("recbandit/MovieLens100K-v0", "random", 0, 64, batch_size=32)
    env = make_env(spec.env, batch_size=32)
    record = runner.execute(spec, tmp_path, env=env)
    stored = json.loads((tmp_path / spec.filename).read_text())["fit_report"]
    expected = json.loads(json.dumps(env.fit_report, default=float))  # type: ignore[attr-defined]
    assert stored == record["fit_report"] == expected
    assert stored["model"]["auc"] > 0.5 and "popularity" in stored and "simulation" in stored


# --------------------------------------------------------------------------- built once


def test_resolved_params_are_the_built_agents_params() -> None:
    for name, cls in AGENTS.items():
        assert resolve_agent_params(name, {}) == json.loads(json.dumps(cls().params)), name
    assert resolve_agent_params("linucb-shared", {"alpha": 0.5})["alpha"] == 0.5


@pytest.mark.parametrize(
    "name, params",
    [("linucb-shared", {"gamma": 1}), ("linucb-shared", {"alpha": -1}), ("nope", {}), ("eps-greedy", {"epsilon": 2})],
)
def test_resolving_params_fails_as_building_the_agent_does(name: str, params: dict[str, Any]) -> None:
    with pytest.raises(ValueError) as built:
        make_agent(name, **params)
    with pytest.raises(ValueError) as resolved:
        resolve_agent_params(name, params)
    assert str(resolved.value) == str(built.value)


class _Counter:
    def __init__(self, real: Any) -> None:
        self.real, self.calls = real, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.real(*args, **kwargs)


def test_a_sweep_builds_each_env_once_and_one_agent_per_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    envs, agents = _Counter(runner.make_env), _Counter(runner.make_agent)
    monkeypatch.setattr(runner, "make_env", envs)
    monkeypatch.setattr(runner, "make_agent", agents)
    specs = make_specs(ENV, ["random", ("linucb-shared", {"alpha": 1.0})], seeds=[0, 1], horizon=200, env_kwargs=SMALL)
    first = run_sweep(specs, tmp_path, show_progress=False)
    assert (envs.calls, agents.calls) == (1, 4)
    # The shared env gives each run what a fresh env gives it.
    fresh = runner.execute(specs[3])
    assert fresh["curve"] == first[3]["curve"] and fresh["diversity"] == first[3]["diversity"]
    envs.calls = agents.calls = 0
    assert run_sweep(specs, tmp_path, show_progress=False) == first  # all finished: nothing is built
    assert (envs.calls, agents.calls) == (0, 0)


# --------------------------------------------------------------------------- memory


def test_the_largest_horizon_named_fits_and_one_more_step_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    avail = 2 * 10**9
    monkeypatch.setattr(runlog, "available_bytes", lambda: avail)
    with pytest.raises(ValueError, match=r"^horizon 100000000 does not fit in memory: .* is (\d+)$") as exc:
        check_memory(10**8, batch_size=64)
    largest = int(str(exc.value).rsplit(" ", 1)[1])
    assert largest % 64 == 0 and run_bytes(largest) <= avail < run_bytes(largest + 64)
    check_memory(largest, batch_size=64)
    # Where memory cannot be read, only horizons beyond the address space are refused.
    monkeypatch.setattr(runlog, "available_bytes", lambda: None)
    check_memory(10**8, batch_size=64)
    with pytest.raises(ValueError, match=r"^horizon 1000000000000000000000 does not fit in memory"):
        check_memory(10**21)
    monkeypatch.setattr(runlog, "available_bytes", lambda: avail)
    # Two runs at once halve the room; saving the log costs its compressed copy too.
    with pytest.raises(ValueError, match=r"each of 2 concurrent runs"):
        check_memory(largest, batch_size=64, concurrent=2)
    with pytest.raises(ValueError, match=r"^horizon"):
        check_memory(largest, batch_size=64, save_log=True)


def test_run_refuses_a_horizon_that_cannot_fit_before_touching_anything(tmp_path: Path) -> None:
    class Untouchable:
        num_envs = 1

        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the runner touched {name}")

    for horizon in (10**15, 10**21):
        with pytest.raises(ValueError, match=rf"^horizon {horizon} does not fit in memory"):
            run(Untouchable(), Untouchable(), horizon, 0)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=rf"^horizon {horizon} does not fit in memory"):
            run_sweep([RunSpec(ENV, "random", 0, horizon, env_kwargs=SMALL)], tmp_path / "out", show_progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("env_id", [ENV, "recbandit/Session-v0"])
def test_a_runs_memory_per_decision_stays_within_the_estimate(env_id: str) -> None:
    """tracemalloc's peak over runs of two horizons: its growth per decision, and what does not grow."""
    env, agent = make_env(env_id, batch_size=500, **SMALL), make_agent("random")
    run(env, agent, 500, 0)  # warm up: lazy imports and caches are not the run's
    peaks = {}
    for horizon in (50_000, 150_000):
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            _, log = run(env, agent, horizon, 0)
            peaks[horizon] = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        assert sum(a.nbytes for a in log.arrays().values()) == LOG_BYTES * horizon
    per_decision = (peaks[150_000] - peaks[50_000]) / 100_000
    assert LOG_BYTES < per_decision <= LOG_BYTES + SUMMARY_BYTES
    assert peaks[50_000] - 50_000 * per_decision < FIXED_BYTES / 16


def test_saving_the_log_stays_within_the_estimate(tmp_path: Path) -> None:
    peaks = {}
    for horizon in (50_000, 150_000):
        spec = RunSpec(ENV, "random", 0, horizon, batch_size=500, env_kwargs=SMALL)
        env = runner.build_envs([spec])[spec.env_key]
        runner.execute(spec, tmp_path / "warm", save_log=True, env=env)
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            runner.execute(spec, tmp_path / str(horizon), save_log=True, env=env)
            peaks[horizon] = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        assert len(list((tmp_path / str(horizon) / "logs").glob("*.npz"))) == 1
    per_decision = (peaks[150_000] - peaks[50_000]) / 100_000
    assert LOG_BYTES < per_decision <= run_bytes(1, save_log=True) - FIXED_BYTES


def test_the_log_dtypes_are_what_the_estimate_counts() -> None:
    log = RunLog.empty(3)
    assert {k: v.dtype for k, v in log.arrays().items()} == runlog.LOG_DTYPES
    assert (log.sessions == -1).all() and not log.ends.any()


def test_online_record_stores_what_the_batched_record_stores() -> None:
    """``RunLog.record`` of one decision (its scalar path) equals the batched path row for row."""
    from recbandit.evaluation.runlog import RunLog
    from recbandit.types import (
        COLD,
        EXPECTED_REWARD,
        INFO_ITEM_IDS,
        OPTIMAL_REWARD,
        REGRET,
        REWARDS,
        SESSION_IDS,
        USER_IDS,
    )

    rng = np.random.default_rng(0)
    b, k = 6, 5
    info = {
        REGRET: rng.random(b),
        REWARDS: rng.integers(2, size=b).astype(float),
        EXPECTED_REWARD: rng.random(b),
        OPTIMAL_REWARD: rng.random(b),
        INFO_ITEM_IDS: rng.integers(100, size=(b, k)),
        USER_IDS: rng.integers(50, size=b),
        COLD: rng.random((b, k)) < 0.3,
        SESSION_IDS: rng.integers(9, size=b),
    }
    actions, props, ended = rng.integers(k, size=b), rng.random(b), rng.random(b) < 0.5
    whole, rows = RunLog.empty(b), RunLog.empty(b)
    whole.record(0, actions, props, info, ended)
    for j in range(b):
        rows.record(
            j, actions[j : j + 1], props[j : j + 1], {key: v[j : j + 1] for key, v in info.items()}, ended[j : j + 1]
        )
    for name, arr in whole.arrays().items():
        assert np.array_equal(arr, rows.arrays()[name]), name
