"""Decisions per second of the whole simulation loop, as ``recbandit run`` runs it, beside its bound.

Every cell (env x batch size B x agent) builds its env once (as a sweep does with
``build_envs``) and times ``recbandit.evaluation.execute`` on a ``RunSpec``: the CLI's own
path (one BLAS thread, the step loop of ``runner.run``, the end-of-run summary and the
record). The env is wrapped in a proxy that times its ``step``/``reset`` calls, so a cell
splits its loop into

- env: the env's ``step`` (reward, info, the next users' draw);
- agent: ``act``, ``update`` and ``end_episodes`` (the runner's own clock);
- bookkeeping: the rest of the loop (``RunLog.record``, the stepper, the loop itself);
- end: the summary and the record after the loop (seconds per run, not per decision).

Bound of a row: the time the same work takes when written as a minimal loop on this CPU,
measured here in the same process (one thread):

- env: a minimal numpy loop of one step's work at the same B and K: draw B users and
  B x K candidates (with replacement), gather their contexts, read the click
  probabilities from a precomputed user x item table (the catalogues here are <= 2,000 x
  1,682, a few MB), a random action, the Bernoulli reward and the regret. For B = 1 also
  the same in plain Python over the table (no numpy call per step); the faster counts.
- agent, by the arithmetic its algorithm needs, at the rates measured here (``gemm``:
  float64 multiply-adds/s of an (8192, p) x (p, p + 1) product at the cell's p; ``stream``: bytes/s
  of a large copy): shared linear agents (p = (d_u + 1)(d_i + 1) = m n) K * p^2 multiply-adds
  a decision for x^T A^-1 x (batched: the cheaper outer form, p (p + 1) + m n^2 + K n^2 per
  user), plus the exact update of A^-1 per batch (rank one 2 p^2; batched the cheaper of
  Woodbury, 2 B p^2 + B^2 p + B^3 / 3, and a fresh inverse, B p^2 + p^3) and for lints-shared
  the Cholesky factor, p^3 / 3 per update; disjoint LinUCB K * (p (p + 1) / 2 + p)
  multiply-adds (x^T A^-1 x from the symmetric A^-1's upper triangle, and x^T theta), or
  the K models' bytes at the stream rate when that is slower, plus p (p + 1) + 2 p for the
  update (before stop 11 the bound counted the full p x p form, K p (p + 1)); random /
  eps-greedy / ts a minimal numpy loop of the draw (and the K counts' gather, argmax; ts:
  K Beta draws). Neural agents and PPO have no bound
  here (their cost is the network's, not counted).
- bookkeeping: none (the bound of the loop is env + agent).

``fraction`` = bound time / measured time per decision (1 = at the limit).

``--peers`` also times the env step of RecoGym (``RecoEnv1``) and RecSim where their
virtual environments exist under ``.peers/`` (see the README section "Speed of the whole
loop" for how they are installed) and prints our rate as a multiple of theirs.

Usage::

    python benchmarks/loop.py            # full run, writes benchmarks/results/loop.json
    python benchmarks/loop.py --peers    # plus RecoGym / RecSim
    python benchmarks/loop.py --quick --out /tmp/loop.json   # smoke run (seconds)
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tyro
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import use_shared_data  # noqa: E402

from recbandit.envs.registration import make_env  # noqa: E402
from recbandit.evaluation.results import atomic_write_bytes, machine, versions  # noqa: E402
from recbandit.evaluation.runner import RunSpec, execute  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "loop.json"
AGENTS = ("random", "eps-greedy", "ts", "linucb-shared", "linucb-disjoint", "lints-shared", "neural-linear", "ppo")
SYN = "recbandit/Synthetic-v0"
#: (env, batch sizes) of the grid; B = 1 is the CLI's online mode (the batched env with B = 1).
GRID: tuple[tuple[str, tuple[int, ...]], ...] = (
    (SYN, (1, 64, 1024)),
    ("recbandit/MovieLens100K-v0", (1, 1024)),
    ("recbandit/OBD-v0", (1, 1024)),
    ("recbandit/Session-v0", (1, 64)),
)
#: Cells left out because one run of a useful length takes minutes: (agent, batch size).
DROPPED: dict[tuple[str, int], str] = {
    ("ppo", 1024): "PPO's rollouts at B = 1024 take minutes per run",
    ("ppo", 64): "PPO at B = 64 takes minutes per run",
}


@dataclass
class Args:
    """Whole-loop decisions/s of ``recbandit.evaluation.run`` with env / agent / bookkeeping split."""

    seconds: float = 1.0
    """timed seconds per run (the horizon is sized from a calibration run)"""
    repeats: int = 3
    """timed runs per cell; the fastest is reported"""
    agents: tuple[str, ...] = AGENTS
    """agents of the grid"""
    envs: tuple[str, ...] = tuple(env for env, _ in GRID)
    """envs of the grid"""
    peers: bool = False
    """also time RecoGym / RecSim env steps from their venvs under .peers/"""
    peers_only: bool = False
    """time only the peers and store them in the existing --out JSON (its "peers" key)"""
    quick: bool = False
    """smoke run: Synthetic-v0 only, random + linucb-shared, tiny budget"""
    out: Path = DEFAULT_OUT
    """results JSON"""
    table: Path | None = None
    """print the README tables of this results JSON (with --before: beside that run's rates) and exit"""
    before: Path | None = None
    """results JSON of an earlier run, for the 'before' column of --table"""


class TimedEnv:
    """Forwards everything to ``env`` and adds up the seconds spent in ``step`` and ``reset``."""

    def __init__(self, env: Any) -> None:
        self._env = env
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)

    def step(self, action: Any) -> Any:
        tick = time.perf_counter()
        out = self._env.step(action)
        self.seconds += time.perf_counter() - tick
        return out

    def reset(self, **kwargs: Any) -> Any:
        tick = time.perf_counter()
        out = self._env.reset(**kwargs)
        self.seconds += time.perf_counter() - tick
        return out


