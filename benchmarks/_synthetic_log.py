"""Logs of a known world: Synthetic-v0 interactions under a logging policy, written in the plain format.

``benchmarks/fidelity.py`` fits the user model on such a log as if it were real and
compares the fitted simulator with the true Synthetic-v0. Each logged row is an
impression: the logging policy showed one of the K candidates drawn by the env, and the
reward is the env's Bernoulli click on it. The logging policies:

- ``uniform``: each candidate with probability 1/K;
- ``skewed``: ``pi(i) ∝ exp(beta * z_i)`` over the K candidates, where ``z_i`` is item i's
  standardised mean click probability over all users under the true model: a production
  policy that favours what is popular overall (``beta`` = 1.5), so the log covers the
  catalogue unevenly, and the logged propensity is the exact probability.

Timestamps are ``T0 + decision index`` seconds, items' ``first_seen`` is ``T0 + arrival``
(the cold items arrive during the log as in the env), so the log has the env's schedule.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from recbandit._io import atomic_write_bytes
from recbandit.envs import make_env

POLICIES = ("uniform", "skewed")
#: Unix time of decision 0 in the written logs (2020-09-13).
T0 = 1_600_000_000


def policy_probabilities(policy: str, item_ids: np.ndarray, item_score: np.ndarray, beta: float) -> np.ndarray:
    """float64[B, K]: the logging policy's probability of each candidate int64[B, K]."""
    if policy == "uniform":
        return np.full(item_ids.shape, 1.0 / item_ids.shape[1])
    if policy == "skewed":
        logits = beta * item_score[item_ids]
        w = np.exp(logits - logits.max(axis=1, keepdims=True))
        return w / w.sum(axis=1, keepdims=True)
    raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")


def simulate_log(
    env_kwargs: dict[str, Any], policy: str, n: int, seed: int, beta: float = 1.5, batch: int = 1000
) -> dict[str, np.ndarray]:
    """Log ``n`` impressions of Synthetic-v0 (``env_kwargs``) under ``policy``.

    Returns:
        ``user``, ``item`` int64[n], ``reward`` float64[n], ``t`` int64[n] (decision index),
        ``propensity`` float64[n], ``expected`` float64[n] (the true click probability).
    """
    if n % batch:
        raise ValueError(f"n must be a multiple of batch ({batch}), got {n}")
    env = make_env("recbandit/Synthetic-v0", batch_size=batch, **env_kwargs)
    problem = env.unwrapped.problem
    model = problem.user_model
    users_all = np.arange(model.n_users)
    mean_ctr = np.mean(
        [model.expected_reward(users_all, np.full((model.n_users, 1), i))[:, 0] for i in range(model.n_items)], axis=1
    )
    z = (mean_ctr - mean_ctr.mean()) / mean_ctr.std()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    obs, _ = env.reset(seed=seed)
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("user", "item", "reward", "t", "propensity", "expected")}
    for step in range(n // batch):
        ids = obs["item_ids"]
        probs = policy_probabilities(policy, ids, z, beta)
        actions = (rng.random((batch, 1)) > probs.cumsum(axis=1)).sum(axis=1)
        actions = np.minimum(actions, ids.shape[1] - 1)
        rows = np.arange(batch)
        obs, _, _, _, info = env.step(actions)
        out["user"].append(info["user_ids"])
        out["item"].append(ids[rows, actions])
        out["reward"].append(info["rewards"])
        out["t"].append(step * batch + rows)
        out["propensity"].append(probs[rows, actions])
        out["expected"].append(info["expected_reward"])
    return {k: np.concatenate(v) for k, v in out.items()}


def write_plain(log: dict[str, np.ndarray], env_kwargs: dict[str, Any], folder: Path) -> Path:
    """Write ``log`` with the catalogue's texts as a plain-format folder (interactions, items, users)."""
    from recbandit.data.synthetic import make_catalogue
    from recbandit.envs.synthetic import make_config

    cat = make_catalogue(make_config(**env_kwargs).catalogue)
    folder = Path(folder)

    def csv_bytes(header: list[str], rows: Any) -> bytes:
        import io

        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
        return buf.getvalue().encode()

    atomic_write_bytes(
        folder / "interactions.csv",
        csv_bytes(
            ["user", "item", "reward", "timestamp", "propensity"],
            zip(
                log["user"].tolist(),
                log["item"].tolist(),
                log["reward"].astype(int).tolist(),
                (T0 + log["t"]).tolist(),
                [f"{p:.10g}" for p in log["propensity"]],
                strict=True,
            ),
        ),
    )
    atomic_write_bytes(
        folder / "items.csv",
        csv_bytes(
            ["item", "text", "first_seen"],
            zip(range(cat.n_items), cat.item_text, (T0 + cat.item_arrival).tolist(), strict=True),
        ),
    )
    atomic_write_bytes(folder / "users.csv", csv_bytes(["user", "text"], enumerate(cat.user_text)))
    return folder
