"""Coverage, intra-list diversity, novelty and session metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from recbandit.evaluation.metrics import (
    catalogue_coverage,
    diversity_metrics,
    intra_list_diversity,
    novelty,
    session_metrics,
)

R2 = 1 / np.sqrt(2)
# item 0 = x, item 1 = y, item 2 = (x + y) scaled (cosine 1/sqrt2 with both), item 3 = zero vector
EMB = np.array([[1.0, 0.0], [0.0, 3.0], [2.0, 2.0], [0.0, 0.0]])


def test_coverage_counts_distinct_items_over_catalogue() -> None:
    assert catalogue_coverage(np.array([0, 1, 1, 3]), 5) == pytest.approx(3 / 5)
    assert catalogue_coverage(np.array([4, 4, 4]), 5) == pytest.approx(1 / 5)
    with pytest.raises(ValueError, match="n_items must be > 0"):
        catalogue_coverage(np.array([0]), 0)


def test_novelty_is_share_of_first_time_user_item_pairs() -> None:
    # pairs (u0, i2) (u0, i2) (u1, i2) (u0, i3): the second is a repeat -> 3 of 4 are novel
    assert novelty(np.array([2, 2, 2, 3]), np.array([0, 0, 1, 0])) == pytest.approx(0.75)
    assert novelty(np.array([5, 5, 5]), np.array([7, 7, 7])) == pytest.approx(1 / 3)
    assert novelty(np.array([1, 2, 3]), np.array([0, 0, 0])) == 1.0


@pytest.mark.parametrize(
    "items, expected",
    [
        ([0, 1], 1.0),  # orthogonal
        ([0, 0], 0.0),  # a repeat
        ([0, 2], 1 - R2),  # 45 degrees; norms do not matter
        ([0, 1, 2], (1 + 2 * (1 - R2)) / 3),  # mean over the three pairs
        ([0, 3], 1.0),  # a zero embedding is at distance 1
    ],
)
def test_intra_list_diversity_of_one_list(items: list[int], expected: float) -> None:
    got = intra_list_diversity(np.array(items), np.zeros(len(items), np.int64), EMB)
    assert got == pytest.approx(expected, abs=1e-12)


def test_intra_list_diversity_averages_lists_and_skips_singletons() -> None:
    items = np.array([0, 1, 0, 0, 2])
    groups = np.array([10, 10, 20, 20, 30])  # lists: {0,1} -> 1, {0,0} -> 0, {2} -> no pair
    assert intra_list_diversity(items, groups, EMB) == pytest.approx(0.5)
    assert np.isnan(intra_list_diversity(np.array([0, 1]), np.array([1, 2]), EMB))


def test_diversity_metrics_group_by_session_else_by_user() -> None:
    items = np.array([0, 1, 0, 2])
    users = np.array([0, 0, 1, 1])
    by_session = diversity_metrics(items, users, np.array([5, 6, 5, 6]), EMB, n_items=4)
    # sessions 5: {0, 0} -> 0; 6: {1, 2} -> 1 - 1/sqrt2
    assert by_session["diversity_over"] == "session"
    assert by_session["diversity"] == pytest.approx((0 + 1 - R2) / 2)
    by_user = diversity_metrics(items, users, np.full(4, -1), EMB, n_items=4)
    # users 0: {0, 1} -> 1; 1: {0, 2} -> 1 - 1/sqrt2
    assert by_user["diversity_over"] == "user"
    assert by_user["diversity"] == pytest.approx((1 + 1 - R2) / 2)
    assert by_user["coverage"] == pytest.approx(3 / 4) and by_user["distinct_items"] == 3
    assert by_user["novelty"] == 1.0
    bare = diversity_metrics(items, users)
    assert bare["coverage"] is None and bare["diversity"] is None and bare["novelty"] == 1.0


def test_session_metrics_completed_sessions_and_curve() -> None:
    rewards = np.array([1, 0, 1, 1, 0, 1, 1], dtype=float)
    sessions = np.array([0, 0, 1, 0, 1, 2, 2])
    ends = np.array([0, 0, 0, 1, 1, 0, 0], dtype=bool)
    out = session_metrics(rewards, sessions, ends, windows=2)
    assert out is not None
    # session 0: decisions 0, 1, 3 -> return 2, length 3, ends at 3; session 1: 2, 4 -> 1, 2, ends at 4;
    # session 2 is still running at the horizon and is left out.
    assert out["completed"] == 2 and out["unfinished"] == 1
    assert out["mean_return"] == pytest.approx(1.5) and out["mean_length"] == pytest.approx(2.5)
    # windows [0, 4) and [4, 7)
    assert out["curve"] == {"t": [4, 7], "mean_return": [2.0, 1.0], "mean_length": [3.0, 2.0], "sessions": [1, 1]}
    assert session_metrics(rewards, np.full(7, -1), ends) is None
    none_done = session_metrics(rewards, sessions, np.zeros(7, bool), windows=2)
    assert none_done is not None and none_done["mean_return"] is None and none_done["curve"]["sessions"] == [0, 0]


def test_intra_list_diversity_in_chunks_is_the_definition_and_chunk_free(monkeypatch: pytest.MonkeyPatch) -> None:
    import recbandit.evaluation.metrics as metrics

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(30, 5))
    emb[3] = 0.0
    items, groups = rng.integers(30, size=400), rng.integers(25, size=400)
    whole = intra_list_diversity(items, groups, emb)
    monkeypatch.setattr(metrics, "_CHUNK_VALUES", 5 * 7)  # 7 decisions a chunk, 58 chunks
    assert intra_list_diversity(items, groups, emb) == whole  # the same float, not just close
    # The definition, pair by pair: mean over lists of the mean of 1 - cos over pairs of decisions.
    norms = np.linalg.norm(emb, axis=1)
    unit = np.divide(emb, norms[:, None], out=np.zeros_like(emb), where=norms[:, None] > 0)
    per_list = []
    for g in np.unique(groups):
        z = unit[items[groups == g]]
        if len(z) >= 2:
            i, j = np.triu_indices(len(z), k=1)
            per_list.append(np.mean(1.0 - (z[i] * z[j]).sum(axis=1)))
    assert whole == pytest.approx(np.mean(per_list), rel=1e-12)


def test_welch_interval_matches_scipy() -> None:
    from scipy import stats

    from recbandit.evaluation.metrics import welch

    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 1.0, 5), rng.normal(0.0, 3.0, 7)
    diff, half = welch(a, b)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert diff == pytest.approx(a.mean() - b.mean())
    assert (diff - half, diff + half) == pytest.approx((ci.low, ci.high))
    assert np.isnan(welch(a[:1], b)[1])


@pytest.mark.parametrize("n_users, n_items, t", [(5, 7, 50), (1000, 1000, 20_000), (10**6, 10**5, 1000)])
def test_novelty_counts_distinct_pairs_on_both_paths(n_users: int, n_items: int, t: int) -> None:
    """The bitmap (small pair ranges) and the sort (large ones) give the exact distinct-pair share."""
    from recbandit.evaluation.metrics import novelty

    rng = np.random.default_rng(n_users)
    users, items = rng.integers(3, 3 + n_users, t), rng.integers(0, n_items, t)
    expected = len(set(zip(users.tolist(), items.tolist(), strict=True))) / t
    assert novelty(items, users) == expected
