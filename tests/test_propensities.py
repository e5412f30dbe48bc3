"""Thompson-sampling propensities: exact choice probabilities, geometric resampling, IPS on a TS log."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import special

from recbandit.agents import make_agent
from recbandit.agents._propensity import (
    PROPENSITY_EVALS,
    beta_choice_probability,
    gaussian_choice_probability,
    geometric_resampling,
)
from recbandit.envs import make_env
from recbandit.evaluation import ope
from recbandit.evaluation.runner import run

EVALS = PROPENSITY_EVALS
TOL = 1e-5  # the quadrature's target relative error (RTOL)


def _beta_k2(a1: float, b1: float, a2: float, b2: float) -> float:
    """P(X2 > X1) for X1 ~ Beta(a1, b1), X2 ~ Beta(a2, b2), integer a2 (E. Miller's closed form)."""
    i = np.arange(int(a2))
    terms = special.betaln(a1 + i, b1 + b2) - np.log(b2 + i) - special.betaln(1 + i, b2) - special.betaln(a1, b1)
    return float(np.exp(terms).sum())


def _random_gaussian(rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Means and standard deviations of K scores on scales from 1e-4 to 1 (narrow next to wide)."""
    return rng.normal(0.0, 1.0, k), np.exp(rng.uniform(np.log(1e-4), 0.0, k))


def _random_beta(rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Beta posteriors from 0 to 5000 pulls, priors with a, b < 1 among them."""
    pulls = np.exp(rng.uniform(0.0, np.log(5000.0), k)) * (rng.random(k) < 0.8)
    rate = rng.uniform(0.01, 0.3, k)
    prior = np.where(rng.random(k) < 0.3, 0.3, 1.0)
    return prior + np.round(pulls * rate), prior + np.round(pulls * (1 - rate))


def _all_actions(p1: np.ndarray, p2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row repeated K times, once per action: inputs for every candidate's probability."""
    k = p1.shape[-1]
    return np.repeat(p1[None], k, axis=0), np.repeat(p2[None], k, axis=0), np.arange(k)


# --------------------------------------------------------------------------- closed forms


def test_gaussian_two_candidates_match_the_closed_form_down_to_rare_choices() -> None:
    rng = np.random.default_rng(0)
    mean = rng.normal(0.0, 1.0, (400, 2))
    std = np.exp(rng.uniform(np.log(1e-3), 0.0, (400, 2)))
    truth = special.ndtr((mean[:, 1] - mean[:, 0]) / np.hypot(std[:, 0], std[:, 1]))
    got = gaussian_choice_probability(mean, std, np.ones(400, np.int64), EVALS)
    keep = truth > 1e-8
    assert (truth[keep] < 1e-3).sum() > 20  # rare choices are in the sample
    np.testing.assert_allclose(got[keep], truth[keep], rtol=TOL)


def test_beta_two_candidates_match_the_closed_form_down_to_rare_choices() -> None:
    rng = np.random.default_rng(1)
    a = 1.0 + rng.integers(0, 300, (200, 2))
    b = 1.0 + rng.integers(0, 3000, (200, 2))
    truth = np.array([_beta_k2(a[i, 0], b[i, 0], a[i, 1], b[i, 1]) for i in range(200)])
    got = beta_choice_probability(a, b, np.ones(200, np.int64), EVALS)
    keep = truth > 1e-8
    assert (truth[keep] < 1e-3).sum() > 10
    np.testing.assert_allclose(got[keep], truth[keep], rtol=TOL)


@pytest.mark.parametrize("family", ["gaussian", "beta"])
def test_the_probabilities_of_all_candidates_sum_to_one(family: str) -> None:
    rng = np.random.default_rng(2)
    for k in (3, 7, 20, 50):
        p1, p2 = _random_gaussian(rng, k) if family == "gaussian" else _random_beta(rng, k)
        fn = gaussian_choice_probability if family == "gaussian" else beta_choice_probability
        probs = fn(*_all_actions(p1, p2), EVALS)
        assert ((probs > 0) & (probs <= 1)).all()
        assert probs.sum() == pytest.approx(1.0, abs=TOL)


def test_identical_posteriors_share_the_choice_equally() -> None:
    k = 8
    uniform = beta_choice_probability(*_all_actions(np.ones(k), np.ones(k)), EVALS)  # all Beta(1, 1)
    np.testing.assert_allclose(uniform, 1.0 / k, rtol=1e-10)
    # three tied leaders and five weaker candidates: the leaders split what the others leave
    mean = np.array([1.0, 1.0, 1.0, 0.0, -0.5, 0.2, 0.1, -1.0])
    std = np.array([0.5, 0.5, 0.5, 0.3, 0.9, 0.4, 0.2, 1.0])
    probs = gaussian_choice_probability(*_all_actions(mean, std), EVALS)
    np.testing.assert_allclose(probs[:3], probs[0], rtol=1e-10)
    assert probs.sum() == pytest.approx(1.0, abs=TOL)


def test_scores_without_variance_are_exact() -> None:
    mean = np.array([[0.3, 0.5, 0.5, -1.0]])
    zero = np.zeros((1, 4))
    # a deterministic argmax picks the first of the tied maxima, always
    assert gaussian_choice_probability(mean, zero, np.array([1]), EVALS)[0] == 1.0
    assert gaussian_choice_probability(mean, zero, np.array([2]), EVALS)[0] < 1e-300
    # a random score against a fixed one: P(S_a > 0.5) for S_a ~ N(0.3, 0.4^2)
    std = np.array([[0.4, 0.0, 0.0, 0.0]])
    got = gaussian_choice_probability(mean, std, np.array([0]), EVALS)[0]
    assert got == pytest.approx(special.ndtr((0.3 - 0.5) / 0.4), rel=TOL)
    # a fixed score against random ones: prod_j P(S_j < mu_a)
    std = np.array([[0.4, 0.0, 0.1, 2.0]])
    want = special.ndtr((0.5 - 0.3) / 0.4) * special.ndtr(0.0) * special.ndtr((0.5 + 1.0) / 2.0)
    assert gaussian_choice_probability(mean, std, np.array([1]), EVALS)[0] == pytest.approx(want, rel=1e-12)


def test_monte_carlo_agrees_on_random_cases_with_rare_choices() -> None:
    """10^6 draws per case; the quadrature must sit within 4 Monte Carlo standard errors."""
    rng = np.random.default_rng(3)
    draws = 1_000_000
    for case in range(6):
        k = 4
        if case % 2:
            a, b = _random_beta(rng, k)
            scores = rng.beta(a, b, size=(draws, k))
            probs = beta_choice_probability(*_all_actions(a, b), EVALS)
        else:
            mean, std = _random_gaussian(rng, k)
            std = np.maximum(std, 0.05)  # keep every candidate's chance visible to 10^6 draws
            scores = mean + std * rng.standard_normal((draws, k))
            probs = gaussian_choice_probability(*_all_actions(mean, std), EVALS)
        freq = np.bincount(scores.argmax(axis=1), minlength=k) / draws
        se = np.sqrt(probs * (1 - probs) / draws)
        assert (np.abs(freq - probs) <= 4 * se + 1e-12).all(), (case, freq, probs)


# --------------------------------------------------------------------------- agents


def test_ts_logs_the_exact_propensity_of_a_rare_choice() -> None:
    agent = make_agent("ts", seed=0)
    # 100 pulls each: item 0 with 50 successes, Beta(51, 51); item 1 with 28, Beta(29, 73)
    agent.stats.add(np.repeat([0, 1], 100), np.r_[np.arange(100) < 50, np.arange(100) < 28].astype(float))
    truth = _beta_k2(51, 51, 29, 73)  # P(item 1 wins) = 7.2e-4
    assert 1e-4 < truth < 1e-3
    d = agent.act({"item_ids": np.tile([0, 1], (30_000, 1))})
    rare = d.actions == 1
    assert rare.sum() >= 5
    np.testing.assert_allclose(d.propensities[rare], truth, rtol=TOL)  # (1 + wins) / 21 logged >= 0.048
    np.testing.assert_allclose(d.propensities[~rare], 1.0 - truth, rtol=TOL)


def _one_feature_lints(v: float, updates: int) -> Any:
    """lints-shared on one feature: after n rewards of 1 at x = 1, theta~ ~ N(n / (1 + n), v^2 / (1 + n))."""
    agent = make_agent("lints-shared", seed=0, features="item", intercept=False, v=v)
    obs = {"user": np.zeros((updates, 1), np.float32), "items": np.ones((updates, 1, 1), np.float32)}
    agent.update(obs, np.zeros(updates, np.int64), np.ones(updates))
    return agent


def test_lints_shared_resampling_is_unbiased_for_a_rare_choice() -> None:
    """Candidates x = 1 and x = 0 score theta~ and 0: x = 1 loses with P(theta~ < 0)."""
    agent = _one_feature_lints(v=1.0, updates=10)
    p_rare = special.ndtr(-(10 / 11) / np.sqrt(1 / 11))  # about 1.3e-3
    b = 100_000
    obs = {"user": np.zeros((b, 1), np.float32), "items": np.tile(np.array([[[1.0], [0.0]]], np.float32), (b, 1, 1))}
    d = agent.act(obs)
    rare = d.actions == 1
    n = 1.0 / d.propensities[rare]  # geometric counts: E[N] = 1 / p
    assert rare.sum() > 50
    se = np.sqrt((1 - p_rare) / p_rare**2 / rare.sum())
    assert abs(n.mean() - 1 / p_rare) < 3 * se, (n.mean(), 1 / p_rare, se)
    assert (1.0 / d.propensities[~rare]).mean() == pytest.approx(1 / (1 - p_rare), abs=0.01)


def test_geometric_resampling_caps_the_draws() -> None:
    def draw(rows: np.ndarray, m: int) -> np.ndarray:
        return np.tile([[[1.0, 0.0]]], (m, len(rows), 1))  # candidate 0 always wins

    np.testing.assert_allclose(geometric_resampling(draw, np.ones(5, np.int64), 2, 37), 1 / 37)  # N = cap
    np.testing.assert_allclose(geometric_resampling(draw, np.zeros(5, np.int64), 2, 37), 1.0)


@pytest.mark.parametrize("name", ["ts", "lints-shared", "lints-disjoint", "neural-ts"])
def test_actions_do_not_depend_on_the_propensity_setting(name: str) -> None:
    env = make_env("recbandit/Synthetic-v0", batch_size=8, n_items=60, n_users=40)
    extra: dict[str, Any] = {
        "neural-ts": {"hidden": 8, "train_every": 16, "train_steps": 2, "device": "cpu"},
        "lints-shared": {"features": "item"},  # p = 13 rather than 169: the same code, faster
    }.get(name, {})

    def actions(samples: int) -> np.ndarray:
        _, log = run(env, make_agent(name, propensity_samples=samples, **extra), 96, seed=3)
        return log.actions

    np.testing.assert_array_equal(actions(0), actions(2 * EVALS))


def test_propensity_samples_must_allow_the_first_pass() -> None:
    with pytest.raises(ValueError, match=r"^propensity_samples must be 0 \(no propensities\) or an integer >= 65"):
        make_agent("ts", propensity_samples=20)  # the former default, now too small a budget
    with pytest.raises(ValueError, match=r"^propensity_samples must be 0 .* >= 65 .*got 64$"):
        make_agent("lints-disjoint", propensity_samples=64)
    assert make_agent("lints-shared", propensity_samples=20).config.propensity_samples == 20  # a cap on draws


# --------------------------------------------------------------------------- OPE on a TS log


class _UniformValue:
    """Env wrapper recording the uniform policy's value of each step: the K candidates' mean expected reward."""

    def __init__(self, env: Any) -> None:
        self.env, self.values = env, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)

    def reset(self, **kwargs: Any) -> Any:
        return self.env.reset(**kwargs)

    def step(self, actions: np.ndarray) -> Any:
        out = self.env.step(actions)
        self.values.append(np.asarray(out[4]["expected_rewards"]).mean(axis=1))
        return out


@pytest.mark.parametrize(("name", "horizon"), [("ts", 2000), ("lints-disjoint", 1008)])
def test_ips_on_a_ts_log_recovers_the_uniform_policy_value(name: str, horizon: int) -> None:
    """Three runs of 'name' (seeds 0-2) logged; IPS of the uniform policy must cover the truth.

    With the former ``(1 + wins) / 21`` propensities the estimate was about 0.7 (ts) and
    0.6 (lints-disjoint) of the truth, far outside its interval.
    """
    logs, values = [], []
    for seed in range(3):
        env = _UniformValue(make_env("recbandit/Synthetic-v0", batch_size=16, n_items=100, n_users=200))
        _, log = run(env, make_agent(name), horizon, seed=seed)
        logs.append(ope.run_log_arrays(log))
        values.append(np.concatenate(env.values))
    arrays = {key: np.concatenate([lg[key] for lg in logs]) for key in ("rewards", "actions", "pscore")}
    truth = float(np.concatenate(values).mean())
    n = len(arrays["rewards"])
    uniform = np.full((n, 10), 0.1)
    iv = ope.bootstrap_ci(
        "ips", arrays["rewards"], arrays["actions"], arrays["pscore"], uniform, rng=np.random.default_rng(0)
    )
    assert iv.upper - iv.lower < 0.3 * truth  # an interval that says something
    assert iv.lower <= truth <= iv.upper, (iv, truth)
