"""Decisions + updates per second of every registered agent, online (B=1) and batched.

Only ``agent.act(obs)`` and ``agent.update(obs, actions, rewards)`` are timed: observations
and Bernoulli rewards are pre-generated with numpy, and the lookup of the chosen
candidates' rewards happens between two clock reads. The problem has K candidates per
decision drawn (distinct) from a catalogue of item ids, float32 contexts and rewards from a
fixed linear-logistic model. Every linear agent gets a p = 16 dimensional model:

- disjoint agents (one model per item id over the user context + intercept): d_u = 15;
- shared agents with ``features="item", intercept=False`` (one model over the
  candidate's context): d_i = 16;
- shared agents with the default ``features="outer"`` (vec((user, 1) x (item, 1))):
  d_u = d_i = 3, so p = (3 + 1) * (3 + 1) = 16, reported as separate rows.

Each cell (agent x mode) runs a warm-up, then ``repeats`` timed runs of about
``seconds / repeats`` each; the fastest run is reported (the machine may be shared).

Neural agents (``neural-*``) get the Synthetic-v0 shape instead: d_u = d_i = ``neural_dim``
(12) with their default ``"outer"`` features, p = 13 * 13 = 169, default network and
retraining schedule (so a batch of B decisions also pays for B / train_every
retrainings). Each neural agent runs in a fresh process, which also gives its peak
memory per batch size: the growth of the process's peak RSS over its RSS before the
agent was built, with torch and the problem loaded (``peak_rss_mb``; Linux, the peak is
reset between batch sizes through /proc/self/clear_refs), and the agent's own bytes with
its replay buffer at capacity (``state_mb``).

``--peers`` runs the online loop through MABWiser, contextualbandits and Vowpal Wabbit
when they are importable (``pip install -e .[peers]``; Vowpal Wabbit separately) and
prints each as the ratio recbandit / peer.

Usage::

    python benchmarks/throughput.py              # full budget, writes benchmarks/results/throughput.json
    python benchmarks/throughput.py --peers      # plus the peer libraries, side by side
    python benchmarks/throughput.py --quick      # smoke run (a few seconds, writes nothing)
"""

from __future__ import annotations

import importlib.util
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tyro
from _peer_bandits import peer_loops

from recbandit.agents import AGENTS, make_agent
from recbandit.agents._linear import LinearAgent
from recbandit.agents._neural import NeuralAgent
from recbandit.evaluation.results import atomic_write_bytes, machine, versions

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "throughput.json"
PEER_PACKAGES = ("mabwiser", "contextualbandits", "vowpalwabbit")


@dataclass
class Args:
    """Throughput (decisions/s of act + update) of the registered agents."""

    k: int = 50
    """candidates per decision (K)"""
    dim: int = 16
    """model dimension p of the linear agents (the context sizes are derived from it, see the module docstring)"""
    catalogue: int = 1000
    """number of distinct item ids the candidates are drawn from"""
    batch_sizes: tuple[int, ...] = (256, 1024)
    """batch sizes B of the batched modes (the online mode, B=1, always runs)"""
    pool: int = 4096
    """observation rows pre-generated per problem (cycled through)"""
    seconds: float = 1.5
    """timed seconds per cell, split over the repeats"""
    repeats: int = 3
    """timed runs per cell; the fastest is reported"""
    warmup: float = 0.2
    """warm-up seconds per cell before timing (at least two steps)"""
    agents: tuple[str, ...] = ()
    """registered agent names to run (empty: all of them)"""
    neural_dim: int = 12
    """user and item context dimension of the neural agents' problem (Synthetic-v0's; outer features p = 169)"""
    peers: bool = False
    """also run the online loop through MABWiser / contextualbandits / Vowpal Wabbit when importable"""
    quick: bool = False
    """tiny budget for a smoke test; writes no results file unless --out is given"""
    seed: int = 0
    """seed of the synthetic problem and of the agents"""
    out: Path | None = None
    """results JSON (default benchmarks/results/throughput.json; none with --quick)"""


# --------------------------------------------------------------------------- problem