@dataclass
class Rates:
    """Rates of this CPU that the bounds are computed from (one thread)."""

    gemm_macs: float = 0.0  # at p = 169
    stream_bytes: float = 0.0
    gemm_at: dict[int, float] = field(default_factory=dict)  # p -> multiply-adds/s at that p
    env_bound: dict[str, float] = field(default_factory=dict)  # "env|B" -> seconds per decision
    agent_bound: dict[str, float] = field(default_factory=dict)  # "agent|K|B" -> seconds per decision


def best_of(fn: Any, repeats: int = 5) -> float:
    """Fastest of ``repeats`` timed calls of ``fn()`` (seconds)."""
    best = float("inf")
    for _ in range(repeats):
        tick = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - tick)
    return best


def gemm_rate(p: int) -> float:
    """Float64 multiply-adds/s of a (8192, p) x (p, p + 1) product, one thread (fastest of 5)."""
    rng = np.random.default_rng(0)
    x, m = rng.random((8192, p)), rng.random((p, p + 1))
    with threadpool_limits(1):
        return 8192 * p * (p + 1) / best_of(lambda: x @ m)


def machine_rates() -> Rates:
    """Measured float64 GEMM multiply-adds/s (p = 169) and copy bandwidth (bytes/s)."""
    rng = np.random.default_rng(0)
    src, dst = rng.random(1 << 23), np.empty(1 << 23)  # 64 MB each
    with threadpool_limits(1):
        stream = 2 * src.nbytes / best_of(lambda: np.copyto(dst, src))
    gemm = gemm_rate(169)
    return Rates(gemm, stream, {169: gemm})


