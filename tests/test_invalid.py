"""Bad input fails early with a ValueError that names the argument and its allowed values.

Table-driven in the Open Bandit Pipeline style: each case is ``(kwargs, message-regex)``
and is checked with ``pytest.raises(ValueError, match=...)``.
"""

from __future__ import annotations

import os
import re
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import recbandit  # noqa: F401  (registers the env ids)
from recbandit.agents import AGENTS, make_agent
from recbandit.envs import ENVS, BanditProblem, LatentFactorUserModel, make_env
from recbandit.evaluation import RunSpec, make_specs, run, run_sweep

ENV = "recbandit/Synthetic-v0"
SMALL = {"n_items": 200, "n_users": 100}
LINEAR = ["linucb-shared", "linucb-disjoint", "linucb-hybrid", "lints-shared", "lints-disjoint"]
ALL_AGENTS = re.escape(", ".join(AGENTS))
ALL_ENVS = re.escape(", ".join(ENVS))


def spec(**overrides: Any) -> RunSpec:
    base: dict[str, Any] = {
        "env": ENV,
        "agent": "random",
        "seed": 0,
        "horizon": 200,
        "env_kwargs": dict(SMALL),
    }
    base.update(overrides)
    return RunSpec(**base)


# --------------------------------------------------------------------------- envs

INVALID_ENV_KWARGS = [
    ({"k": 1}, r"^k must be an integer >= 2, got 1$"),
    ({"k": 0}, r"^k must be an integer >= 2, got 0$"),
    ({"k": 2.5}, r"^k must be an integer >= 2, got 2\.5$"),
    # (k larger than the catalogue is covered on BanditProblem below: it needs the catalogue built.)
    ({"context_dim": 0}, r"^context_dim must be an integer >= 1, got 0$"),
    ({"cold_window": -1}, r"^cold_window must be an integer >= 0, got -1$"),
    ({"n_items": 1}, r"^n_items must be an integer >= 2, got 1$"),
    ({"n_users": 0}, r"^n_users must be an integer >= 1, got 0$"),
    ({"noise": 1.0}, r"^noise must be a finite number >= 0\.0 and < 1\.0, got 1\.0$"),
    ({"reward_scale": float("nan")}, r"^reward_scale must be a finite number, got nan$"),
    (
        {"foo": 1},
        r"^unknown Synthetic-v0 argument\(s\) \['foo'\]; allowed: .*\bk\b.*\bn_items\b.*\bn_users\b",
    ),
    ({"n_item": 200}, r"^unknown Synthetic-v0 argument\(s\) \['n_item'\]; allowed: .*n_items"),
    ({"batch": 4, "zzz": 1}, r"^unknown Synthetic-v0 argument\(s\) \['batch', 'zzz'\]; allowed: "),
]


