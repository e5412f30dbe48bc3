"""The runner: agent x env x seed x horizon -> a result record; sweeps that resume.

A run is a step loop (``run``): the agent acts on a batch of users, the env answers, the
agent learns, and ``RunLog.record`` keeps each decision; ``summary.summarise`` turns the
log into the record's measured fields. ``execute`` runs one ``RunSpec`` and writes its
record; ``validate_specs``, ``build_envs`` and ``finished`` are the checks a sweep does
before anything runs.

One seed drives a run: the env gets ``seed`` and the agent an independent stream derived
from it (``SeedSequence([seed, 1])``), so the agent's draws are not the env's draws. On
one platform (processor, numpy/torch builds, thread settings) a seed reproduces a run
exactly: every field of its record but the timings. Across platforms, floating-point
results can differ in the last place (BLAS kernels, a language-model encoder: MiniLM's
vectors differ between CPUs in the last float32 place), and a run whose choice between two
candidates hinges on such a difference takes another path from there on.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from recbandit._io import atomic_write_bytes
from recbandit._validation import check_choice, check_int, check_seed
from recbandit.agents import AGENTS, Agent, make_agent
from recbandit.envs.defaults import env_defaults
from recbandit.envs.problem import ProblemAttributes
from recbandit.envs.registration import ENVS, make_env
from recbandit.evaluation.results import (
    _jsonable,
    machine,
    node_info,
    read_record,
    record_filename,
    spec_key,
    versions,
    write_record,
)
from recbandit.evaluation.runlog import RunLog, check_memory
from recbandit.evaluation.summary import summarise
from recbandit.types import FINAL_OBS, REWARDS, TERMINATED, TRUNCATED, Obs

Progress = Callable[[int], None]

__all__ = [
    "EnvFacts",
    "RunLog",
    "RunSpec",
    "agent_seed",
    "build_envs",
    "execute",
    "finished",
    "resolve_agent_params",
    "run",
    "validate_specs",
]


def agent_seed(seed: int) -> int:
    """The agent's seed derived from a run's seed (independent of the env's stream)."""
    return int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])


@dataclass(frozen=True)
class EnvFacts:
    """What the runner reads of an env: its ``ProblemAttributes``, on ``env.unwrapped``.

    Every recbandit env has them; for any other env (one that is not a
    ``ProblemAttributes``) all are None, and the record has no coverage or diversity
    and no new-item or new-user metrics.

    Attributes:
        item_contexts: float32[n_items, d_i], the agents' view of each item.
        n_items: catalogue size.
        contexts_info: how the contexts were made (``encoder``, ``spec``, ``encode`` cost).
        fit_report: fidelity report of a user model fitted on logs (JSON-able).
        item_arrival: int64[n_items], decision index from which each item can be offered.
        user_arrival: int64[n_users], decision index from which each user can arrive;
            None where every user is there from decision 0.
    """

    item_contexts: np.ndarray | None = None
    n_items: int | None = None
    contexts_info: dict[str, Any] | None = None
    fit_report: dict[str, Any] | None = None
    item_arrival: np.ndarray | None = None
    user_arrival: np.ndarray | None = None

    @classmethod
    def of(cls, env: Any) -> EnvFacts:
        """The facts of ``env``, read through any Gymnasium wrappers."""
        base = getattr(env, "unwrapped", env)
        if not isinstance(base, ProblemAttributes):
            return cls()
        return cls(
            base.item_contexts,
            base.n_items,
            base.contexts_info,
            base.fit_report,
            base.item_arrival,
            base.user_arrival,
        )


class _Stepper:
    """Steps an env as a batch: a batched env as it is, a single-user env as a batch of one.

    A single-user env whose episode ends is reset (unseeded) and reports the end in
    ``info`` (``terminated``, ``truncated``) as a batched session env does.
    """

    def __init__(self, env: Any) -> None:
        self.env = env
        self.batched = hasattr(env, "num_envs")
        self.batch = int(env.num_envs) if self.batched else 1

    def reset(self, seed: int) -> Obs:
        """The first observation (leading dimension B) after a reset with ``seed``."""
        obs, _ = self.env.reset(seed=seed)
        return obs if self.batched else _batch_of_one(obs)

    def step(self, actions: np.ndarray) -> tuple[Obs, dict[str, Any], Obs | None]:
        """Next observation, info (leading dimension B) and the final observation of ended episodes."""
        if self.batched:
            next_obs, _, _, _, info = self.env.step(actions)
            return next_obs, info, info.get(FINAL_OBS)
        next_obs, _, terminated, truncated, raw_info = self.env.step(int(actions[0]))
        next_obs, info = _batch_of_one(next_obs), _batch_of_one(raw_info)
        if not (terminated or truncated):
            return next_obs, info, None
        # The episode (session) ended: the next user starts a new one.
        info[TERMINATED] = np.array([bool(terminated)])
        info[TRUNCATED] = np.array([bool(truncated) and not terminated])
        reset_obs, _ = self.env.reset()
        return _batch_of_one(reset_obs), info, next_obs