@dataclass
class Problem:
    """Pre-generated observations (float32 contexts, int64 ids) and Bernoulli rewards float64[N, K]."""

    user: np.ndarray
    items: np.ndarray
    item_ids: np.ndarray
    rewards: np.ndarray

    @property
    def dims(self) -> tuple[int, int]:
        return self.user.shape[1], self.items.shape[2]

    def steps(self, batch: int) -> list[tuple[dict[str, np.ndarray], np.ndarray]]:
        """Contiguous batches of ``batch`` rows: (obs, rewards float64[B, K]) per step."""
        out = []
        for s in range(0, len(self.user) - batch + 1, batch):
            obs = {"user": self.user[s : s + batch], "items": self.items[s : s + batch]}
            obs["item_ids"] = self.item_ids[s : s + batch]
            out.append((obs, self.rewards[s : s + batch]))
        return out


def make_problem(rng: np.random.Generator, n: int, k: int, d_u: int, d_i: int, catalogue: int) -> Problem:
    """N rows of K distinct candidates; reward logit = item . w + user^T W item + bias[item id]."""
    user = rng.standard_normal((n, d_u)).astype(np.float32)
    items = rng.standard_normal((n, k, d_i)).astype(np.float32)
    ids = np.argpartition(rng.random((n, catalogue)), k, axis=1)[:, :k].astype(np.int64)
    w = rng.standard_normal(d_i) / np.sqrt(d_i)
    bilinear = rng.standard_normal((d_u, d_i)) / np.sqrt(d_u * d_i)
    bias = rng.normal(-1.5, 0.5, size=catalogue)
    logit = items @ w + np.einsum("nu,ui,nki->nk", user, bilinear, items) + bias[ids]
    rewards = (rng.random((n, k)) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float64)
    return Problem(user, items, ids, rewards)


# --------------------------------------------------------------------------- timing


@dataclass
class Cell:
    """One measured (agent configuration, batch size)."""

    label: str
    agent: str
    params: dict[str, Any]
    p: str
    features: str
    batch: int
    decisions_per_s: float = 0.0
    act_us: float = 0.0
    update_us: float = 0.0
    steps: int = 0
    runs: list[float] = field(default_factory=list)
    peak_rss_mb: float | None = None
    state_mb: float | None = None


def time_loop(
    act: Callable[[Any], np.ndarray],
    update: Callable[[Any, np.ndarray, np.ndarray], None],
    steps: list[tuple[Any, np.ndarray]],
    n_steps: int,
    start: int = 0,
) -> tuple[float, float, int]:
    """Run ``n_steps`` steps of act -> reward lookup -> update; seconds in act and in update.

    ``act`` returns int actions[B]; the lookup of their rewards is not timed.
    """
    clock = time.perf_counter
    t_act = t_upd = 0.0
    n = len(steps)
    rows = np.arange(len(steps[0][1]))
    i = start
    for _ in range(n_steps):
        obs, rewards = steps[i % n]
        i += 1
        t0 = clock()
        actions = act(obs)
        t1 = clock()
        r = rewards[rows, actions]
        t2 = clock()
        update(obs, actions, r)
        t3 = clock()
        t_act += t1 - t0
        t_upd += t3 - t2
    return t_act, t_upd, i


def measure(
    act: Callable[[Any], np.ndarray],
    update: Callable[[Any, np.ndarray, np.ndarray], None],
    steps: list[tuple[Any, np.ndarray]],
    batch: int,
    args: Args,
) -> dict[str, Any]:
    """Warm up, then ``args.repeats`` timed runs; the fastest run's rates."""
    i, spent, done = 0, 0.0, 0
    deadline = time.perf_counter() + args.warmup
    while done < 2 or time.perf_counter() < deadline:
        ta, tu, i = time_loop(act, update, steps, 1, i)
        spent += ta + tu
        done += 1
    per_step = spent / done
    n_steps = max(1, math.ceil(args.seconds / args.repeats / max(per_step, 1e-9)))
    best: tuple[float, float, float] | None = None
    runs = []
    for _ in range(args.repeats):
        ta, tu, i = time_loop(act, update, steps, n_steps, i)
        rate = n_steps * batch / (ta + tu)
        runs.append(rate)
        if best is None or rate > best[0]:
            best = (rate, ta, tu)
    assert best is not None
    return {
        "decisions_per_s": best[0],
        "act_us": best[1] / n_steps * 1e6,
        "update_us": best[2] / n_steps * 1e6,
        "steps": n_steps,
        "runs": runs,
    }


# --------------------------------------------------------------------------- configurations