def env_bound(problem: Any, batch: int, steps: int) -> float:
    """Seconds per decision of a minimal loop of one env step's work (see the module docstring)."""
    n_users, n_items, k = problem.n_users, problem.n_items, problem.k
    uc, ic = problem.user_contexts, problem.item_contexts
    table = problem.user_model.expected_reward(np.arange(n_users), np.tile(np.arange(n_items), (n_users, 1)))
    rng = np.random.default_rng(0)
    rows = np.arange(batch)

    def numpy_loop() -> None:
        for _ in range(steps):
            users = rng.integers(n_users, size=batch)
            cand = rng.integers(n_items, size=(batch, k))
            _ = uc[users], ic[cand]
            p = table[users[:, None], cand]
            a = rng.integers(k, size=batch)
            chosen = p[rows, a]
            _ = (rng.random(batch) < chosen), p.max(axis=1) - chosen

    best = best_of(numpy_loop, 3) / (steps * batch)
    if batch == 1:
        rows_py = table.tolist()
        uc_l, ic_l = list(uc), list(ic)
        r = random.Random(0)

        def python_loop() -> None:
            for _ in range(steps):
                u = r.randrange(n_users)
                cand = r.sample(range(n_items), k)
                _ = uc_l[u], [ic_l[i] for i in cand]
                row = rows_py[u]
                ps = [row[i] for i in cand]
                chosen = ps[r.randrange(k)]
                _ = (r.random() < chosen), max(ps) - chosen

        best = min(best, best_of(python_loop, 3) / steps)
    return best


