"""New users over time: ``BanditProblem.user_arrival`` and Synthetic-v0's ``new_user_fraction``."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from recbandit.data.synthetic import make_catalogue
from recbandit.envs import make_env
from recbandit.envs.problem import BanditProblem
from recbandit.envs.user_models import LatentFactorUserModel
from recbandit.types import USER_IDS


def _problem(n_users: int = 50, **kwargs: object) -> BanditProblem:
    rng = np.random.default_rng(0)
    prefs = rng.dirichlet(np.ones(3), size=n_users)
    topics = rng.dirichlet(np.ones(3), size=20)
    model = LatentFactorUserModel(prefs, topics, np.zeros(20))
    return BanditProblem(
        user_model=model,
        user_contexts=rng.normal(size=(n_users, 4)),
        item_contexts=rng.normal(size=(20, 4)),
        k=3,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_users_are_never_drawn_before_their_arrival(weighted: bool) -> None:
    n = 50
    arrival = np.zeros(n, np.int64)
    arrival[10:] = np.arange(40) * 25 + 1  # user 10 + j arrives at decision 25 j + 1
    weights = np.linspace(1.0, 3.0, n) if weighted else None
    problem = _problem(n, user_arrival=arrival, user_weights=weights)
    rng = np.random.default_rng(1)
    seen = np.zeros(n, bool)
    for start in range(0, 1200, 100):
        users = problem.draw_users(rng, start, 100)
        t = start + np.arange(100)
        assert (arrival[users] <= t).all()
        seen[users] = True
    assert seen.all()  # everyone who has arrived is drawn eventually (no user is lost)
    # Before anyone late arrives only the first ten are drawn, and all of them are.
    first = np.concatenate([problem.draw_users(np.random.default_rng(s), 0, 1) for s in range(300)])
    assert set(first.tolist()) == set(range(10))


def test_users_drawn_by_weight_among_the_arrived() -> None:
    n = 4
    arrival = np.array([0, 0, 5, 5])
    weights = np.array([1.0, 3.0, 0.0, 4.0])
    problem = _problem(n, user_arrival=arrival, user_weights=weights)
    early = np.concatenate([problem.draw_users(np.random.default_rng(s), 0, 5) for s in range(400)])
    late = problem.draw_users(np.random.default_rng(9), 5, 20_000)
    assert set(early.tolist()) == {0, 1}
    assert np.mean(early == 1) == pytest.approx(0.75, abs=0.03)
    assert 2 not in late  # zero weight: never drawn
    assert np.bincount(late, minlength=4) / len(late) == pytest.approx([0.125, 0.375, 0.0, 0.5], abs=0.02)


def test_all_zero_arrival_draws_as_without_it() -> None:
    a, b = _problem(), _problem(user_arrival=np.zeros(50, np.int64))
    ra, rb = np.random.default_rng(5), np.random.default_rng(5)
    assert np.array_equal(a.draw(ra, 0, 64)[0], b.draw(rb, 0, 64)[0])
    assert np.array_equal(a.user_arrival, np.zeros(50))  # None becomes zeros, like item_arrival


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"user_arrival": np.ones(50, np.int64)}, "at least one user"),
        ({"user_arrival": np.zeros(49, np.int64)}, "user_arrival must be 50"),
        ({"user_arrival": -np.ones(50, np.int64)}, "non-negative"),
        ({"user_arrival": np.r_[0, np.ones(49, np.int64)], "user_weights": np.r_[0.0, np.ones(49)]}, "positive"),
        ({"user_arrival": np.r_[0, np.full(49, 3)], "user_schedule": np.array([0, 5, 0])}, "serves user 5 at 1"),
    ],
)
def test_bad_user_arrival_is_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _problem(**kwargs)


def test_synthetic_new_users_enter_over_time() -> None:
    cat = make_catalogue(n_items=40, n_users=100, new_user_fraction=0.3, user_arrival_span=500, seed=2)
    assert (cat.user_arrival > 0).sum() == 30
    assert cat.user_arrival.max() <= 500
    base = make_catalogue(n_items=40, n_users=100, seed=2)
    assert cat.user_text == base.user_text and cat.item_text == base.item_text  # own generator
    assert not base.user_arrival.any()
    env = make_env(
        "recbandit/Synthetic-v0", batch_size=50, n_items=40, n_users=100, new_user_fraction=0.3,
        user_arrival_span=500, seed=2,
    )  # fmt: skip
    arrival = env.unwrapped.problem.user_arrival
    assert np.array_equal(arrival, cat.user_arrival)
    env.reset(seed=0)
    for step in range(12):
        _, _, _, _, info = env.step(np.zeros(50, np.int64))
        t = step * 50 + np.arange(50)
        assert (arrival[info[USER_IDS]] <= t).all()


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def test_default_synthetic_trajectory_is_unchanged() -> None:
    """A fixed-seed trajectory equals the one recorded before user arrivals existed."""
    from recbandit.envs.synthetic import SyntheticBatchedEnv

    env = SyntheticBatchedEnv(batch_size=8, n_items=60, n_users=40, seed=1, arrival_span=30, k=5)
    env.reset(seed=7)
    h = hashlib.sha256()
    for t in range(20):
        _, r, _, _, info = env.step(np.full(8, t % 5))
        for a in (info[USER_IDS], info["item_ids"], r):
            h.update(np.asarray(a).astype(np.int64).tobytes())
    assert h.hexdigest()[:16] == "f1722b1da1b7ab5c"