def configurations(names: list[str], dim: int, neural_dim: int = 12) -> list[dict[str, Any]]:
    """Agent configurations with p = ``dim``: (label, agent, params, problem dims, p, features).

    Neural agents: d_u = d_i = ``neural_dim``, outer features, measured in their own process.
    """
    out = []
    side = math.isqrt(dim) - 1  # outer features: (side + 1) ** 2 = dim
    for name in names:
        cls = AGENTS[name]
        if issubclass(cls, NeuralAgent):
            feat = f"outer ({neural_dim}+1)x({neural_dim}+1), MLP"
            p = str((neural_dim + 1) ** 2)
            out.append(dict(label=name, agent=name, params={}, dims=(neural_dim, neural_dim), p=p, features=feat))
            out[-1]["isolated"] = True
        elif not issubclass(cls, LinearAgent):
            out.append(dict(label=name, agent=name, params={}, dims=(dim - 1, dim), p="-", features="item ids"))
        elif cls.disjoint:
            feat = f"user d_u={dim - 1} + 1, per item"
            out.append(dict(label=name, agent=name, params={}, dims=(dim - 1, dim), p=str(dim), features=feat))
        else:
            params = {"features": "item", "intercept": False}
            out.append(
                dict(label=name, agent=name, params=params, dims=(dim - 1, dim), p=str(dim), features=f"item d_i={dim}")
            )
            if (side + 1) ** 2 == dim:
                out.append(
                    dict(
                        label=f"{name} (outer)",
                        agent=name,
                        params={},
                        dims=(side, side),
                        p=str(dim),
                        features=f"outer ({side}+1)x({side}+1)",
                    )
                )
    return out


def measure_isolated(
    name: str, params: dict[str, Any], problem: Problem, batches: list[int], args: Args
) -> list[dict[str, Any]]:
    """``measure`` of each batch size in one fresh process, plus peak memory (``peak_rss_mb``, ``state_mb``)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(_measure_child, name, params, problem, batches, args).result()


def _rss_kb(field: str) -> int | None:
    """``VmRSS`` (current) or ``VmHWM`` (peak) of this process in kB, from /proc (None elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _measure_child(
    name: str, params: dict[str, Any], problem: Problem, batches: list[int], args: Args
) -> list[dict[str, Any]]:
    import gc

    import torch  # noqa: F401  (in the baseline: what the agent adds is measured)

    # Warm torch up (kernels, allocator, optimizer) with a throwaway agent, so that one-off
    # library costs stay in the baseline.
    warm = make_agent(name, seed=args.seed, **{**params, "train_every": 1, "train_steps": 1, "buffer_size": 16})
    for obs, rewards in problem.steps(2)[:2]:
        warm.update(obs, warm.act(obs).actions, rewards[:, 0])
    del warm
    out = []
    for batch in batches:
        steps = problem.steps(batch)
        gc.collect()
        try:  # reset the peak RSS to the current RSS (Linux >= 4.0), so each batch size gets its own peak
            Path("/proc/self/clear_refs").write_text("5")
            base = _rss_kb("VmRSS")
        except OSError:
            base = None
        agent = make_agent(name, seed=args.seed, **params)
        res = measure(lambda obs, agent=agent: agent.act(obs).actions, agent.update, steps, batch, args)
        peak = _rss_kb("VmHWM")
        res["peak_rss_mb"] = None if base is None or peak is None else (peak - base) / 1024.0
        res["state_mb"] = agent.memory_bytes() / 2**20 if isinstance(agent, NeuralAgent) else None
        out.append(res)
        del agent, steps
    return out


def agent_loop(name: str, params: dict[str, Any], seed: int) -> tuple[Callable, Callable]:
    agent = make_agent(name, seed=seed, **params)

    def act(obs: Any) -> np.ndarray:
        return agent.act(obs).actions

    return act, agent.update


def disjoint_floor(k: int, p: int, catalogue: int, alpha: float = 0.5) -> tuple[Callable, Callable]:
    """A minimal online loop of disjoint LinUCB's work, as (act, update) for ``measure``.

    The same arithmetic as ``linucb-disjoint`` at B = 1 (gather the K candidates'
    ``[A_i^-1; theta_i^T]`` blocks, two matrix-vector products, the UCB argmax, one
    Sherman–Morrison update of the chosen model) in the fewest numpy calls, with no input
    checks, no growth of the tables and no log of ``A``: the floor that numpy's per-call
    cost sets for this loop in Python, which the agent's own rate is read against.
    """
    table = np.zeros((catalogue, p + 1, p))
    table[:, :p] = np.eye(p)
    flat = table.reshape(catalogue, -1)
    buf = np.empty((p + 1, p))
    state: dict[str, Any] = {}

    def act(obs: Any) -> np.ndarray:
        row = obs["item_ids"][0]
        x = np.empty(p)
        x[: p - 1] = obs["user"][0]
        x[p - 1] = 1.0
        xt = (flat.take(row, axis=0).reshape(k * (p + 1), p) @ x).reshape(k, p + 1)
        score = xt[:, :p] @ x
        np.maximum(score, 0.0, out=score)
        np.sqrt(score, out=score)
        score *= alpha
        score += xt[:, p]
        a = int(score.argmax())
        state.update(x=x, i=int(row[a]))
        return np.array([a])

    def update(obs: Any, actions: np.ndarray, rewards: np.ndarray) -> None:
        t, x = table[state["i"]], state["x"]
        c = t @ x
        av = c[:-1]
        scale = 1.0 / (1.0 + av @ x)
        c[-1] -= rewards[0]
        t -= np.multiply.outer(c * scale, av, out=buf)

    return act, update


# --------------------------------------------------------------------------- main


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def print_table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    align = ["<" if i < 4 else ">" for i in range(len(header))]
    line = "  ".join(f"{h:{a}{w}}" for h, a, w in zip(header, align, widths, strict=True))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(f"{c:{a}{w}}" for c, a, w in zip(r, align, widths, strict=True)))