def agent_bound(name: str, k: int, batch: int, d_u: int, d_i: int, rates: Rates) -> float | None:
    """Seconds per decision of the agent's arithmetic (see the module docstring); None: no bound."""
    if name in ("linucb-shared", "lints-shared"):
        m, n = d_u + 1, d_i + 1
        p = m * n
        if p not in rates.gemm_at:
            rates.gemm_at[p] = gemm_rate(p)
        # Scores: x^T A^-1 x for K candidates, or per user the n x n matrix of the outer form.
        score = min(k * p * p, p * (p + 1) + m * n * n + k * n * n) if batch > 1 else k * p * p
        # Exact update of A^-1 per batch: rank one (2 p^2), Woodbury or a fresh inverse.
        update = 2 * p * p if batch == 1 else min(2 * batch * p * p + batch**2 * p + batch**3 / 3, batch * p * p + p**3)
        root = p**3 / 3 if name == "lints-shared" else 0  # Cholesky factor of A^-1 per update
        return (score + (update + root) / batch) / rates.gemm_at[p]
    if name == "linucb-disjoint":
        p = d_u + 1
        packed = p * (p + 1) // 2 + p  # a model's upper triangle of A^-1 and theta
        macs = k * packed + p * (p + 1) + 2 * p  # scores, then one Sherman-Morrison step on the triangle
        if p not in rates.gemm_at:
            rates.gemm_at[p] = gemm_rate(p)
        return max(macs / rates.gemm_at[p], k * packed * 8 / rates.stream_bytes)
    if name in ("random", "eps-greedy", "ts"):
        rng = np.random.default_rng(0)
        counts = rng.random((1000, 2))
        ids = rng.integers(1000, size=(batch, k))
        steps = max(1, 4096 // batch)

        def loop() -> None:
            for _ in range(steps):
                if name == "random":
                    rng.integers(k, size=batch)
                elif name == "eps-greedy":
                    (counts[ids, 0] / counts[ids, 1]).argmax(axis=1)
                else:
                    c = counts[ids]
                    rng.beta(c[..., 0], c[..., 1]).argmax(axis=1)

        return best_of(loop, 3) / (steps * batch)
    return None


def horizon_for(batch: int, rate: float, seconds: float) -> int:
    """A horizon (multiple of ``batch``, >= 2 steps) of about ``seconds`` at ``rate`` decisions/s."""
    steps = max(2, int(rate * seconds / batch))
    return steps * batch


def time_cell(env: Any, env_id: str, agent: str, batch: int, seconds: float, repeats: int) -> dict[str, Any]:
    """Run ``agent`` on ``env`` through ``execute``: the fastest of ``repeats`` runs, split."""
    timed = TimedEnv(env)

    def one(horizon: int, seed: int) -> dict[str, Any]:
        timed.seconds = 0.0
        spec = RunSpec(env=env_id, agent=agent, seed=seed, horizon=horizon, batch_size=batch, benchmark="loop")
        tick = time.perf_counter()
        record = execute(spec, env=timed)
        wall = time.perf_counter() - tick
        loop_s, agent_s = record["cost"]["seconds"], record["cost"]["agent_seconds"]
        env_s = timed.seconds
        return {
            "horizon": horizon,
            "decisions_per_s": horizon / loop_s,
            "env_us": 1e6 * env_s / horizon,
            "agent_us": 1e6 * agent_s / horizon,
            "bookkeeping_us": 1e6 * max(loop_s - agent_s - env_s, 0.0) / horizon,
            "end_s": wall - loop_s,
            "wall_s": wall,
        }

    probe = one(batch * max(2, 256 // batch), 0)  # warm-up and calibration
    horizon = horizon_for(batch, probe["decisions_per_s"], seconds)
    runs = [one(horizon, seed) for seed in range(repeats)]
    return min(runs, key=lambda r: -r["decisions_per_s"]) | {"runs": [r["decisions_per_s"] for r in runs]}


def raw_env_rows(env_id: str, batch: int, seconds: float) -> list[dict[str, Any]]:
    """Raw ``env.step`` rates (random actions, no agent, no runner) of the env as the CLI builds it.

    For B = 1 also the single-user env (``make_env(id)``, unwrapped) and the same env with
    Gymnasium's wrappers (``gymnasium.make``: order enforcing, passive checker).
    """
    import gymnasium as gym

    rows = []
    variants: list[tuple[str, Any, bool]] = [(f"batched env B={batch}", make_env(env_id, batch_size=batch), True)]
    if batch == 1:
        variants.append(("single env (make_env, unwrapped)", make_env(env_id), False))
        variants.append(("single env (gym.make, wrappers)", gym.make(env_id), False))
    for label, env, batched in variants:
        env.reset(seed=0)
        k = env.unwrapped.problem.k
        rng = np.random.default_rng(0)
        actions = rng.integers(k, size=(4096, batch)) if batched else rng.integers(k, size=4096).tolist()

        def loop(n: int, env: Any = env, actions: Any = actions) -> None:
            for i in range(n):
                env.step(actions[i % 4096])

        loop(2)
        n = 8
        while True:  # calibrate the number of steps to ~seconds/3
            t = best_of(lambda n=n: loop(n), 1)
            if t > seconds / 6 or n > 1 << 22:
                break
            n *= 4
        n = max(2, int(n * seconds / 3 / max(t, 1e-9)))
        per_step = best_of(lambda n=n: loop(n), 3) / n
        rows.append(
            {"variant": label, "batch": batch, "decisions_per_s": batch / per_step, "us_per_step": 1e6 * per_step}
        )
    return rows


RECOGYM_CODE = r"""
import json, sys, time, numpy as np
from recogym import env_1_args
from recogym.envs.reco_env_v1 import RecoEnv1
n_products, seconds = int(sys.argv[1]), float(sys.argv[2])
env = RecoEnv1()
env.init_gym({**env_1_args, 'num_products': n_products, 'random_seed': 0})
rng = np.random.default_rng(0)
decisions = users = 0
tick = time.perf_counter()
while time.perf_counter() - tick < seconds:  # one user's timeline per episode
    env.reset(users)
    users += 1
    obs, reward, done, info = env.step(None)  # the first organic session
    while not done:
        obs, reward, done, info = env.step(int(rng.integers(n_products)))
        decisions += 1
elapsed = time.perf_counter() - tick
print(json.dumps({'decisions_per_s': decisions / elapsed, 'decisions': decisions, 'users': users,
                  'num_products': n_products, 'k': n_products}))
"""


RECSIM_CODE = r"""
import json, sys, time, numpy as np
from recsim.environments import interest_evolution
n_candidates, seconds = int(sys.argv[1]), float(sys.argv[2])
env = interest_evolution.create_environment(
    {'num_candidates': n_candidates, 'slate_size': 1, 'resample_documents': True, 'seed': 0})
env.reset()
rng = np.random.default_rng(0)
decisions = users = 0
tick = time.perf_counter()
while time.perf_counter() - tick < seconds:  # one user's session per episode
    obs, reward, done, info = env.step([int(rng.integers(n_candidates))])
    decisions += 1
    if done:
        env.reset()
        users += 1
elapsed = time.perf_counter() - tick
print(json.dumps({'decisions_per_s': decisions / elapsed, 'decisions': decisions, 'users': users,
                  'num_candidates': n_candidates, 'k': n_candidates}))
"""


def peer_rows(seconds: float) -> list[dict[str, Any]]:
    """RecoGym's and RecSim's env step rates, each from its own venv under ``.peers/`` (a random policy)."""
    rows: list[dict[str, Any]] = []
    setups = [
        ("RecoGym RecoEnv1", "recogym", RECOGYM_CODE, "num_products", (10, 1000)),
        ("RecSim interest_evolution", "recsim", RECSIM_CODE, "num_candidates", (10,)),
    ]
    for peer, folder, code, knob, sizes in setups:
        python = ROOT / ".peers" / folder / "bin" / "python"
        for size in sizes:
            row: dict[str, Any] = {"peer": peer, knob: size}
            if not python.exists():
                row["error"] = f"not measured: .peers/{folder} is not installed"
            else:
                proc = subprocess.run(
                    [str(python), "-c", code, str(size), str(seconds)], capture_output=True, text=True, timeout=600
                )
                if proc.returncode == 0:
                    row.update(json.loads(proc.stdout.strip().splitlines()[-1]))
                else:
                    row["error"] = "not measured: " + (proc.stderr.strip().splitlines() or ["failed"])[-1][:300]
            rows.append(row)
    return rows


def fmt(x: float | None, digits: int = 0) -> str:
    """A number with thousands separators ('-' for None)."""
    return "-" if x is None else f"{x:,.{digits}f}"


def markdown(result: dict[str, Any], before: dict[str, Any] | None = None) -> str:
    """The README table of a result (and the rate of the same cell in ``before``, when given)."""
    prior = {(c["env"], c["batch"], c["agent"]): c["decisions_per_s"] for c in (before or {}).get("cells", [])}
    head = "| env | B | agent | decisions/s | env µs | agent µs | bookkeeping µs | end s | bound µs | of bound |"
    lines = [head + (" before |" if before else ""), "|" + "---|" * (10 + bool(before))]
    for c in result["cells"]:
        row = (
            f"| {c['env'].split('/')[1]} | {c['batch']} | {c['agent']} | {fmt(c['decisions_per_s'])} | "
            f"{c['env_us']:.2f} | {c['agent_us']:.2f} | {c['bookkeeping_us']:.2f} | {c['end_s']:.2f} | "
            f"{fmt(c['bound_us'], 2)} | "
            f"{fmt(c['fraction'], 2)} |"
        )
        if before:
            row += f" {fmt(prior.get((c['env'], c['batch'], c['agent'])))} |"
        lines.append(row)
    lines += ["", "| raw env step | variant | decisions/s |", "|---|---|---|"]
    lines += [f"| {r['env'].split('/')[1]} | {r['variant']} | {fmt(r['decisions_per_s'])} |" for r in result["raw_env"]]
    if result.get("peers"):
        lines += ["", "| peer | setting | decisions/s |", "|---|---|---|"]
        for r in result["peers"]:
            knob = "num_products" if "num_products" in r else "num_candidates"
            rate = fmt(r["decisions_per_s"]) if "decisions_per_s" in r else r.get("error", "not measured")
            lines.append(f"| {r['peer']} | {knob} = {r.get(knob)} | {rate} |")
    return "\n".join(lines)


def main(args: Args) -> dict[str, Any]:
    """Run the grid, print the tables, write the JSON (not with ``--quick`` unless ``--out`` is given)."""
    if args.table is not None:
        before = json.loads(args.before.read_text()) if args.before else None
        result = json.loads(args.table.read_text())
        print(markdown(result, before))
        return result
    if args.peers_only:
        result = json.loads(args.out.read_text()) if args.out.exists() else {"benchmark": "loop", "cells": []}
        result["peers"] = peer_rows(max(args.seconds, 1.0))
        result["peers_loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
        for p in result["peers"]:
            print(f"peer {p}")
        atomic_write_bytes(args.out, json.dumps(result, indent=1).encode())
        return result
    use_shared_data()
    if args.quick:
        args.seconds, args.repeats = 0.1, 1
        grid: tuple[tuple[str, tuple[int, ...]], ...] = ((SYN, (1, 64)),)
        agents: tuple[str, ...] = ("random", "linucb-shared")
    else:
        grid, agents = tuple(g for g in GRID if g[0] in args.envs), args.agents
    rates = machine_rates()
    print(f"gemm {rates.gemm_macs / 1e9:.2f} G multiply-adds/s, copy {rates.stream_bytes / 1e9:.2f} GB/s (one thread)")
    cells, raw = [], []
    for env_id, batches in grid:
        for batch in batches:
            env = make_env(env_id, batch_size=batch)
            problem = env.unwrapped.problem
            k, d_u, d_i = problem.k, env.observation_space["user"].shape[-1], problem.item_contexts.shape[1]
            with threadpool_limits(1):
                raw += [{"env": env_id} | r for r in raw_env_rows(env_id, batch, args.seconds)]
                env_b = env_bound(problem, batch, max(2, 2048 // batch))
            for agent in agents:
                if (agent, batch) in DROPPED:
                    continue
                cell = time_cell(env, env_id, agent, batch, args.seconds, args.repeats)
                with threadpool_limits(1):
                    agent_b = agent_bound(agent, k, batch, d_u, d_i, rates)
                bound_us = None if agent_b is None else 1e6 * (env_b + agent_b)
                measured_us = 1e6 / cell["decisions_per_s"]
                cell |= {
                    "env": env_id,
                    "batch": batch,
                    "agent": agent,
                    "k": k,
                    "env_bound_us": 1e6 * env_b,
                    "agent_bound_us": None if agent_b is None else 1e6 * agent_b,
                    "bound_us": bound_us,
                    "fraction": None if bound_us is None else bound_us / measured_us,
                }
                cells.append(cell)
                print(
                    f"{env_id.split('/')[1]:<18} B={batch:<5} {agent:<16} {fmt(cell['decisions_per_s']):>10} dec/s  "
                    f"env {cell['env_us']:.2f} agent {cell['agent_us']:.2f} book {cell['bookkeeping_us']:.2f} us  "
                    f"end {cell['end_s']:.3f}s  bound {fmt(bound_us, 2)} us  frac {fmt(cell['fraction'], 2)}",
                    flush=True,
                )
    for r in raw:
        print(f"raw {r['env'].split('/')[1]:<18} {r['variant']:<34} {fmt(r['decisions_per_s'])} decisions/s")
    peers = peer_rows(max(args.seconds, 1.0)) if args.peers else []
    for p in peers:
        print(f"peer {p}")
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else None
    result = {
        "benchmark": "loop",
        "loadavg": load,
        "rates": {
            "gemm_multiply_adds_per_s": {str(p): r for p, r in sorted(rates.gemm_at.items())},
            "copy_bytes_per_s": rates.stream_bytes,
        },
        "settings": {"seconds": args.seconds, "repeats": args.repeats, "quick": args.quick},
        "dropped": {f"{a} B={b}": why for (a, b), why in DROPPED.items()},
        "cells": cells,
        "raw_env": raw,
        "peers": peers,
        "gpu": "not measured (no GPU on this machine)",
        "machine": machine(),
        "versions": versions(),
    }
    print("decisions/s")
    if not args.quick or args.out != DEFAULT_OUT:
        atomic_write_bytes(args.out, json.dumps(result, indent=1).encode())
        print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main(tyro.cli(Args))
