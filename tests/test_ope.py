"""Off-policy estimators: hand-computed values, unbiasedness on simulated logs, SLOPE, reward model, errors."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from recbandit.agents import make_agent
from recbandit.data.logged import Interactions, Items, LoggedData, Users
from recbandit.envs import make_env
from recbandit.evaluation import ope
from recbandit.evaluation.runner import run

# --------------------------------------------------------------------------- hand-computed values

R = np.array([1.0, 0.0, 1.0, 0.0])
A = np.array([0, 1, 1, 0])
P = np.array([0.5, 0.5, 0.25, 0.5])
PI = np.array([[1.0, 0.0], [0.5, 0.5], [0.2, 0.8], [1.0, 0.0]])
Q = np.array([[0.5, 0.1], [0.2, 0.4], [0.3, 0.6], [0.9, 0.0]])
W = np.array([1.0 / 0.5, 0.5 / 0.5, 0.8 / 0.25, 1.0 / 0.5])  # 2, 1, 3.2, 2
Q_PI = np.array([0.5, 0.5 * 0.2 + 0.5 * 0.4, 0.2 * 0.3 + 0.8 * 0.6, 0.9])  # 0.5, 0.3, 0.54, 0.9
Q_LOG = np.array([0.5, 0.4, 0.6, 0.9])


def test_hand_computed_values() -> None:
    assert ope.ips(R, A, P, PI) == pytest.approx((2 * 1 + 3.2 * 1) / 4)
    assert ope.snips(R, A, P, PI) == pytest.approx((2 + 3.2) / (2 + 1 + 3.2 + 2))
    assert ope.dm(R, A, P, PI, Q) == pytest.approx((0.5 + 0.3 + 0.54 + 0.9) / 4)
    dr_rounds = Q_PI + W * (R - Q_LOG)  # 1.5, -0.1, 1.82, -0.9
    assert ope.dr(R, A, P, PI, Q) == pytest.approx(dr_rounds.mean()) == pytest.approx(0.58)
    # Switch-DR at tau = 2.5: round 2 (w = 3.2) falls back to DM
    assert ope.switch_dr(R, A, P, PI, Q, tau=2.5) == pytest.approx((1.5 - 0.1 + 0.54 - 0.9) / 4)
    # DRos at lambda = 1: w -> w / (w^2 + 1)
    shrunk = W / (W**2 + 1)
    assert ope.dr_os(R, A, P, PI, Q, lambda_=1.0) == pytest.approx((Q_PI + shrunk * (R - Q_LOG)).mean())
    # limits: tau / lambda = inf is DR, 0 is DM
    for f, kw in ((ope.switch_dr, "tau"), (ope.dr_os, "lambda_")):
        assert f(R, A, P, PI, Q, **{kw: np.inf}) == pytest.approx(0.58)
        assert f(R, A, P, PI, Q, **{kw: 0.0}) == pytest.approx(0.56)


def test_replay_hand_computed_and_positions() -> None:
    rewards = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    actions = np.array([0, 1, 1, 0, 2])
    pscore = np.full(5, 1 / 3)
    target = np.eye(3)[[0, 1, 0, 0, 2]]  # deterministic: matches rounds 0, 1, 3, 4
    assert ope.replay(rewards, actions, pscore, target) == pytest.approx((1 + 0 + 0 + 1) / 4)
    # With positions, the policy's choice at the logged position is what counts.
    dist = np.zeros((5, 3, 2))
    dist[:, 0, 0] = 1.0  # position 0: always action 0
    dist[:, 1, 1] = 1.0  # position 1: always action 1
    positions = np.array([0, 1, 1, 1, 0])  # matches rounds 0, 1, 2
    assert ope.replay(rewards, actions, pscore, dist, positions) == pytest.approx(2 / 3)
    # IPS with positions: w = pi(a_i | k_i) / pscore
    assert ope.ips(rewards, actions, pscore, dist, positions) == pytest.approx((3 * 1 + 3 * 0 + 3 * 1) / 5)


def test_estimate_dispatches_by_name() -> None:
    assert set(ope.ESTIMATORS) == {"replay", "ips", "snips", "dm", "dr", "switch-dr", "dr-os"}
    assert ope.estimate("dr", R, A, P, PI, None, Q) == pytest.approx(ope.dr(R, A, P, PI, Q))
    # a policy the same for every round can be a broadcast view (no copy)
    view = np.broadcast_to(np.array([0.3, 0.7]), (4, 2))
    assert ope.ips(R, A, P, view) == pytest.approx(ope.ips(R, A, P, np.tile([0.3, 0.7], (4, 1))))


# --------------------------------------------------------------------------- simulated logs with a known truth


def simulate(rng: np.random.Generator, n_logs: int, n: int, uniform: bool) -> dict[str, np.ndarray]:
    """n_logs logs of n rounds: 5 actions, 2 context groups, Bernoulli rewards of a known table."""
    theta = np.array([[0.1, 0.3, 0.5, 0.2, 0.6], [0.7, 0.2, 0.1, 0.4, 0.3]])  # [group, action]
    behaviour = np.full((2, 5), 0.2) if uniform else np.array([[0.4, 0.3, 0.1, 0.1, 0.1], [0.1, 0.1, 0.2, 0.3, 0.3]])
    target = np.array([[0.0, 0.1, 0.2, 0.0, 0.7], [0.6, 0.1, 0.1, 0.1, 0.1]])
    group = rng.integers(2, size=(n_logs, n))
    cdf = np.cumsum(behaviour[group], axis=-1)
    actions = np.minimum((rng.random((n_logs, n, 1)) > cdf).sum(axis=-1), 4)
    rewards = (rng.random((n_logs, n)) < theta[group, actions]).astype(float)
    truth = 0.5 * (target * theta).sum()  # groups equally likely
    return {
        "group": group,
        "actions": actions,
        "rewards": rewards,
        "pscore": behaviour[group, actions],
        "dist": target[group],
        "q": theta[group],
        "truth": np.float64(truth),
    }


def test_ips_and_dr_are_unbiased_and_dm_is_exact_with_the_true_model() -> None:
    sim = simulate(np.random.default_rng(3), n_logs=400, n=200, uniform=False)
    truth = float(sim["truth"])
    values: dict[str, list[float]] = {"ips": [], "dr": [], "snips": [], "dm": []}
    for i in range(400):
        args = (sim["rewards"][i], sim["actions"][i], sim["pscore"][i], sim["dist"][i])
        values["ips"].append(ope.ips(*args))
        values["snips"].append(ope.snips(*args))
        values["dr"].append(ope.dr(*args, sim["q"][i]))
        values["dm"].append(ope.dm(*args, sim["q"][i]))
    for name in ("ips", "dr"):
        v = np.array(values[name])
        se = v.std(ddof=1) / np.sqrt(len(v))
        assert abs(v.mean() - truth) < 4 * se, f"{name}: mean {v.mean():.4f} vs truth {truth:.4f} (se {se:.4f})"
    # An exact reward model: DM is off only by the sampling of contexts (no reward noise at all),
    # and DR keeps the reward noise but not the model's error, so both beat IPS's spread.
    dm = np.array(values["dm"])
    assert abs(dm.mean() - truth) < 4 * dm.std(ddof=1) / np.sqrt(len(dm))
    assert np.std(dm) < 0.3 * np.std(values["ips"]) and np.std(values["dr"]) < 0.8 * np.std(values["ips"])
    assert abs(np.mean(values["snips"]) - truth) < 0.02


def test_replay_is_unbiased_on_a_uniform_log() -> None:
    sim = simulate(np.random.default_rng(5), n_logs=300, n=300, uniform=True)
    deterministic = np.eye(5)[[4, 0]]  # group 0 -> action 4, group 1 -> action 0
    truth = 0.5 * (0.6 + 0.7)
    v = np.array(
        [
            ope.replay(sim["rewards"][i], sim["actions"][i], sim["pscore"][i], deterministic[sim["group"][i]])
            for i in range(300)
        ]
    )
    assert abs(v.mean() - truth) < 4 * v.std(ddof=1) / np.sqrt(len(v))
    # A random policy is replayed by drawing its action (rng): unbiased too.
    rng = np.random.default_rng(0)
    w = np.array(
        [
            ope.replay(sim["rewards"][i], sim["actions"][i], sim["pscore"][i], sim["dist"][i], rng=rng)
            for i in range(300)
        ]
    )
    assert abs(w.mean() - float(sim["truth"])) < 4 * w.std(ddof=1) / np.sqrt(len(w))


def test_bootstrap_interval_is_reproducible_and_covers_the_truth() -> None:
    sim = simulate(np.random.default_rng(9), n_logs=1, n=5000, uniform=False)
    args = (sim["rewards"][0], sim["actions"][0], sim["pscore"][0], sim["dist"][0])
    a = ope.bootstrap_ci("ips", *args, rng=np.random.default_rng(1), n_boot=300)
    b = ope.bootstrap_ci("ips", *args, rng=np.random.default_rng(1), n_boot=300)
    assert a == b and a.lower < a.estimate < a.upper and a.estimate == pytest.approx(ope.ips(*args))
    assert a.lower < float(sim["truth"]) < a.upper
    c = ope.bootstrap_ci("dr-os", *args, None, sim["q"][0], rng=np.random.default_rng(1), n_boot=100)
    assert set(c.hyper) == {"lambda_"} and c.lower <= c.estimate <= c.upper
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        ope.bootstrap_ci("ips", *args, rng=1)  # type: ignore[arg-type]


def test_slope_keeps_the_least_biased_candidate_consistent_with_the_narrower_ones() -> None:
    z = np.random.default_rng(0).standard_normal(10_000)
    z = (z - z.mean()) / z.std(ddof=1)

    def rounds(h: float) -> np.ndarray:
        # Larger h: less bias, more variance. h = 10 is biased far beyond its interval.
        mean, std = {10.0: (2.0, 1.0), 100.0: (1.0, 5.0), float("inf"): (1.02, 20.0)}[h]
        return mean + std * z

    assert ope.slope(rounds, candidates=(10.0, 100.0, float("inf"))) == 100.0
    # all consistent: the narrowest wins
    assert ope.slope(lambda h: 1.0 + (30.0 / h if np.isfinite(h) else 40.0) * z, candidates=(10.0, 100.0)) == 100.0


# --------------------------------------------------------------------------- reward model and logging policy


def test_fit_reward_model_learns_and_is_cross_fitted() -> None:
    rng = np.random.default_rng(0)
    n, n_actions = 3000, 4
    x = rng.normal(size=(n, 2))
    actions = rng.integers(n_actions, size=n)
    positions = rng.integers(2, size=n)
    logit = -1.0 + 1.5 * x[:, 0] + np.array([-1.0, 0.0, 0.5, 1.0])[actions] + 0.8 * positions
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    model = ope.fit_reward_model(x, actions, y, n_actions, positions, 2, rng=np.random.default_rng(1), l2=1.0)
    q = model.estimated_rewards
    assert q.shape == (n, n_actions, 2) and ((q > 0) & (q < 1)).all()
    assert model.held_out_log_loss < model.base_rate_log_loss - 0.05
    # the fitted effects have the simulated signs: higher for action 3 than 0, position 1 than 0
    assert (q[:, 3, :] > q[:, 0, :]).all() and (q[:, :, 1] > q[:, :, 0]).all()
    # cross-fitting: a round's prediction does not depend on its own label (same folds, same seed)
    flipped = y.copy()
    flipped[7] = 1 - flipped[7]
    again = ope.fit_reward_model(x, actions, flipped, n_actions, positions, 2, rng=np.random.default_rng(1), l2=1.0)
    np.testing.assert_allclose(again.estimated_rewards[7], q[7], rtol=1e-6)
    assert not np.allclose(again.estimated_rewards, q)
    # l2 candidates are chosen per fold by inner log loss
    grid = (1.0, 1e5)
    tuned = ope.fit_reward_model(x, actions, y, n_actions, positions, 2, rng=np.random.default_rng(1), l2=grid)
    assert tuned.l2 == [1.0, 1.0, 1.0]  # a strong signal: the weak penalty has the lower inner log loss


def test_logged_policy_marginal_of_a_changing_policy() -> None:
    rng = np.random.default_rng(0)
    n, n_actions = 200_000, 3
    # the policy changes after the first 10% of the log, as a batch-updated sampler does
    early = (np.arange(n) < n // 10)[:, None]
    probs = np.where(early, np.array([0.9, 0.05, 0.05]), np.array([0.05, 0.475, 0.475]))
    actions = (rng.random((n, 1)) > np.cumsum(probs, axis=1)).sum(axis=1)
    pscore = probs[np.arange(n), actions]
    truth = probs.mean(axis=0)  # (0.135, 0.4325, 0.4325)
    harmonic = ope.logged_policy_marginal(actions, pscore, n_actions)[:, 0]
    mean_p = ope.logged_policy_marginal(actions, pscore, n_actions, method="mean-propensity")[:, 0]
    np.testing.assert_allclose(harmonic, truth, atol=0.01)
    assert mean_p[0] > 2 * truth[0]  # the plain mean propensity over-weights the action whose probability fell
    # a policy that does not change is recovered exactly
    const = ope.logged_policy_marginal(np.array([0, 1, 1, 2]), np.array([0.5, 0.25, 0.25, 0.25]), 3)
    np.testing.assert_allclose(const[:, 0], [0.5, 0.25, 0.25])


# --------------------------------------------------------------------------- logs -> arrays


def test_run_log_feeds_ope(tmp_path: Path) -> None:
    env = make_env("recbandit/Synthetic-v0", batch_size=10, n_items=50, n_users=30)
    _, log = run(env, make_agent("random"), horizon=500, seed=0)
    arrays = ope.run_log_arrays(log)
    np.testing.assert_allclose(arrays["pscore"], 1 / 10)  # the random agent over K = 10 candidates
    uniform = np.full((500, 10), 0.1)
    assert ope.ips(arrays["rewards"], arrays["actions"], arrays["pscore"], uniform) == pytest.approx(log.rewards.mean())
    path = tmp_path / "log.npz"
    np.savez_compressed(path, **asdict(log))
    np.testing.assert_array_equal(ope.run_log_arrays(path)["items"], log.items)
    broken = asdict(log)
    broken["propensities"] = np.where(np.arange(500) == 3, np.nan, log.propensities)
    with pytest.raises(ValueError, match="decision 3 has propensity nan"):
        ope.run_log_arrays(broken)


def test_logged_arrays_of_a_loggeddata() -> None:
    inter = Interactions(
        user=np.arange(3),
        item=np.array([0, 1, 0]),
        reward=np.array([1.0, 0.0, 0.0]),
        timestamp=np.arange(3.0),
        propensity=np.full(3, 0.5),
        position=np.array([1, 3, 2]),
    )
    data = LoggedData("x", "t", inter, Items(np.arange(2), ["", ""]), Users(np.arange(3)), "binary")
    arrays = ope.logged_arrays(data)
    assert arrays["positions"].tolist() == [0, 2, 1] and arrays["context"].shape == (3, 0)
    bare = Interactions(inter.user, inter.item, inter.reward, inter.timestamp)
    with pytest.raises(ValueError, match="no propensities"):
        ope.logged_arrays(LoggedData("x", "t", bare, data.items, data.users, "binary"))


# --------------------------------------------------------------------------- errors

BAD = [
    ("ips", {"rewards": R[:3]}, r"action_dist must have shape \(3, n_actions\)"),
    ("ips", {"pscore": P[:3]}, r"pscore must have shape \(4,\)"),
    ("ips", {"pscore": np.array([0.5, 0.0, 0.25, 0.5])}, r"pscore\[1\] = 0.0 is out of range"),
    ("ips", {"pscore": np.array([0.5, 0.5, 1.5, 0.5])}, r"pscore\[2\] = 1.5 is out of range"),
    ("ips", {"rewards": np.array([1.0, np.nan, 0, 0])}, r"rewards\[1\] is nan"),
    ("ips", {"actions": np.array([0, 2, 1, 0])}, r"actions\[1\] = 2 is out of range"),
    ("ips", {"action_dist": np.array([[1.0, 0.0], [0.5, 0.4], [0.2, 0.8], [1.0, 0.0]])}, "row 1 sums to 0.9"),
    ("ips", {"action_dist": np.array([[1.0, 0.0], [1.5, -0.5], [0.2, 0.8], [1.0, 0.0]])}, "not a probability"),
    ("ips", {"action_dist": PI[:, :, None].repeat(2, axis=2) / 1.0}, "positions is needed"),
    ("ips", {"action_dist": PI[:3]}, "action_dist must have shape"),
    ("dm", {"estimated_rewards": None}, "estimated_rewards is needed"),
    ("dr", {"estimated_rewards": Q[:, :1]}, "estimated_rewards must have the shape of action_dist"),
    ("replay", {}, "deterministic evaluation policy"),
    ("replay", {"action_dist": np.eye(2)[[0, 1, 1, 0]]}, "uniformly random log"),
    ("switch-dr", {"hyper": -1.0}, "tau must be a number >= 0"),
    ("nope", {}, "unknown estimator 'nope'"),
]


@pytest.mark.parametrize(("name", "change", "message"), BAD)
def test_bad_inputs_are_named(name: str, change: dict, message: str) -> None:
    args = {"rewards": R, "actions": A, "pscore": P, "action_dist": PI, "positions": None, "estimated_rewards": Q}
    args.update(change)
    with pytest.raises(ValueError, match=message):
        ope.estimate(name, **args)


SHARED = Path(os.environ.get("RECBANDIT_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
OBD = SHARED / "obd"


@pytest.mark.skipif(not (OBD / "bts" / "all" / "all.csv").is_file(), reason="OBD sample not found")
def test_ope_benchmark_quick(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "ope.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--quick", "--path", str(OBD), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "ope.json").read_text())
    assert result["truth"]["ctr"] == pytest.approx(0.0042)
    assert set(result["relative_error"]) == set(ope.ESTIMATORS)
    md = (tmp_path / "ope.md").read_text()
    assert "| dr-os |" in md and "| naive (random log's CTR) |" in md and "OBP-like" in md
    # The naive baseline is scored in the same resamples as the estimators, and compared with them pairwise.
    naive = np.array(result["baseline"]["per_run"])
    assert len(naive) == len(result["per_run"]) == 2
    assert result["baseline"]["relative_error"]["mean"] == pytest.approx(naive.mean())
    assert result["baseline"]["whole_log"]["estimate"] == pytest.approx(result["random_log"]["ctr"])
    for name in ope.ESTIMATORS:
        errors = np.array([run["main"][name] for run in result["per_run"]])
        assert result["paired_vs_naive"][name]["mean_diff"] == pytest.approx((errors - naive).mean())
    # Welch p-values of our mean against OBP's published one (30 runs), for the estimators OBP reports.
    from scipy import stats

    assert set(result["welch_p_vs_obp"]) == {"dm", "ips", "snips", "dr", "switch-dr", "dr-os"}
    ours, obp = result["relative_error"]["dr"], result["obp_published"]["dr"]
    expected = stats.ttest_ind_from_stats(ours["mean"], ours["std"], 2, obp["mean"], obp["std"], 30, equal_var=False)
    assert result["welch_p_vs_obp"]["dr"] == pytest.approx(expected.pvalue)
    assert all(0 <= p <= 1 for p in result["welch_p_vs_obp"].values())