@pytest.mark.parametrize("kwargs, match", INVALID_ENV_KWARGS)
@pytest.mark.parametrize("batch_size", [None, 1, 8])
def test_make_env_rejects_bad_kwargs(kwargs: dict[str, Any], match: str, batch_size: int | None) -> None:
    env_kwargs = {**SMALL, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_env(ENV, batch_size=batch_size, **env_kwargs)


@pytest.mark.parametrize("kwargs, match", INVALID_ENV_KWARGS[:2] + INVALID_ENV_KWARGS[-3:-2])
def test_gym_make_rejects_bad_kwargs(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        gym.make(ENV, disable_env_checker=True, **{**SMALL, **kwargs})


@pytest.mark.parametrize("env_id", ["recbandit/Nope-v0", "Synthetic-v0", "CartPole-v1", ""])
@pytest.mark.parametrize("batch_size", [None, 4])
def test_unknown_env_id_lists_registered_ids(env_id: str, batch_size: int | None) -> None:
    with pytest.raises(ValueError, match=rf"^unknown env {re.escape(repr(env_id))}; allowed values: {ALL_ENVS}$"):
        make_env(env_id, batch_size=batch_size)


@pytest.mark.parametrize(
    "batch_size, match",
    [
        (0, r"^batch_size must be an integer in \[1, 65536\], got 0$"),
        (-3, r"^batch_size must be an integer in \[1, 65536\], got -3$"),
        (70000, r"^batch_size must be an integer in \[1, 65536\], got 70000$"),
        (2.0, r"^batch_size must be an integer in \[1, 65536\], got 2\.0$"),
    ],
)
def test_make_env_rejects_bad_batch_size(batch_size: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_env(ENV, batch_size=batch_size, **SMALL)


def _user_model(n_users: int = 5, n_items: int = 6, f: int = 3) -> LatentFactorUserModel:
    rng = np.random.default_rng(0)
    return LatentFactorUserModel(rng.normal(size=(n_users, f)), rng.normal(size=(n_items, f)), np.zeros(n_items))


def _problem_kwargs(**overrides: Any) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    base: dict[str, Any] = {
        "user_model": _user_model(),
        "user_contexts": rng.normal(size=(5, 4)),
        "item_contexts": rng.normal(size=(6, 3)),
        "k": 3,
    }
    base.update(overrides)
    return base


INVALID_PROBLEM_KWARGS = [
    ({"user_contexts": np.zeros((4, 4))}, r"^user_contexts must have shape \(5, d\), got \(4, 4\)$"),
    ({"user_contexts": np.zeros((6, 4))}, r"^user_contexts must have shape \(5, d\), got \(6, 4\)$"),
    ({"user_contexts": np.zeros(5)}, r"^user_contexts must have shape \(5, d\), got \(5,\)$"),
    ({"item_contexts": np.zeros((5, 3))}, r"^item_contexts must have shape \(6, d\), got \(5, 3\)$"),
    ({"item_contexts": np.full((6, 3), np.nan)}, r"^item_contexts row 0 contains NaN or infinite values$"),
    ({"k": 1}, r"^k must be an integer >= 2, got 1$"),
    ({"k": 7}, r"^k must be at most the number of items available at the first decision \(6\), got 7$"),
    ({"cold_window": -5}, r"^cold_window must be an integer >= 0, got -5$"),
    ({"item_arrival": np.array([0, 0, 0, 1, 2, -1])}, r"^item_arrival must be 6 non-negative integers"),
    (
        {"item_arrival": np.zeros(5, np.int64)},
        r"^item_arrival must be 6 non-negative integers, got shape \(5,\)$",
    ),
    (
        {"item_arrival": np.array([0, 0, 5, 5, 5, 5])},
        r"^k must be at most the number of items available at the first decision \(2\), got 3$",
    ),
    ({"user_weights": np.ones(4)}, r"^user_weights must be n_users non-negative finite numbers"),
    ({"user_weights": np.zeros(5)}, r"^user_weights must be n_users non-negative finite numbers"),
]


@pytest.mark.parametrize("overrides, match", INVALID_PROBLEM_KWARGS)
def test_bandit_problem_rejects_bad_arguments(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BanditProblem(**_problem_kwargs(**overrides))


def test_bandit_problem_valid_baseline() -> None:
    """The fixture above is valid, so each failure in the table is due to its one override."""
    problem = BanditProblem(**_problem_kwargs())
    assert (problem.user_dim, problem.item_dim, problem.k, problem.n_items) == (4, 3, 3, 6)


# --------------------------------------------------------------------------- agents

INVALID_AGENT_PARAMS = [
    ("eps-greedy", {"epsilon": 1.5}, r"^epsilon must be a finite number >= 0\.0 and <= 1\.0, got 1\.5$"),
    ("eps-greedy", {"epsilon": -0.1}, r"^epsilon must be a finite number >= 0\.0 and <= 1\.0, got -0\.1$"),
    ("eps-greedy", {"epsilon": "lots"}, r"^epsilon must be a number, got 'lots'$"),
    ("linucb-shared", {"alpha": -1}, r"^alpha must be a finite number >= 0\.0, got -1$"),
    ("linucb-disjoint", {"alpha": float("inf")}, r"^alpha must be a finite number >= 0\.0, got inf$"),
    ("linucb-shared", {"ridge": 0}, r"^ridge must be a finite number > 0\.0, got 0$"),
    ("linucb-disjoint", {"ridge": -1.0}, r"^ridge must be a finite number > 0\.0, got -1\.0$"),
    ("lints-shared", {"ridge": 0.0}, r"^ridge must be a finite number > 0\.0, got 0\.0$"),
    ("lints-disjoint", {"v": -0.2}, r"^v must be a finite number >= 0\.0, got -0\.2$"),
    ("lints-shared", {"propensity_samples": -1}, r"^propensity_samples must be an integer >= 0, got -1$"),
    ("linucb-shared", {"features": "cross"}, r"^unknown features 'cross'; allowed values: outer, item$"),
    ("linucb-hybrid", {"alpha": -0.5}, r"^alpha must be a finite number >= 0\.0, got -0\.5$"),
    ("linucb-hybrid", {"ridge": 0}, r"^ridge must be a finite number > 0\.0, got 0$"),
    ("linucb-hybrid", {"features": "cross"}, r"^unknown features 'cross'; allowed values: outer, item$"),
    (
        "linucb-hybrid",
        {"item_id_features": True},
        r"^item_id_features does not apply to 'linucb-hybrid': its per-item part learns per item id$",
    ),
    ("linucb-shared", {"item_id_features": "yes"}, r"^item_id_features must be True or False, got 'yes'$"),
    (
        "linucb-disjoint",
        {"item_id_features": True},
        r"^item_id_features applies to shared models; 'linucb-disjoint' learns per item id$",
    ),
    ("ucb1", {"c": -1.0}, r"^c must be a finite number >= 0\.0, got -1\.0$"),
    ("ts", {"alpha": 0}, r"^alpha must be a finite number > 0\.0, got 0$"),
    ("ts", {"beta": -2}, r"^beta must be a finite number > 0\.0, got -2$"),
]


@pytest.mark.parametrize("name, params, match", INVALID_AGENT_PARAMS)
def test_out_of_range_hyper_parameters(name: str, params: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_agent(name, **params)
    with pytest.raises(ValueError, match=match):
        AGENTS[name](**params)


UNKNOWN_AGENT_PARAMS = [
    ("random", {"epsilon": 0.1}, r"^unknown parameter\(s\) \['epsilon'\] for agent 'random'; allowed: none$"),
    (
        "eps-greedy",
        {"eps": 0.1},
        r"^unknown parameter\(s\) \['eps'\] for agent 'eps-greedy'; allowed: epsilon, initial_value$",
    ),
    (
        "linucb-shared",
        {"alpha": 1.0, "lambda_": 1.0, "beta": 2},
        r"^unknown parameter\(s\) \['beta', 'lambda_'\] for agent 'linucb-shared'; "
        r"allowed: ridge, features, intercept, item_id_features, alpha$",
    ),
    ("ucb1", {"alpha": 1.0}, r"^unknown parameter\(s\) \['alpha'\] for agent 'ucb1'; allowed: c$"),
]


@pytest.mark.parametrize("name, params, match", UNKNOWN_AGENT_PARAMS)
def test_unknown_hyper_parameters_list_the_allowed_ones(name: str, params: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_agent(name, **params)


@pytest.mark.parametrize("name", ["nope", "LinUCB", "linucb", "eps_greedy", ""])
def test_unknown_agent_name_lists_registered_names(name: str) -> None:
    with pytest.raises(ValueError, match=rf"^unknown agent {re.escape(repr(name))}; allowed values: {ALL_AGENTS}$"):
        make_agent(name)


@pytest.mark.parametrize("name", list(AGENTS))
@pytest.mark.parametrize("seed", [-1, -(2**40)])
def test_negative_seed_rejected_by_agent(name: str, seed: int) -> None:
    match = rf"^seed must be an integer >= 0, got {seed}$"
    with pytest.raises(ValueError, match=match):
        make_agent(name, seed=seed)
    agent = make_agent(name, seed=0)
    with pytest.raises(ValueError, match=match):
        agent.reset(seed)
    agent.reset(np.int64(3))  # numpy integers are fine


def _obs(b: int = 2, k: int = 4, d_u: int = 3, d_i: int = 5, b_items: int | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    bi = b if b_items is None else b_items
    return {
        "user": rng.normal(size=(b, d_u)).astype(np.float32),
        "items": rng.normal(size=(bi, k, d_i)).astype(np.float32),
        "item_ids": rng.choice(50, size=(bi, k), replace=True).astype(np.int64),
    }


@pytest.mark.parametrize("name", LINEAR)
@pytest.mark.parametrize(
    "second, dims",
    [
        ({"d_u": 4}, r"\(4, 5\)"),
        ({"d_i": 2}, r"\(3, 2\)"),
        ({"d_u": 1, "d_i": 1}, r"\(1, 1\)"),
    ],
)
@pytest.mark.parametrize("method", ["act", "update"])
def test_context_dimension_change_after_first_observation(
    name: str, second: dict[str, int], dims: str, method: str
) -> None:
    agent = make_agent(name, seed=0)
    first = _obs()
    decision = agent.act(first)
    agent.update(first, decision.actions, np.ones(2))
    other = _obs(**second)
    match = rf"^context dimensions \(d_u, d_i\) = {dims} do not match the \(3, 5\) this agent's model"
    with pytest.raises(ValueError, match=match):
        if method == "act":
            agent.act(other)
        else:
            agent.update(other, np.zeros(2, np.int64), np.ones(2))
    # After reset the agent adopts the new dimensions.
    agent.reset(1)
    assert agent.act(other).actions.shape == (2,)


@pytest.mark.parametrize("name", LINEAR)
@pytest.mark.parametrize(
    "obs_kwargs, shapes",
    [
        ({"b": 2, "b_items": 3}, r"\(2, 3\) and \(3, 4, 5\)"),
        ({"b": 4, "b_items": 1}, r"\(4, 3\) and \(1, 4, 5\)"),
    ],
)
def test_user_and_items_batch_sizes_must_match(name: str, obs_kwargs: dict[str, int], shapes: str) -> None:
    agent = make_agent(name, seed=0)
    obs = _obs(**obs_kwargs)
    match = rf"^obs\['user'\] must be \(B, d_u\) and obs\['items'\] \(B, K, d_i\) with the same B, got {shapes}$"
    with pytest.raises(ValueError, match=match):
        agent.act(obs)
    with pytest.raises(ValueError, match=match):
        agent.update(obs, np.zeros(obs_kwargs["b"], np.int64), np.zeros(obs_kwargs["b"]))


@pytest.mark.parametrize("name", list(AGENTS))
def test_update_rejects_actions_that_do_not_match_the_batch(name: str) -> None:
    agent = make_agent(name, seed=0)
    obs = _obs(b=3)
    agent.act(obs)
    with pytest.raises(ValueError, match=r"^actions and rewards must have shape \(3,\) to match the observation batch"):
        agent.update(obs, np.zeros(2, np.int64), np.zeros(2))
    with pytest.raises(ValueError, match=r"^actions must be integers in \[0, 4\)$"):
        agent.update(obs, np.array([0, 1, 4]), np.zeros(3))


# --------------------------------------------------------------------------- runner


INVALID_SPECS = [
    ({"agent": "nope"}, rf"^unknown agent 'nope'; allowed values: {ALL_AGENTS}$"),
    ({"env": "recbandit/Nope-v0"}, rf"^unknown env 'recbandit/Nope-v0'; allowed values: {ALL_ENVS}$"),
    ({"seed": -1}, r"^seed must be an integer >= 0, got -1$"),
    ({"seed": 1.5}, r"^seed must be an integer >= 0, got 1\.5$"),
    ({"horizon": 0}, r"^horizon must be an integer >= 1, got 0$"),
    ({"horizon": -100}, r"^horizon must be an integer >= 1, got -100$"),
    ({"batch_size": 0}, r"^batch_size must be an integer in \[1, 65536\], got 0$"),
    ({"batch_size": 64, "horizon": 200}, r"^horizon must be a multiple of batch_size \(64\), got 200$"),
    ({"batch_size": 3, "horizon": 1000}, r"^horizon must be a multiple of batch_size \(3\), got 1000$"),
]


@pytest.mark.parametrize("overrides, match", INVALID_SPECS)
def test_runspec_validate(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        spec(**overrides).validate()


# Errors only found by building the env or the agent (validate_specs does that up front).
INVALID_BUILD_SPECS = INVALID_SPECS + [
    ({"env_kwargs": {**SMALL, "k": 1}}, r"^k must be an integer >= 2, got 1$"),
    ({"env_kwargs": {**SMALL, "bogus": 3}}, r"^unknown Synthetic-v0 argument\(s\) \['bogus'\]; allowed: "),
    ({"agent": "eps-greedy", "agent_params": {"epsilon": 1.5}}, r"^epsilon must be a finite number >= 0\.0"),
    (
        {"agent": "linucb-shared", "agent_params": {"alpha": -1}},
        r"^alpha must be a finite number >= 0\.0, got -1$",
    ),
    (
        {"agent": "linucb-shared", "agent_params": {"ridge": 0}},
        r"^ridge must be a finite number > 0\.0, got 0$",
    ),
    (
        {"agent": "linucb-shared", "agent_params": {"gamma": 1}},
        r"^unknown parameter\(s\) \['gamma'\] for agent 'linucb-shared'; "
        r"allowed: ridge, features, intercept, item_id_features, alpha$",
    ),
]


@pytest.mark.parametrize("position", ["first", "middle", "last"])
@pytest.mark.parametrize("overrides, match", INVALID_BUILD_SPECS)
def test_run_sweep_raises_before_writing_anything(
    tmp_path: Any, overrides: dict[str, Any], match: str, position: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import recbandit.evaluation.sweep as sweep

    def no_work(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a run started although the sweep holds an invalid spec")

    monkeypatch.setattr(sweep, "execute", no_work)
    good = make_specs(ENV, ["random", ("eps-greedy", {"epsilon": 0.2})], seeds=[0, 1], horizon=200, env_kwargs=SMALL)
    at = {"first": 0, "middle": 2, "last": len(good)}[position]
    specs = good[:at] + [spec(**overrides)] + good[at:]
    out = tmp_path / "results"
    with pytest.raises(ValueError, match=match):
        run_sweep(specs, out, show_progress=False)
    assert not out.exists()
    # An existing output folder is left as it was (empty).
    out.mkdir()
    with pytest.raises(ValueError, match=match):
        run_sweep(specs, out, show_progress=False)
    assert os.listdir(out) == []


def test_run_sweep_with_bad_spec_writes_nothing_without_monkeypatch(tmp_path: Any) -> None:
    """Same as above against the real executor: the good runs are not run (no records)."""
    good = make_specs(ENV, ["random"], seeds=[0, 1, 2], horizon=200, env_kwargs=SMALL)
    specs = [*good, spec(seed=-2)]
    out = tmp_path / "results"
    out.mkdir()
    with pytest.raises(ValueError, match=r"^seed must be an integer >= 0, got -2$"):
        run_sweep(specs, out, show_progress=False)
    assert os.listdir(out) == []
    # Control: without the bad spec the same call writes one record per run.
    run_sweep(good, out, show_progress=False)
    assert len([n for n in os.listdir(out) if n.endswith(".json")]) == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"workers": 0}, r"^workers must be an integer >= 1, got 0$"),
        ({"specs": []}, r"^nothing to run"),
    ],
)
def test_run_sweep_rejects_bad_arguments(tmp_path: Any, kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"specs": [spec()], "out_dir": tmp_path / "out", "show_progress": False}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        run_sweep(**args)
    assert not (tmp_path / "out").exists()


class _SpyAgent:
    """Records whether the runner touched it (it must not when the arguments are bad)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def reset(self, seed: Any = None) -> None:
        self.calls.append("reset")

    def act(self, obs: Any) -> Any:
        self.calls.append("act")
        raise AssertionError("act called")

    def update(self, *args: Any) -> None:
        self.calls.append("update")


class _SpyEnv:
    def __init__(self, env: Any) -> None:
        self.env, self.calls = env, []
        if hasattr(env, "num_envs"):
            self.num_envs = env.num_envs

    def reset(self, **kwargs: Any) -> Any:
        self.calls.append("reset")
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> Any:
        self.calls.append("step")
        return self.env.step(action)


@pytest.mark.parametrize(
    "batch_size, horizon, seed, match",
    [
        (None, 0, 0, r"^horizon must be an integer >= 1, got 0$"),
        (None, -5, 0, r"^horizon must be an integer >= 1, got -5$"),
        (None, 100, -1, r"^seed must be an integer >= 0, got -1$"),
        (8, 100, 0, r"^horizon must be a multiple of the batch size 8, got 100$"),
        (8, 96, -3, r"^seed must be an integer >= 0, got -3$"),
        (1, 0, 0, r"^horizon must be an integer >= 1, got 0$"),
    ],
)
def test_run_rejects_bad_arguments_before_touching_env_or_agent(
    batch_size: int | None, horizon: int, seed: int, match: str
) -> None:
    env = _SpyEnv(make_env(ENV, batch_size=batch_size, **SMALL))
    agent = _SpyAgent()
    with pytest.raises(ValueError, match=match):
        run(env, agent, horizon, seed)  # type: ignore[arg-type]
    assert env.calls == [] and agent.calls == []


def test_run_accepts_valid_arguments() -> None:
    """Control for the table above: the same env and a real agent run fine."""
    metrics, log = run(make_env(ENV, batch_size=8, **SMALL), make_agent("random"), 96, 0)
    assert len(log.regret) == 96 and metrics["curve"]["t"][-1] == 96
