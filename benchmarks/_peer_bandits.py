"""The peer bandit libraries' online loops for ``benchmarks/throughput.py --peers``.

MABWiser, contextualbandits and Vowpal Wabbit, each wrapped as (act, update) over the
throughput benchmark's observation dicts, beside the recbandit configuration doing the same
work; only the libraries that are importable are included.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np


def peer_loops(k: int, dim: int, seed: int) -> list[dict[str, Any]]:
    """Online (B=1) act/update closures of the importable peer libraries, with their recbandit match.

    Each entry: label, the recbandit configuration doing the same work (agent, params)
    and a ``make`` returning (act, update) over our observation dicts. Peers see the
    K candidate positions as their arms (a fixed arm set), so the disjoint LinUCB/TS
    models are per position rather than per catalogue id: slightly less work than ours
    (no id gather), the same arithmetic per decision.
    """
    loops: list[dict[str, Any]] = []
    arms = list(range(k))
    ones = np.ones((1, 1))

    def user_ctx(obs: Any) -> np.ndarray:  # d_u = dim - 1, plus an intercept column -> p = dim
        return np.hstack([obs["user"].astype(np.float64), ones])

    if importlib.util.find_spec("mabwiser") is not None:
        from mabwiser.mab import MAB, LearningPolicy

        def mab(policy: Any, contextual: bool) -> Callable[[], tuple[Callable, Callable]]:
            def make() -> tuple[Callable, Callable]:
                model = MAB(arms=arms, learning_policy=policy, seed=seed)
                rng = np.random.default_rng(seed)
                n0 = 2 * k
                ctx0 = np.hstack([rng.standard_normal((n0, dim - 1)), np.ones((n0, 1))]) if contextual else None
                model.fit(np.arange(n0) % k, rng.integers(0, 2, n0), ctx0)

                if contextual:

                    def act(obs: Any) -> np.ndarray:
                        return np.array([model.predict(user_ctx(obs))])

                    def update(obs: Any, a: np.ndarray, r: np.ndarray) -> None:
                        model.partial_fit(a, r, user_ctx(obs))

                else:

                    def act(obs: Any) -> np.ndarray:
                        return np.array([model.predict()])

                    def update(obs: Any, a: np.ndarray, r: np.ndarray) -> None:
                        model.partial_fit(a, r)

                return act, update

            return make

        loops += [
            dict(
                label="mabwiser LinUCB",
                agent="linucb-disjoint",
                params={},
                make=mab(LearningPolicy.LinUCB(alpha=0.5, l2_lambda=1.0), True),
            ),
            dict(
                label="mabwiser EpsilonGreedy",
                agent="eps-greedy",
                params={},
                make=mab(LearningPolicy.EpsilonGreedy(epsilon=0.1), False),
            ),
            dict(
                label="mabwiser ThompsonSampling",
                agent="ts",
                params={"propensity_samples": 0},
                make=mab(LearningPolicy.ThompsonSampling(), False),
            ),
        ]

    if importlib.util.find_spec("contextualbandits") is not None:
        from contextualbandits import online as cb

        def cbl(cls: Any, **kw: Any) -> Callable[[], tuple[Callable, Callable]]:
            def make() -> tuple[Callable, Callable]:
                model = cls(nchoices=k, fit_intercept=True, use_float=False, random_state=seed + 1, **kw)
                rng = np.random.default_rng(seed)
                n0 = 2 * k
                model.fit(rng.standard_normal((n0, dim - 1)), np.arange(n0) % k, rng.integers(0, 2, n0))

                def act(obs: Any) -> np.ndarray:
                    return np.asarray(model.predict(obs["user"].astype(np.float64)), dtype=np.int64)

                def update(obs: Any, a: np.ndarray, r: np.ndarray) -> None:
                    model.partial_fit(obs["user"].astype(np.float64), a, r)

                return act, update

            return make

        loops += [
            dict(
                label="contextualbandits LinUCB",
                agent="linucb-disjoint",
                params={},
                make=cbl(cb.LinUCB, alpha=0.5, lambda_=1.0),
            ),
            dict(
                label="contextualbandits LinTS",
                agent="lints-disjoint",
                params={"propensity_samples": 0},
                make=cbl(cb.LinTS, lambda_=1.0, v_sq=0.04),
            ),
        ]

    if importlib.util.find_spec("vowpalwabbit") is not None:
        import vowpalwabbit

        def make_vw() -> tuple[Callable, Callable]:
            # ε-greedy over a linear model of the candidate's dim features (ADF format); the
            # text format is how VW's Python API takes examples, so building it is timed.
            vw = vowpalwabbit.Workspace(f"--cb_explore_adf --epsilon 0.1 --quiet --random_seed {seed}")
            names = [f"f{j}" for j in range(dim)]
            state: dict[str, Any] = {}

            def lines(obs: Any) -> list[str]:
                items = obs["items"][0]
                return [
                    "|i " + " ".join(f"{n}:{v:.4f}" for n, v in zip(names, row, strict=True)) for row in items.tolist()
                ]

            def act(obs: Any) -> np.ndarray:
                ex = lines(obs)
                pmf = np.asarray(vw.predict(ex))
                a = int(np.random.default_rng(state.get("i", 0)).choice(len(pmf), p=pmf / pmf.sum()))
                state.update(ex=ex, p=float(pmf[a]), i=state.get("i", 0) + 1)
                return np.array([a])

            def update(obs: Any, a: np.ndarray, r: np.ndarray) -> None:
                ex = list(state["ex"])
                j = int(a[0])
                ex[j] = f"0:{-float(r[0])}:{state['p']} " + ex[j]  # VW learns costs
                vw.learn(ex)

            return act, update

        loops.append(
            dict(
                label="vowpalwabbit cb_explore_adf ε-greedy",
                agent="linucb-shared",
                params={"features": "item", "intercept": False},
                make=make_vw,
            )
        )
    return loops