def _batch_of_one(values: Any) -> dict[str, Any]:
    return {key: np.asarray(value)[None] for key, value in values.items()}


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

    Raises:
        ValueError: a bad ``horizon`` or ``seed``, or a horizon whose log does not fit in
            memory (the message gives the largest that does); nothing is touched then.
    """
    horizon = check_int("horizon", horizon, min_value=1)
    seed = check_seed("seed", seed)
    stepper = _Stepper(env)
    if horizon % stepper.batch:
        raise ValueError(f"horizon must be a multiple of the batch size {stepper.batch}, got {horizon}")
    check_memory(horizon, stepper.batch)
    facts = EnvFacts.of(env)
    agent.reset(agent_seed(seed))
    log = RunLog.empty(horizon)
    seconds, agent_seconds = _step_loop(stepper, agent, log, seed, progress)
    metrics = summarise(
        log, seconds, agent_seconds, facts.item_contexts, facts.n_items, facts.item_arrival, facts.user_arrival
    )
    return metrics, log


def _step_loop(
    stepper: _Stepper, agent: Agent, log: RunLog, seed: int, progress: Progress | None
) -> tuple[float, float]:
    """Serve every decision of ``log`` and record it; return the loop's and the agent's seconds."""
    b = stepper.batch
    no_ends = np.zeros(b, bool)
    obs = stepper.reset(seed)
    agent_seconds = 0.0
    start = time.perf_counter()
    for step in range(len(log.regret) // b):
        # The agent chooses for the B users of the step.
        tick = time.perf_counter()
        decision = agent.act(obs)
        agent_seconds += time.perf_counter() - tick
        actions = np.asarray(decision.actions, dtype=np.int64)
        # The env rewards the choices and brings the next users.
        next_obs, info, final_obs = stepper.step(actions)
        # The agent learns, and hears of the episodes (sessions) that ended.
        tick = time.perf_counter()
        agent.update(obs, actions, info[REWARDS])
        ended = no_ends
        if TERMINATED in info:
            ended = np.asarray(info[TERMINATED], bool) | np.asarray(info[TRUNCATED], bool)
            if ended.any():
                agent.end_episodes(final_obs, info[TERMINATED], info[TRUNCATED])  # type: ignore[arg-type]
        agent_seconds += time.perf_counter() - tick
        log.record(step * b, actions, decision.propensities, info, ended)
        obs = next_obs
        if progress is not None:
            progress((step + 1) * b)
    return time.perf_counter() - start, agent_seconds


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
            from recbandit.encoders.registry import parse_spec, spec_identity

            weights = spec_identity(encoder)["weights"]
            if weights is not None:
                spec["encoder_weights"] = weights
                parsed = parse_spec(encoder)
                if parsed.model is not None and Path(parsed.model).is_absolute():
                    # A local folder is identified by its files, not by where it lies: the same
                    # tuned encoder in another checkout or on another machine is the same run.
                    spec["env_kwargs"] = {**spec["env_kwargs"], "encoder": str(replace(parsed, model="<folder>"))}
        return spec_key(spec)

    @property
    def filename(self) -> str:
        """Result file name."""
        return record_filename(self.benchmark, self.env, self.name, self.seed, self.key)

    @property
    def env_key(self) -> str:
        """Digest of what builds the env (id, batch size, arguments): runs that can share one env."""
        return spec_key({"env": self.env, "batch_size": self.batch_size, "kw": self.env_kwargs})

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
    """Check every spec and its agent's parameters (nothing is built; see ``build_envs``).

    Raises:
        ValueError: the first problem found, naming the argument and its allowed values.
    """
    if not specs:
        raise ValueError("nothing to run: no (env, agent, seed) combination was given")
    seen: set[str] = set()
    for spec in specs:
        spec.validate()
        agent_key = spec_key({"agent": spec.agent, "params": spec.agent_params})
        if agent_key not in seen:
            resolve_agent_params(spec.agent, spec.agent_params)
            seen.add(agent_key)


def build_envs(specs: Sequence[RunSpec]) -> dict[str, Any]:
    """Build each distinct env of ``specs`` once (``RunSpec.env_key``), e.g. before a sweep starts.

    The envs' own constructors cache their problems per process, so another build of one
    of these envs in this process is cheap; ``execute(spec, env=envs[spec.env_key])`` reuses
    the env itself (every run resets it with its seed).

    Raises:
        ValueError: bad env arguments (or a missing dataset: ``DatasetNotFoundError``).
    """
    envs: dict[str, Any] = {}
    for spec in specs:
        if spec.env_key not in envs:
            envs[spec.env_key] = make_env(spec.env, batch_size=spec.batch_size, **spec.env_kwargs)
    return envs


def resolve_agent_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The agent's full hyper-parameters (``params`` over its defaults), as its record stores them.

    Only the agent's ``Config`` is built (it validates the values), not the agent; the
    errors are ``make_agent``'s.

    Raises:
        ValueError: unknown agent, unknown parameter or bad value.
    """
    config = AGENTS[check_choice("agent", name, AGENTS)].make_config(**params)
    return json.loads(json.dumps(asdict(config), default=_jsonable))


