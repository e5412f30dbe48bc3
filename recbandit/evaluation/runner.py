"""The runner: agent x env x seed x horizon -> a result record; sweeps that resume.

One seed drives a run: the env gets ``seed`` and the agent an independent stream derived
from it (``SeedSequence([seed, 1])``), so a seed reproduces a run bit for bit and the
agent's draws are not the env's draws.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import resource
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from recbandit._io import atomic_write_bytes
from recbandit._validation import check_int, check_seed
from recbandit.agents import AGENTS, Agent, make_agent
from recbandit.envs.registration import ENVS, make_env
from recbandit.evaluation.metrics import checkpoints, diversity_metrics, session_metrics
from recbandit.evaluation.results import (
    _jsonable,
    machine,
    read_record,
    record_filename,
    spec_key,
    versions,
    write_record,
)

Progress = Callable[[int], None]


def agent_seed(seed: int) -> int:
    """The agent's seed derived from a run's seed (independent of the env's stream)."""
    return int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])


@dataclass
class RunLog:
    """Per-decision arrays of one run (each of length ``horizon``).

    ``sessions`` is the session id of each decision (-1 for envs without sessions) and
    ``ends`` marks the decisions after which the user's episode (session) ended.
    """

    regret: np.ndarray
    rewards: np.ndarray
    expected: np.ndarray
    optimal: np.ndarray
    propensities: np.ndarray
    actions: np.ndarray
    items: np.ndarray
    users: np.ndarray
    cold: np.ndarray
    sessions: np.ndarray
    ends: np.ndarray


