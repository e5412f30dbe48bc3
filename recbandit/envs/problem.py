"""The vectorised core shared by the single and the batched bandit env.

A ``BanditProblem`` holds everything that does not change during a run (the user model,
user and item context vectors, item arrival times, K) and draws B users and their
candidates at once with numpy. ``BanditEnv`` is this core with B = 1, so the batched env
with B = 1 reproduces the single env's trajectory draw for draw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces

from recbandit._validation import check_int
from recbandit.envs.user_models import LatentFactorUserModel, SatiationUserModel, UserModel
from recbandit.types import (
    COLD,
    EXPECTED_REWARD,
    EXPECTED_REWARDS,
    INFO_ITEM_IDS,
    OPTIMAL_ACTION,
    OPTIMAL_REWARD,
    REGRET,
    REWARDS,
    USER_IDS,
)

_REJECTION_MIN_RATIO = 4  # below n_avail / K of this, sample by argpartition instead
#: Largest user x item truth (entries) kept as a table of expected rewards (32 MB of float64).
TABLE_MAX = 1 << 22


@dataclass
class BanditProblem:
    """Ground truth, contexts and candidate schedule of a recommendation bandit.

    Args:
        user_model: expected reward of any (user, item) pair.
        user_contexts: float32[n_users, d_u], what an agent sees of each user.
        item_contexts: float32[n_items, d_i], what an agent sees of each item.
        k: number of candidates offered to each user (>= 2).
        item_arrival: int64[n_items], first decision index at which the item can be offered
            (0 for the initial catalogue); ``None`` means all items are there from the start.
        cold_window: an item that arrived after decision 0 is flagged cold for this many
            decisions after its arrival.
        user_weights: float64[n_users] arrival probabilities of users; ``None`` = uniform.
        user_schedule: int64[n] users in arrival order: decision ``t`` serves user
            ``user_schedule[t % n]`` (a logged sequence of arrivals, replayed cyclically);
            ``None`` = users drawn at random (``user_weights``). Not both.
        user_arrival: int64[n_users], first arrival index from which each user can be
            drawn (the decision index for the bandit envs, the session count for the
            session envs; see ``draw_users``); ``None`` or all zeros = every user from the
            start. At least one user must arrive at 0. With a ``user_schedule`` it is
            informational and must agree with the schedule's first pass.
        name: short description recorded in results.
        contexts_info: how the contexts were made, recorded in results: ``encoder`` (its
            name), ``spec`` (canonical encoder spec, ``None`` for an encoder object) and
            ``encode`` (``ContextEncoding.to_dict()``: the encode cost); ``None`` if unknown.
    """

    user_model: UserModel
    user_contexts: np.ndarray
    item_contexts: np.ndarray
    k: int
    item_arrival: np.ndarray | None = None
    cold_window: int = 1000
    user_weights: np.ndarray | None = None
    user_schedule: np.ndarray | None = None
    name: str = "bandit"
    contexts_info: dict[str, Any] | None = None
    user_arrival: np.ndarray | None = None
    _order: np.ndarray = field(init=False, repr=False)
    _sorted_arrival: np.ndarray = field(init=False, repr=False)
    _user_cdf: np.ndarray | None = field(init=False, repr=False)
    _user_order: np.ndarray | None = field(init=False, repr=False)
    _sorted_user_arrival: np.ndarray | None = field(init=False, repr=False)
    _user_cum_weights: np.ndarray | None = field(init=False, repr=False)
    _table: np.ndarray | None = field(init=False, repr=False, default=None)
    _last_arrival: int = field(init=False, repr=False, default=0)

    def __post_init__(self) -> None:
        self.k = check_int("k", self.k, min_value=2)
        self.cold_window = check_int("cold_window", self.cold_window, min_value=0)
        self.user_contexts = _as_contexts("user_contexts", self.user_contexts, self.user_model.n_users)
        self.item_contexts = _as_contexts("item_contexts", self.item_contexts, self.user_model.n_items)
        n_items = self.user_model.n_items
        arrival = np.zeros(n_items, np.int64) if self.item_arrival is None else np.asarray(self.item_arrival)
        if arrival.shape != (n_items,) or not np.issubdtype(arrival.dtype, np.integer) or (arrival < 0).any():
            raise ValueError(f"item_arrival must be {n_items} non-negative integers, got shape {arrival.shape}")
        self.item_arrival = arrival.astype(np.int64)
        self._order = np.argsort(self.item_arrival, kind="stable")
        self._sorted_arrival = self.item_arrival[self._order]
        self._last_arrival = int(self._sorted_arrival[-1]) if n_items else 0
        n0 = self.n_available(0)
        if self.k > n0:
            raise ValueError(
                f"k must be at most the number of items available at the first decision ({n0}), got {self.k}"
            )
        if self.user_weights is None:
            self._user_cdf = None
        else:
            w = np.asarray(self.user_weights, dtype=np.float64)
            if w.shape != (self.user_model.n_users,) or (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
                raise ValueError("user_weights must be n_users non-negative finite numbers with a positive sum")
            self._user_cdf = np.cumsum(w / w.sum())
        if self.user_schedule is not None:
            if self.user_weights is not None:
                raise ValueError("give user_weights or user_schedule, not both")
            sched = np.asarray(self.user_schedule)
            n_users = self.user_model.n_users
            if (
                sched.ndim != 1
                or len(sched) == 0
                or not np.issubdtype(sched.dtype, np.integer)
                or (sched < 0).any()
                or (sched >= n_users).any()
            ):
                raise ValueError(f"user_schedule must be a non-empty 1-d array of user indices in [0, {n_users})")
            self.user_schedule = sched.astype(np.int64)
        self._set_user_arrival()

    def _set_user_arrival(self) -> None:
        """Validate ``user_arrival`` and prepare the draw of arrived users (arrival-sorted order)."""
        n_users = self.user_model.n_users
        arrival = np.zeros(n_users, np.int64) if self.user_arrival is None else np.asarray(self.user_arrival)
        if arrival.shape != (n_users,) or not np.issubdtype(arrival.dtype, np.integer) or (arrival < 0).any():
            raise ValueError(f"user_arrival must be {n_users} non-negative integers, got shape {arrival.shape}")
        self.user_arrival = arrival.astype(np.int64)
        self._user_order = self._sorted_user_arrival = self._user_cum_weights = None
        if not self.user_arrival.any():
            return  # everyone from the start: the draws of today's envs, unchanged
        if self.user_schedule is not None:
            sched = self.user_schedule
            early = np.flatnonzero(self.user_arrival[sched] > np.arange(len(sched)))
            if len(early):
                t = int(early[0])
                raise ValueError(
                    f"user_schedule serves user {int(sched[t])} at {t}, before its user_arrival "
                    f"{int(self.user_arrival[sched[t]])}"
                )
            return
        order = np.argsort(self.user_arrival, kind="stable")
        self._user_order = order
        self._sorted_user_arrival = self.user_arrival[order]
        w = np.ones(n_users) if self.user_weights is None else np.asarray(self.user_weights, dtype=np.float64)
        cum = np.cumsum(w[order])
        n0 = int(np.searchsorted(self._sorted_user_arrival, 0, side="right"))
        if n0 == 0 or cum[n0 - 1] <= 0:
            raise ValueError("user_arrival must let at least one user (with a positive user weight) arrive at 0")
        self._user_cum_weights = cum if self.user_weights is not None else None

    @property
    def user_dim(self) -> int:
        """Dimension ``d_u`` of user contexts."""
        return int(self.user_contexts.shape[1])

    @property
    def item_dim(self) -> int:
        """Dimension ``d_i`` of item contexts."""
        return int(self.item_contexts.shape[1])

    @property
    def n_users(self) -> int:
        """Number of users the user model knows."""
        return int(self.user_model.n_users)

    @property
    def n_items(self) -> int:
        """Number of items in the catalogue (over the whole schedule)."""
        return int(self.user_model.n_items)

    def n_available(self, t: int) -> int:
        """Number of items available at decision ``t``."""
        if t >= self._last_arrival:  # the whole catalogue (always, without arrivals)
            return len(self._sorted_arrival)
        return int(np.searchsorted(self._sorted_arrival, t, side="right"))

    def observation_space(self, batch: int | None) -> spaces.Dict:
        """Dict space of one observation; leading dimension ``batch`` unless ``None``."""
        lead = () if batch is None else (batch,)
        # Contexts are fixed arrays, so their exact range bounds the Box.
        u, v = self.user_contexts, self.item_contexts
        return spaces.Dict(
            {
                "user": spaces.Box(u.min(), u.max(), shape=(*lead, self.user_dim), dtype=np.float32),
                "items": spaces.Box(v.min(), v.max(), shape=(*lead, self.k, self.item_dim), dtype=np.float32),
                "item_ids": spaces.Box(0, self.n_items - 1, shape=(*lead, self.k), dtype=np.int64),
            }
        )

    def draw(self, rng: np.random.Generator, t: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``batch`` arriving users and K distinct available candidates for each.

        The users of decisions ``t .. t + batch - 1`` come from ``user_schedule`` when there
        is one (no random draw), else from ``rng``.

        Returns:
            users int64[B] and candidates int64[B, K] (item indices).
        """
        users = self.draw_users(rng, t, batch)
        slots = _sample_distinct(rng, self.n_available(t), self.k, batch)
        return users, self._order[slots]

    def draw_users(self, rng: np.random.Generator, start: int, n: int) -> np.ndarray:
        """int64[n]: the next ``n`` arriving users.

        With a ``user_schedule`` they are entries ``start .. start + n - 1`` of it (cyclic; no
        random draw): ``start`` is the decision index for the bandit envs and the session
        count for the session envs. Otherwise they are drawn from ``rng``, by
        ``user_weights`` when given, else uniformly; with a ``user_arrival`` the ``j``-th
        draw is among the users with ``user_arrival <= start + j`` only.
        """
        if self.user_schedule is not None:
            return self.user_schedule[(start + np.arange(n)) % len(self.user_schedule)]
        if self._user_order is not None:
            assert self._sorted_user_arrival is not None
            arrived = np.searchsorted(self._sorted_user_arrival, start + np.arange(n), side="right")
            if self._user_cum_weights is None:
                slots = rng.integers(0, arrived)
            else:
                total = self._user_cum_weights[arrived - 1]
                slots = np.searchsorted(self._user_cum_weights, rng.random(n) * total, side="right")
                slots = np.minimum(slots, arrived - 1)
            return self._user_order[slots].astype(np.int64)
        if self._user_cdf is None:
            return rng.integers(self.n_users, size=n).astype(np.int64, copy=False)
        users = np.searchsorted(self._user_cdf, rng.random(n), side="right")
        return np.minimum(users, self.n_users - 1).astype(np.int64)

    def observe(self, users: np.ndarray, candidates: np.ndarray) -> dict[str, np.ndarray]:
        """Observation dict for users int64[B] and candidates int64[B, K]."""
        return {
            "user": self.user_contexts.take(users, axis=0),
            "items": self.item_contexts.take(candidates, axis=0),
            "item_ids": candidates,
        }

    def outcome(
        self,
        rng: np.random.Generator,
        t: int,
        users: np.ndarray,
        candidates: np.ndarray,
        actions: np.ndarray,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Sample rewards for the chosen candidates and describe the step.

        Args:
            rng: the env's generator.
            t: decision index of the batch.
            users: int64[B].
            candidates: int64[B, K].
            actions: int64[B], positions in ``[0, K)``.

        Returns:
            rewards float64[B] and the info dict (every value has leading dimension B).
        """
        expected = self.expected_reward(users, candidates)
        info = step_info(rng, expected, actions, users, candidates, self.cold(t, candidates))
        return info[REWARDS], info

    def expected_reward(self, users: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """float64[B, K]: the user model's expected rewards of users int64[B] for candidates int64[B, K].

        A user model whose values are elementwise (a pair's value does not depend on the
        other pairs of the call, bit for bit: ``LatentFactorUserModel``'s einsum, see
        ``_elementwise``) is tabulated over all users x items on first use when the table has
        at most ``TABLE_MAX`` entries; a step then reads B x K entries instead of computing
        them. The values are the model's own, so runs are unchanged.
        """
        table = self._truth_table()
        if table is None:
            return self.user_model.expected_reward(users, candidates)
        return table.take(users[:, None] * table.shape[1] + candidates)

    def _truth_table(self) -> np.ndarray | None:
        """float64[n_users, n_items] expected rewards (built once), or None where not tabulated."""
        if self._table is None:
            model = self.user_model
            n_users, n_items = self.n_users, self.n_items
            if not _elementwise(model) or n_users * n_items > TABLE_MAX:
                return None
            items, rows = np.arange(n_items), 64
            self._table = np.concatenate(
                [
                    model.expected_reward(
                        np.arange(s, min(s + rows, n_users)), np.tile(items, (min(rows, n_users - s), 1))
                    )
                    for s in range(0, n_users, rows)
                ]
            )
        return self._table

    def cold(self, t: int, candidates: np.ndarray) -> np.ndarray:
        """bool[B, K]: which candidates arrived after decision 0 and within ``cold_window`` of ``t``."""
        if not self._last_arrival:  # no item arrives later: none is ever cold
            return np.zeros(candidates.shape, bool)
        arrival = self.item_arrival.take(candidates)  # type: ignore[union-attr]
        return (arrival > 0) & (t - arrival < self.cold_window)


class ProblemAttributes:
    """What an env over a ``BanditProblem`` tells runners and reports, as plain attributes.

    Every recbandit env (bandit, batched, session) inherits it. Read the attributes on
    ``env.unwrapped`` when the env may be wrapped (``gymnasium.make`` adds wrappers):
    ``isinstance(env.unwrapped, ProblemAttributes)`` says whether an env has them.

    Attributes:
        problem: the env's ``BanditProblem``.
        fit_report: JSON-able fidelity report of a user model fitted on logs (held-out AUC,
            log loss, ... beside popularity; see ``recbandit.envs.fitted``), set by the
            logged-data envs; ``None`` where the truth is not fitted (synthetic envs).
    """

    problem: BanditProblem
    fit_report: dict[str, Any] | None = None

    @property
    def item_contexts(self) -> np.ndarray:
        """float32[n_items, d_i]: what an agent sees of each catalogue item."""
        return self.problem.item_contexts

    @property
    def n_items(self) -> int:
        """Catalogue size (over the whole schedule)."""
        return self.problem.n_items

    @property
    def contexts_info(self) -> dict[str, Any] | None:
        """How the contexts were made (``encoder``, ``spec``, ``encode`` cost); None if unknown."""
        return self.problem.contexts_info

    @property
    def item_arrival(self) -> np.ndarray:
        """int64[n_items]: the decision index from which each item can be offered (0: initial catalogue)."""
        return self.problem.item_arrival  # type: ignore[return-value]  # never None after __post_init__

    @property
    def user_arrival(self) -> np.ndarray | None:
        """int64[n_users]: the decision index from which each user can arrive; None: all from decision 0."""
        return getattr(self.problem, "user_arrival", None)


def step_info(
    rng: np.random.Generator,
    expected: np.ndarray,
    actions: np.ndarray,
    users: np.ndarray,
    candidates: np.ndarray,
    cold: np.ndarray,
) -> dict[str, np.ndarray]:
    """Draw Bernoulli rewards for the chosen candidates and build a step's info (``recbandit.types``).

    Args:
        rng: the env's generator (one uniform per user).
        expected: float64[B, K], every candidate's expected reward.
        actions: int64[B], chosen positions.
        users: int64[B].
        candidates: int64[B, K].
        cold: bool[B, K].

    Returns:
        The info dict; ``info["rewards"]`` float64[B] holds the sampled rewards.
    """
    best = expected.argmax(axis=1)
    if len(users) == 1:  # online: slices of the one row instead of fancy indexing
        a, o = int(actions[0]), int(best[0])
        chosen, optimum = expected[0, a : a + 1].copy(), expected[0, o : o + 1].copy()
    else:
        rows = np.arange(len(users))
        chosen, optimum = expected[rows, actions], expected[rows, best]
    rewards = (rng.random(len(users)) < chosen).astype(np.float64)
    return {
        EXPECTED_REWARDS: expected,
        EXPECTED_REWARD: chosen,
        OPTIMAL_REWARD: optimum,
        OPTIMAL_ACTION: best,
        REGRET: optimum - chosen,
        REWARDS: rewards,
        INFO_ITEM_IDS: candidates,
        USER_IDS: users,
        COLD: cold,
    }


def _elementwise(model: UserModel) -> bool:
    """Whether ``model.expected_reward`` of a pair is the same, bit for bit, in any call shape.

    A model may say so with an ``elementwise`` attribute; otherwise only the latent-factor
    models whose ``expected_reward`` and ``logits`` are the ones defined in
    ``recbandit.envs.user_models`` count (their einsum is checked for this in
    ``tests/test_envs.py``).
    """
    said = getattr(model, "elementwise", None)
    if said is not None:
        return bool(said)
    if not isinstance(model, LatentFactorUserModel):
        return False
    kind = type(model)
    return kind.expected_reward is LatentFactorUserModel.expected_reward and kind.logits in (
        LatentFactorUserModel.logits,
        SatiationUserModel.logits,
    )


def _as_contexts(name: str, value: np.ndarray, n_rows: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] != n_rows:
        raise ValueError(f"{name} must have shape ({n_rows}, d), got {arr.shape}")
    if not np.isfinite(arr).all():
        bad = int(np.argwhere(~np.isfinite(arr))[0, 0])
        raise ValueError(f"{name} row {bad} contains NaN or infinite values")
    return np.ascontiguousarray(arr)


def _sample_distinct(rng: np.random.Generator, n: int, k: int, batch: int) -> np.ndarray:
    """int64[batch, k]: each row k distinct values from range(n), uniformly, vectorised.

    Rows are drawn with replacement and rows with a repeat are drawn again (exactly
    uniform over distinct ordered tuples); when ``n`` is close to ``k`` the first k of a
    random-key sort are taken instead.
    """
    if n < _REJECTION_MIN_RATIO * k:
        keys = rng.random((batch, n))
        return np.argsort(keys, axis=1)[:, :k].astype(np.int64)
    out = rng.integers(n, size=(batch, k))
    if batch == 1:  # one row: a set of k Python ints checks it faster than a sort
        while len(set(out[0].tolist())) < k:
            out = rng.integers(n, size=(1, k))
        return out
    todo = np.arange(batch)
    while True:
        srt = np.sort(out[todo], axis=1)
        todo = todo[(srt[:, 1:] == srt[:, :-1]).any(axis=1)]
        if len(todo) == 0:
            return out
        out[todo] = rng.integers(n, size=(len(todo), k))