def execute(
    spec: RunSpec,
    out_dir: Path | None = None,
    progress: Progress | None = None,
    save_log: bool = False,
    blas_threads: int | None = 1,
    env: Any = None,
    backend: str = "local",
) -> dict[str, Any]:
    """Run one spec and (if ``out_dir``) write its record (and log) atomically, once.

    The record names the ``backend`` that ran it and the node (``results.node_info``: Ray
    node id on Ray, host name, IP, pid of the process that ran it).

    Args:
        spec: the run.
        out_dir: results folder (None: return the record only).
        progress: called with the decisions done after each step.
        save_log: also write the per-decision log (``logs/*.npz``, for off-policy use).
        blas_threads: cap on BLAS/OpenMP threads during the run (threadpoolctl): the
            agents' matrices are small, and threaded BLAS on them is slower, much slower
            when other runs share the cores. ``None`` leaves the libraries' own settings.
        env: the spec's env, if the caller built it already (``build_envs``); else built here.
        backend: what ran it ("local" or "ray"), recorded.

    Returns:
        The record; its ``fit_report`` is the env's (None where the truth is not fitted).
    """
    if save_log:
        check_memory(spec.horizon, spec.batch_size, save_log=True)
    with threadpool_limits(limits=blas_threads):
        if env is None:
            env = make_env(spec.env, batch_size=spec.batch_size, **spec.env_kwargs)
        agent = make_agent(spec.agent, **spec.agent_params)
        metrics, log = run(env, agent, spec.horizon, spec.seed, progress=progress)
    record = _record(spec, metrics, agent.params, EnvFacts.of(env), blas_threads, backend)
    if out_dir is not None:
        out_dir = Path(out_dir)
        if save_log:
            buf = io.BytesIO()
            arrays: dict[str, Any] = log.arrays()
            np.savez_compressed(buf, **arrays)
            atomic_write_bytes(out_dir / "logs" / spec.filename.replace(".json", ".npz"), buf.getvalue())
        write_record(out_dir / spec.filename, record)
    return record


def _record(
    spec: RunSpec,
    metrics: dict[str, Any],
    agent_params: dict[str, Any],
    facts: EnvFacts,
    blas_threads: int | None,
    backend: str,
) -> dict[str, Any]:
    """A run's result record: the spec, the metrics, the env's facts and where it ran."""
    contexts = facts.contexts_info or {}
    if contexts.get("encode") is not None:
        metrics["cost"]["encode"] = contexts["encode"]
    fit_report = None
    if facts.fit_report is not None:  # the env's fidelity report, JSON-ready
        fit_report = json.loads(json.dumps(facts.fit_report, default=_jsonable))
    return {
        "schema": 1,
        "benchmark": spec.benchmark,
        "env": spec.env,
        "env_kwargs": spec.env_kwargs,
        "env_defaults": env_defaults(spec.env),
        "encoder": {"spec": contexts.get("spec"), "name": contexts.get("encoder")} if contexts else None,
        "fit_report": fit_report,
        "agent": spec.name,
        "agent_class": spec.agent,
        "agent_params": agent_params,
        "seed": spec.seed,
        "horizon": spec.horizon,
        "batch_size": spec.batch_size,
        "mode": "online" if spec.batch_size == 1 else f"batched (B={spec.batch_size})",
        **metrics,
        "versions": versions(),
        "machine": machine(),
        "backend": backend,
        "node": node_info(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "spec_key": spec.key,
        "blas_threads": blas_threads,
    }


def same_params(stored: dict[str, Any], agent: str, given: dict[str, Any]) -> bool:
    """Whether a record's resolved agent parameters ``stored`` are what ``given`` resolves to now.

    Every stored parameter must have the same value now (a changed default is a different
    run) and none may have gone. A parameter added to the agent since the record was made
    is taken at its default (a new option that is off by default leaves earlier runs as
    they were), unless ``given`` sets it.
    """
    resolved = resolve_agent_params(agent, given)
    added = set(resolved) - set(stored)
    return set(stored) <= set(resolved) and not (added & set(given)) and all(
        resolved[k] == v for k, v in stored.items()
    )


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
    if "agent_params" in record and not same_params(record["agent_params"], spec.agent, spec.agent_params):
        warnings.warn(f"{path}: the agent's resolved parameters changed; the run will be redone", stacklevel=2)
        return None
    # Likewise the env's defaults (records written before they were stored are taken as they are).
    if "env_defaults" in record and record["env_defaults"] != env_defaults(spec.env):
        warnings.warn(f"{path}: the env's default configuration changed; the run will be redone", stacklevel=2)
        return None
    return record