def main(args: Args) -> dict[str, Any]:
    if args.quick:
        args.seconds, args.repeats, args.warmup, args.pool = 0.03, 1, 0.0, 1024
    names = list(args.agents) or list(AGENTS)
    unknown = sorted(set(names) - set(AGENTS))
    if unknown:
        raise SystemExit(f"unknown agent(s) {unknown}; registered: {', '.join(AGENTS)}")
    if args.pool < max(args.batch_sizes, default=1):
        raise SystemExit(f"--pool ({args.pool}) must be at least the largest batch size")
    side = math.isqrt(args.dim) - 1
    print(f"throughput: K={args.k} candidates from a catalogue of {args.catalogue} ids, p={args.dim} for linear agents")
    print(f"  disjoint linear: one model per item id over the user context, d_u={args.dim - 1} + intercept")
    print(f"  shared linear, features='item', intercept=False: the candidate's context, d_i={args.dim}")
    if (side + 1) ** 2 == args.dim:
        print(f"  shared linear, features='outer' (default): d_u=d_i={side}, p=({side}+1)*({side}+1)")
    print("  context-free agents (random, eps-greedy, ucb1, ts) use item_ids only")
    print(f"  timing: act + update only; best of {args.repeats} run(s) of ~{args.seconds / args.repeats:.2f}s per cell")
    print()

    configs = configurations(names, args.dim, args.neural_dim)
    rng = np.random.default_rng(args.seed)
    problems: dict[tuple[int, int], Problem] = {}
    for cfg in configs:
        if cfg["dims"] not in problems:
            d_u, d_i = cfg["dims"]
            problems[cfg["dims"]] = make_problem(rng, args.pool, args.k, d_u, d_i, args.catalogue)

    modes = [("online", 1), *((f"batch {b}", b) for b in args.batch_sizes)]
    cells: list[Cell] = []
    rows = []
    for cfg in configs:
        problem = problems[cfg["dims"]]
        isolated = (
            measure_isolated(cfg["agent"], cfg["params"], problem, [b for _, b in modes], args)
            if cfg.get("isolated")
            else None
        )
        for i, (mode, batch) in enumerate(modes):
            if isolated is not None:
                res = isolated[i]
            else:
                act, update = agent_loop(cfg["agent"], cfg["params"], args.seed)
                res = measure(act, update, problem.steps(batch), batch, args)
            cell = Cell(cfg["label"], cfg["agent"], cfg["params"], cfg["p"], cfg["features"], batch, **res)
            cells.append(cell)
            rows.append(
                [
                    cell.label,
                    cell.p,
                    cell.features,
                    mode,
                    fmt_rate(cell.decisions_per_s),
                    f"{cell.act_us:,.1f}",
                    f"{cell.update_us:,.1f}",
                ]
            )
            memory = "" if cell.peak_rss_mb is None else f"  peak RSS +{cell.peak_rss_mb:,.0f} MB"
            print(f"  {rows[-1][0]:<24} {mode:<11} {rows[-1][4]:>12} decisions/s{memory}", flush=True)
    print()
    print_table(rows, ["agent", "p", "features", "mode", "decisions/s", "act µs/step", "update µs/step"])
    neural = [c for c in cells if c.state_mb is not None]
    if neural:
        print("\nneural agents' memory (peak RSS growth while the cell ran; state with the buffer at capacity):")
        mem_rows = [
            [
                c.label,
                "online" if c.batch == 1 else f"batch {c.batch}",
                "n/a" if c.peak_rss_mb is None else f"{c.peak_rss_mb:,.1f}",
                f"{c.state_mb:,.1f}",
            ]
            for c in neural
        ]
        print_table(mem_rows, ["agent", "mode", "peak RSS MB", "state MB"])

    peers: list[dict[str, Any]] = []
    if args.peers:
        print()
        missing = [p for p in PEER_PACKAGES if importlib.util.find_spec(p) is None]
        if missing:
            print(f"peers not importable (skipped): {', '.join(missing)}")
        loops = peer_loops(args.k, args.dim, args.seed)
        problem = problems.get((args.dim - 1, args.dim)) or make_problem(
            rng, args.pool, args.k, args.dim - 1, args.dim, args.catalogue
        )
        steps = problem.steps(1)
        ours: dict[tuple[str, str], float] = {}
        prow = []
        for loop in loops:
            key = (loop["agent"], json.dumps(loop["params"], sort_keys=True))
            if key not in ours:
                act, update = agent_loop(loop["agent"], loop["params"], args.seed)
                ours[key] = measure(act, update, steps, 1, args)["decisions_per_s"]
            act, update = loop["make"]()
            res = measure(act, update, steps, 1, args)
            ratio = ours[key] / res["decisions_per_s"]
            label = loop["agent"] + "".join(f" {k}={v}" for k, v in loop["params"].items())
            peers.append(
                dict(
                    peer=loop["label"],
                    recbandit=loop["agent"],
                    recbandit_params=loop["params"],
                    recbandit_decisions_per_s=ours[key],
                    ratio=ratio,
                    **res,
                )
            )
            prow.append(
                [loop["label"], label, "online", fmt_rate(res["decisions_per_s"]), fmt_rate(ours[key]), f"{ratio:.1f}x"]
            )
            print(f"  {loop['label']:<36} {prow[-1][3]:>10} decisions/s", flush=True)
        print()
        print_table(prow, ["peer", "recbandit counterpart", "mode", "peer/s", "recbandit/s", "recbandit/peer"])

    floors: list[dict[str, Any]] = []
    if "linucb-disjoint" in names:
        problem = problems.get((args.dim - 1, args.dim)) or make_problem(
            rng, args.pool, args.k, args.dim - 1, args.dim, args.catalogue
        )
        act, update = disjoint_floor(args.k, args.dim, args.catalogue)
        res = measure(act, update, problem.steps(1), 1, args)
        ours = next(c for c in cells if c.agent == "linucb-disjoint" and c.batch == 1).decisions_per_s
        floors.append({"loop": "minimal numpy loop of linucb-disjoint's online work (disjoint_floor)", **res})
        print(
            f"\nlinucb-disjoint online: {fmt_rate(ours)} decisions/s; the minimal numpy loop of the same work "
            f"(disjoint_floor): {fmt_rate(res['decisions_per_s'])}/s ({ours / res['decisions_per_s']:.2f} of it)"
        )

    pkgs = ("recbandit", "numpy", *(p for p in PEER_PACKAGES if importlib.util.find_spec(p) is not None))
    record = {
        "benchmark": "throughput",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": machine(),
        "versions": versions(pkgs),
        "cells": [vars(c) for c in cells],
        "peers": peers,
        "floors": floors,
    }
    out = args.out if args.out is not None else (None if args.quick else DEFAULT_OUT)
    if out is not None:
        atomic_write_bytes(out, (json.dumps(record, indent=1) + "\n").encode())
        print(f"\nwrote {out}")
    return record


if __name__ == "__main__":
    main(tyro.cli(Args))