def run(
    env: Any,
    agent: Agent,
    horizon: int,
    seed: int,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], RunLog]:
    """Run ``agent`` on ``env`` for ``horizon`` decisions.

    Args:
        env: a batched env (``num_envs`` users per step, per-user info) or a single-user
            Gymnasium env from ``gymnasium.make`` (stepped one user at a time). Episodic
            envs work too: a batched session env reports per-user ends in ``info``
            (``terminated``, ``truncated``, ``final_obs``) and replaces ended sessions
            itself; a single-user env that ends an episode is reset (unseeded). Either way
            the agent hears of the ends through ``Agent.end_episodes`` after ``update``.
        agent: any ``Agent``; it is reset with a seed derived from ``seed``.
        horizon: number of decisions (users served); a multiple of the env's batch size.
        seed: non-negative run seed.
        progress: called with the number of decisions done after each step.

    Returns:
        The metrics of the run (the record's measured fields) and the per-decision log.
    """
    horizon = check_int("horizon", horizon, min_value=1)
    seed = check_seed("seed", seed)
    batched = hasattr(env, "num_envs")
    b = int(env.num_envs) if batched else 1
    if horizon % b:
        raise ValueError(f"horizon must be a multiple of the batch size {b}, got {horizon}")
    agent.reset(agent_seed(seed))
    obs, _ = env.reset(seed=seed)
    if not batched:
        obs = {key: np.asarray(value)[None] for key, value in obs.items()}
    log = RunLog(
        regret=np.zeros(horizon),
        rewards=np.zeros(horizon),
        expected=np.zeros(horizon),
        optimal=np.zeros(horizon),
        propensities=np.zeros(horizon),
        actions=np.zeros(horizon, np.int64),
        items=np.zeros(horizon, np.int64),
        users=np.zeros(horizon, np.int64),
        cold=np.zeros(horizon, bool),
        sessions=np.full(horizon, -1, np.int64),
        ends=np.zeros(horizon, bool),
    )
    agent_seconds = 0.0
    no_ends = np.zeros(b, bool)
    start = time.perf_counter()
    for step in range(horizon // b):
        tick = time.perf_counter()
        decision = agent.act(obs)
        agent_seconds += time.perf_counter() - tick
        actions = np.asarray(decision.actions, dtype=np.int64)
        if batched:
            next_obs, _, _, _, info = env.step(actions)
            final_obs = info.get("final_obs")
        else:
            next_obs, _, terminated, truncated, info = env.step(int(actions[0]))
            next_obs = {key: np.asarray(value)[None] for key, value in next_obs.items()}
            info = {key: np.asarray(value)[None] for key, value in info.items()}
            if terminated or truncated:  # the episode (session) ended: the next user starts a new one
                info["terminated"] = np.array([bool(terminated)])
                info["truncated"] = np.array([bool(truncated) and not terminated])
                final_obs, (reset_obs, _) = next_obs, env.reset()
                next_obs = {key: np.asarray(value)[None] for key, value in reset_obs.items()}
        tick = time.perf_counter()
        agent.update(obs, actions, info["rewards"])
        ended = no_ends
        if "terminated" in info:
            ended = np.asarray(info["terminated"], bool) | np.asarray(info["truncated"], bool)
            if ended.any():
                agent.end_episodes(final_obs, info["terminated"], info["truncated"])
        agent_seconds += time.perf_counter() - tick
        sl = slice(step * b, (step + 1) * b)
        rows = np.arange(b)
        log.regret[sl] = info["regret"]
        log.rewards[sl] = info["rewards"]
        log.expected[sl] = info["expected_reward"]
        log.optimal[sl] = info["optimal_reward"]
        log.propensities[sl] = decision.propensities
        log.actions[sl] = actions
        log.items[sl] = info["item_ids"][rows, actions]
        log.users[sl] = info["user_ids"]
        log.cold[sl] = info["cold"][rows, actions]
        if "session_ids" in info:
            log.sessions[sl] = info["session_ids"]
            log.ends[sl] = ended
        obs = next_obs
        if progress is not None:
            progress((step + 1) * b)
    seconds = time.perf_counter() - start
    ts = checkpoints(horizon)
    cum_regret = np.cumsum(log.regret)
    cum_reward = np.cumsum(log.rewards)
    metrics = {
        "cumulative_regret": float(cum_regret[-1]),
        "mean_reward": float(log.rewards.mean()),
        "ctr": float(log.rewards.mean()),
        "mean_expected_reward": float(log.expected.mean()),
        "mean_optimal_reward": float(log.optimal.mean()),
        "decisions_per_s": horizon / seconds,
        "agent_decisions_per_s": horizon / agent_seconds if agent_seconds > 0 else float("inf"),
        "curve": {
            "t": ts.tolist(),
            "cumulative_regret": cum_regret[ts - 1].tolist(),
            "cumulative_reward": cum_reward[ts - 1].tolist(),
        },
        "cold": {
            "decisions": int(log.cold.sum()),
            "regret": float(log.regret[log.cold].sum()),
            "mean_regret": float(log.regret[log.cold].mean()) if log.cold.any() else None,
        },
        "propensity": {
            "min": float(np.nanmin(log.propensities)) if np.isfinite(log.propensities).any() else None,
            "mean": float(np.nanmean(log.propensities)) if np.isfinite(log.propensities).any() else None,
            "missing": int(np.isnan(log.propensities).sum()),
        },
        # Exploration footprint: catalogue coverage, diversity on the env's item contexts, novelty.
        "diversity": diversity_metrics(
            log.items,
            log.users,
            log.sessions,
            getattr(getattr(env, "problem", None), "item_contexts", None),
            getattr(getattr(env, "problem", None), "n_items", None),
        ),
        # Episodic envs: return and length of the sessions that ended, with their learning curve.
        "sessions": session_metrics(log.rewards, log.sessions, log.ends),
        "cost": {
            "seconds": seconds,
            "agent_seconds": agent_seconds,
            "flops": None,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "device": "cpu",
        },
    }
    return metrics, log


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines one run; its digest names the result file.

    Attributes:
        env: registered env id.
        agent: registered agent name.
        seed: run seed (>= 0).
        horizon: decisions (> 0).
        batch_size: users per step; 1 = online (the agent updates after every decision).
        env_kwargs: env arguments.
        agent_params: agent hyper-parameters.
        benchmark: name of the benchmark or sweep the run belongs to.
        label: display name of the agent (defaults to ``agent``); lets one sweep hold two
            configurations of the same agent.

    An encoder spec in ``env_kwargs["encoder"]`` (``"minilm"``, ``"bow:512"``, a model
    folder) is stored in canonical form (``"bow"`` becomes ``"bow:256"``), and the key also
    covers a digest of a local model folder's files, so runs on different encoders (or on a
    folder retrained in place) never resume from each other's results.
    """

    env: str
    agent: str
    seed: int
    horizon: int
    batch_size: int = 1
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    agent_params: dict[str, Any] = field(default_factory=dict)
    benchmark: str = "run"
    label: str = ""

    def __post_init__(self) -> None:
        encoder = self.env_kwargs.get("encoder")
        if isinstance(encoder, str):
            from recbandit.encoders.registry import canonical_spec

            object.__setattr__(self, "env_kwargs", {**self.env_kwargs, "encoder": canonical_spec(encoder)})

    @property
    def name(self) -> str:
        """Display name of the agent."""
        return self.label or self.agent

    @property
    def key(self) -> str:
        """Digest of the configuration (with the encoder's folder digest, when there is one)."""
        spec = asdict(self)
        encoder = self.env_kwargs.get("encoder")
        if isinstance(encoder, str):
            from recbandit.encoders.registry import spec_identity

            weights = spec_identity(encoder)["weights"]
            if weights is not None:
                spec["encoder_weights"] = weights
        return spec_key(spec)

    @property
    def filename(self) -> str:
        """Result file name."""
        return record_filename(self.benchmark, self.env, self.name, self.seed, self.key)

    def validate(self) -> None:
        """Raise ``ValueError`` (naming the argument and allowed values) for a bad spec."""
        if self.env not in ENVS:
            raise ValueError(f"unknown env {self.env!r}; allowed values: {', '.join(ENVS)}")
        if self.agent not in AGENTS:
            raise ValueError(f"unknown agent {self.agent!r}; allowed values: {', '.join(AGENTS)}")
        check_seed("seed", self.seed)
        check_int("horizon", self.horizon, min_value=1)
        check_int("batch_size", self.batch_size, min_value=1, max_value=65536)
        if self.horizon % self.batch_size:
            raise ValueError(f"horizon must be a multiple of batch_size ({self.batch_size}), got {self.horizon}")


def validate_specs(specs: Sequence[RunSpec]) -> None:
    """Check every spec and build each distinct env and agent once, before any run starts.

    Raises:
        ValueError: the first problem found, naming the argument and its allowed values.
    """
    if not specs:
        raise ValueError("nothing to run: no (env, agent, seed) combination was given")
    seen_env: set[str] = set()
    seen_agent: set[str] = set()
    for spec in specs:
        spec.validate()
        env_key = spec_key({"env": spec.env, "kw": spec.env_kwargs})
        if env_key not in seen_env:
            make_env(spec.env, batch_size=spec.batch_size, **spec.env_kwargs)
            seen_env.add(env_key)
        agent_key = spec_key({"agent": spec.agent, "params": spec.agent_params})
        if agent_key not in seen_agent:
            make_agent(spec.agent, **spec.agent_params)
            seen_agent.add(agent_key)


def execute(
    spec: RunSpec,
    out_dir: Path | None = None,
    progress: Progress | None = None,
    save_log: bool = False,
    blas_threads: int | None = 1,
) -> dict[str, Any]:
    """Run one spec and (if ``out_dir``) write its record (and log) atomically.

    ``blas_threads`` caps BLAS/OpenMP threads during the run (threadpoolctl): the agents'
    matrices are small, and threaded BLAS on them is slower, much slower when other runs
    share the cores. ``None`` leaves the libraries' own settings.
    """
    with threadpool_limits(limits=blas_threads):
        env = make_env(spec.env, batch_size=spec.batch_size, **spec.env_kwargs)
        agent = make_agent(spec.agent, **spec.agent_params)
        metrics, log = run(env, agent, spec.horizon, spec.seed, progress=progress)
    contexts = getattr(getattr(env, "problem", None), "contexts_info", None) or {}
    if contexts.get("encode") is not None:
        metrics["cost"]["encode"] = contexts["encode"]
    record = {
        "schema": 1,
        "benchmark": spec.benchmark,
        "env": spec.env,
        "env_kwargs": spec.env_kwargs,
        "encoder": {"spec": contexts.get("spec"), "name": contexts.get("encoder")} if contexts else None,
        "agent": spec.name,
        "agent_class": spec.agent,
        "agent_params": agent.params,
        "seed": spec.seed,
        "horizon": spec.horizon,
        "batch_size": spec.batch_size,
        "mode": "online" if spec.batch_size == 1 else f"batched (B={spec.batch_size})",
        **metrics,
        "versions": versions(),
        "machine": machine(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "spec_key": spec.key,
        "blas_threads": blas_threads,
    }
    if out_dir is not None:
        out_dir = Path(out_dir)
        if save_log:
            buf = io.BytesIO()
            np.savez_compressed(buf, **asdict(log))
            atomic_write_bytes(out_dir / "logs" / spec.filename.replace(".json", ".npz"), buf.getvalue())
        write_record(out_dir / spec.filename, record)
    return record


def finished(spec: RunSpec, out_dir: Path) -> dict[str, Any] | None:
    """The stored record of ``spec`` in ``out_dir`` if it exists, is readable and matches."""
    path = Path(out_dir) / spec.filename
    if not path.exists():
        return None
    record = read_record(path)
    if record is None or record.get("spec_key") != spec.key:
        if record is not None:
            warnings.warn(f"{path}: configuration digest differs; the run will be redone", stacklevel=2)
        return None
    # The digest covers the parameters given explicitly; a changed default changes the agent's
    # resolved parameters, which the record stores in full: such a stale result is redone too.
    current = json.loads(json.dumps(make_agent(spec.agent, **spec.agent_params).params, default=_jsonable))
    if "agent_params" in record and record["agent_params"] != current:
        warnings.warn(f"{path}: the agent's resolved parameters changed; the run will be redone", stacklevel=2)
        return None
    return record
