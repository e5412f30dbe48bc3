"""Agent correctness: exact ridge inverses, exploration rates, posterior counts, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from recbandit.agents import AGENTS, Decision, make_agent
from recbandit.agents.base import FAMILIES
from recbandit.envs import make_env

SMALL = {"n_items": 300, "n_users": 200}


def _obs(rng: np.random.Generator, b: int, k: int, du: int = 4, di: int = 3, n_items: int = 50) -> dict:
    ids = np.stack([rng.choice(n_items, size=k, replace=False) for _ in range(b)])
    return {
        "user": rng.standard_normal((b, du)).astype(np.float32),
        "items": rng.standard_normal((b, k, di)).astype(np.float32),
        "item_ids": ids.astype(np.int64),
    }


@pytest.mark.parametrize("name", ["linucb-shared", "lints-shared"])
@pytest.mark.parametrize("batch", [1, 5, 200])
def test_shared_inverse_matches_design_matrix_after_1000_updates(name: str, batch: int) -> None:
    rng = np.random.default_rng(0)
    agent = make_agent(name, seed=0, ridge=0.7)
    design = None
    for _ in range(1000 // batch):
        obs = _obs(rng, batch, 6)
        d = agent.act(obs)
        agent.update(obs, d.actions, rng.random(batch))
        u = np.c_[obs["user"].astype(np.float64), np.ones(batch)]
        v = np.c_[obs["items"][np.arange(batch), d.actions].astype(np.float64), np.ones(batch)]
        x = (u[:, :, None] * v[:, None, :]).reshape(batch, -1)
        design = (0.7 * np.eye(x.shape[1]) if design is None else design) + x.T @ x
    model = agent.model
    np.testing.assert_allclose(model.A, design, atol=1e-9)
    np.testing.assert_allclose(model.A_inv, np.linalg.inv(model.A), atol=1e-8, rtol=0)
    np.testing.assert_allclose(model.theta, np.linalg.solve(model.A, model.b), atol=1e-8)


@pytest.mark.parametrize("name", ["linucb-disjoint", "lints-disjoint"])
@pytest.mark.parametrize("batch", [1, 64])
def test_disjoint_inverses_match_per_item_design_matrices(name: str, batch: int) -> None:
    rng = np.random.default_rng(1)
    agent = make_agent(name, seed=0)
    designs: dict[int, np.ndarray] = {}
    for _ in range(1024 // batch):
        obs = _obs(rng, batch, 5, n_items=20)
        d = agent.act(obs)
        agent.update(obs, d.actions, rng.integers(0, 2, size=batch).astype(float))
        chosen = obs["item_ids"][np.arange(batch), d.actions]
        x = np.c_[obs["user"].astype(np.float64), np.ones(batch)]
        for i, row in zip(chosen, x, strict=True):
            designs[int(i)] = designs.get(int(i), np.eye(5)) + np.outer(row, row)
    model = agent.model
    for i, design in designs.items():
        np.testing.assert_allclose(model.A[i], design, atol=1e-9)
        np.testing.assert_allclose(model.A_inv[i], np.linalg.inv(design), atol=1e-8, rtol=0)


@pytest.mark.parametrize("name", ["linucb-disjoint", "lints-disjoint"])
@pytest.mark.parametrize("batch", [1, 16])
def test_disjoint_update_reads_the_observation_it_is_given(name: str, batch: int) -> None:
    """update reuses act's checked features only for the same arrays: other contexts are read afresh."""
    rng = np.random.default_rng(4)
    reused, fresh = make_agent(name, seed=0), make_agent(name, seed=0)
    for _ in range(40):
        obs = _obs(rng, batch, 5, n_items=12)
        other = _obs(rng, batch, 5, n_items=12)  # a different observation updated after act(obs)
        actions = reused.act(obs).actions
        fresh.act(obs)
        rewards = rng.integers(0, 2, size=batch).astype(float)
        reused.update(obs, actions, rewards)
        fresh.update({k: v.copy() for k, v in obs.items()}, actions, rewards)
        reused.update(other, actions, rewards)
        fresh.update({k: v.copy() for k, v in other.items()}, actions, rewards)
    np.testing.assert_array_equal(reused.model.A, fresh.model.A)
    np.testing.assert_array_equal(reused.model.A_inv, fresh.model.A_inv)


def test_epsilon_greedy_explores_at_the_configured_rate() -> None:
    eps, k, n = 0.2, 10, 20_000
    agent = make_agent("eps-greedy", seed=3, epsilon=eps)
    ids = np.tile(np.arange(k), (n, 1))
    # item 7 is the only one with reward; every other item has been pulled once with reward 0
    agent.update({"item_ids": ids[:k]}, np.arange(k), (np.arange(k) == 7).astype(float))
    d = agent.act({"item_ids": ids})
    non_greedy = (d.actions != 7).mean()
    expected = eps * (k - 1) / k
    assert abs(non_greedy - expected) < 4 * np.sqrt(expected * (1 - expected) / n)
    np.testing.assert_allclose(d.propensities[d.actions == 7], eps / k + 1 - eps)
    np.testing.assert_allclose(d.propensities[d.actions != 7], eps / k)
    # uniform over the non-greedy arms: chi-square with 8 dof well below its 99.9% quantile (26.1)
    counts = np.bincount(d.actions[d.actions != 7], minlength=k)[np.arange(k) != 7]
    chi2 = ((counts - counts.mean()) ** 2 / counts.mean()).sum()
    assert chi2 < 26.1


def test_thompson_posterior_counts_are_exact() -> None:
    rng = np.random.default_rng(2)
    agent = make_agent("ts", seed=0, alpha=2.0, beta=3.0)
    succ, fail = np.zeros(100), np.zeros(100)
    for _ in range(300):
        obs = {"item_ids": np.stack([rng.choice(100, 8, replace=False) for _ in range(4)])}
        d = agent.act(obs)
        r = rng.integers(0, 2, size=4).astype(float)
        agent.update(obs, d.actions, r)
        chosen = obs["item_ids"][np.arange(4), d.actions]
        np.add.at(succ, chosen, r)
        np.add.at(fail, chosen, 1 - r)
    a, b = agent.posterior(np.arange(100)[None, :])
    np.testing.assert_array_equal(a[0], 2.0 + succ)
    np.testing.assert_array_equal(b[0], 3.0 + fail)


def test_thompson_propensity_estimates_choice_probability() -> None:
    agent = make_agent("ts", seed=0, propensity_samples=2000)
    ids = np.array([[0, 1]] * 400)
    # item 0: Beta(1+30, 1+70); item 1: Beta(1+35, 1+65) -> P(item 1 wins) is about 0.77
    agent.update({"item_ids": ids[:200]}, np.zeros(200, np.int64), (np.arange(200) < 30).astype(float))
    agent.update({"item_ids": ids[:200]}, np.ones(200, np.int64), (np.arange(200) < 35).astype(float))
    agent.stats.n[:2] = 100  # 100 pulls each (the 200 updates above were 200 pulls; rescale to the intended)
    agent.stats.s[:2] = [30, 35]
    draws = np.random.default_rng(0)
    truth = (draws.beta(36, 66, 200_000) > draws.beta(31, 71, 200_000)).mean()
    d = agent.act({"item_ids": ids})
    p1 = d.propensities[d.actions == 1].mean()
    assert abs((d.actions == 1).mean() - truth) < 0.08
    assert abs(p1 - truth) < 0.03


def _play(name: str, seed: int, blind: bool = False) -> list[int]:
    """Actions of 40 act/update rounds (B = 16) on Synthetic-v0 (env seed 7); ``blind``: contexts replaced by noise."""
    env = make_env("recbandit/Synthetic-v0", batch_size=16, **SMALL)
    agent = make_agent(name, seed=seed)
    noise = np.random.default_rng(99)
    obs, _ = env.reset(seed=7)
    out: list[int] = []
    for _ in range(40):
        if blind:  # same ids, contexts that say nothing: only a context-free agent acts as before
            obs = {**obs, "user": noise.standard_normal(obs["user"].shape).astype(np.float32),
                   "items": noise.standard_normal(obs["items"].shape).astype(np.float32)}  # fmt: skip
        d = agent.act(obs)
        assert isinstance(d, Decision)
        assert d.actions.shape == (16,) and d.propensities.shape == (16,)
        assert ((d.propensities > 0) & (d.propensities <= 1)).all()
        nxt, _, _, _, info = env.step(d.actions)
        agent.update(obs, d.actions, info["rewards"])
        out.extend(d.actions.tolist())
        obs = nxt
    return out


@pytest.mark.parametrize("name", list(AGENTS))
def test_agents_declare_their_traits(name: str) -> None:
    cls = AGENTS[name]
    assert isinstance(cls.deterministic, bool)  # Agent only annotates them: an undeclared trait raises here
    assert cls.family in FAMILIES


@pytest.mark.parametrize("name", list(AGENTS))
def test_same_seed_same_actions(name: str) -> None:
    first = _play(name, 0)
    assert first == _play(name, 0)
    if not AGENTS[name].deterministic:  # its choices are draws: another seed, other draws
        assert first != _play(name, 1)


@pytest.mark.parametrize("name", list(AGENTS))
def test_context_free_agents_and_only_they_ignore_contexts(name: str) -> None:
    same = _play(name, 0, blind=True) == _play(name, 0)
    assert same == (AGENTS[name].family == "context-free")


@pytest.mark.parametrize("name", list(AGENTS))
def test_deterministic_agents_and_only_they_act_without_drawing(name: str) -> None:
    rng = np.random.default_rng(0)
    agent = make_agent(name, seed=0)
    obs = _obs(rng, 8, 5)
    agent.update(obs, agent.act(obs).actions, rng.random(8))  # lazily built models exist from here on
    obs = _obs(rng, 8, 5)
    before = agent.rng.bit_generator.state
    d = agent.act(obs)
    drew = agent.rng.bit_generator.state != before
    assert drew != AGENTS[name].deterministic
    if AGENTS[name].deterministic:
        np.testing.assert_array_equal(d.propensities, 1.0)
        np.testing.assert_array_equal(agent.act(obs).actions, d.actions)


@pytest.mark.parametrize("name", list(AGENTS))
def test_new_item_ids_need_no_api_change(name: str) -> None:
    rng = np.random.default_rng(0)
    agent = make_agent(name, seed=0)
    obs = _obs(rng, 3, 4, n_items=10)
    agent.update(obs, agent.act(obs).actions, np.ones(3))
    obs2 = _obs(rng, 3, 4, n_items=10)
    obs2["item_ids"] = obs2["item_ids"] + 5000  # a batch of never-seen ids far beyond the catalogue so far
    d = agent.act(obs2)
    agent.update(obs2, d.actions, np.zeros(3))
    assert d.actions.shape == (3,)


def test_random_agent_propensity_is_one_over_k() -> None:
    d = make_agent("random", seed=0).act(_obs(np.random.default_rng(0), 1000, 7))
    np.testing.assert_allclose(d.propensities, 1 / 7)
    counts = np.bincount(d.actions, minlength=7)
    assert counts.min() > 100


def test_agent_params_are_reported() -> None:
    agent = make_agent("linucb-shared", alpha=0.3)
    assert agent.params["alpha"] == 0.3 and agent.params["ridge"] == 1.0
    assert "alpha=0.3" in repr(agent)


@pytest.mark.parametrize("batch", [1, 17, 40])
def test_shared_outer_scores_equal_the_explicit_features(batch: int) -> None:
    """``SharedRidge.mean_var_outer`` (chunked, never forming u ⊗ v) equals ``mean_var`` on vec(u ⊗ v)."""
    from recbandit.agents._linear import SharedRidge

    rng = np.random.default_rng(batch)
    m, n, k = 4, 3, 6
    model = SharedRidge(m * n, 0.7)
    model.update(rng.normal(size=(30, m * n)), rng.random(30))
    model.update(rng.normal(size=(1, m * n)), rng.random(1))
    u, v = rng.normal(size=(batch, m)), rng.normal(size=(batch, k, n))
    x = (u[:, None, :, None] * v[:, :, None, :]).reshape(batch, k, m * n)
    mean, var = model.mean_var_outer(u, v)
    ref_mean, ref_var = model.mean_var(x)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(var, ref_var, rtol=1e-10, atol=1e-12)
    model.update(rng.normal(size=(5, m * n)), rng.random(5))  # a new version: the cached layout is rebuilt
    np.testing.assert_allclose(model.mean_var_outer(u, v)[1], model.mean_var(x)[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n_items", [30, 70_000])
def test_disjoint_kernel_scores_equal_the_per_slot_gather(n_items: int) -> None:
    """The compiled scores equal one gathered model per slot; one user at a time gives the same bits."""
    from recbandit.agents._linear import DisjointRidge, ucb_argmax

    rng = np.random.default_rng(n_items)
    p, b, k = 5, 40, 6
    model = DisjointRidge(p, 1.0)
    ids = rng.integers(n_items - 30, n_items, size=(b, k))  # ids repeat across users (30 distinct at most)
    model.update(ids[:, 0], rng.normal(size=(b, p)), rng.random(b))
    model.update(ids[:1, 1], rng.normal(size=(1, p)), rng.random(1))
    x = rng.normal(size=(b, p))
    mean, var = model.mean_var(x, ids)
    # the scores read the float32 copy of the models, with float64 products: against the copy
    # to 1e-10, against the float64 models to its rounding (~1e-7 relative)
    copy = DisjointRidge(p, 1.0)
    copy._packed = model._packed32.astype(np.float64)
    for table, rtol in ((copy, 1e-10), (model, 1e-6)):
        ref_mean = np.einsum("bkp,bp->bk", table.theta[ids], x)
        ref_var = np.einsum("bkrp,br,bp->bk", table.A_inv[ids], x, x)
        np.testing.assert_allclose(mean, ref_mean, rtol=rtol, atol=rtol * np.abs(ref_mean).max())
        np.testing.assert_allclose(var, ref_var, rtol=rtol, atol=rtol * ref_var.max())
    one = [model.mean_var(x[j : j + 1], ids[j : j + 1]) for j in range(b)]
    np.testing.assert_array_equal(np.vstack([m for m, _ in one]), mean)
    np.testing.assert_array_equal(np.vstack([v for _, v in one]), var)
    # the fused UCB choice is ucb_argmax of the same scores, NaN rows included (numpy: the first NaN wins)
    x[3, 1] = np.nan
    for alpha in (0.0, 0.5, 3.0):
        np.testing.assert_array_equal(model.ucb_argmax(x, ids, alpha), ucb_argmax(*model.mean_var(x, ids), alpha))


def test_disjoint_batched_update_equals_rows_one_at_a_time() -> None:
    """A batch with repeated items is added row by row in order: the same models as B = 1 updates."""
    from recbandit.agents._linear import DisjointRidge

    rng = np.random.default_rng(3)
    p = 4
    items = rng.integers(0, 7, size=300)  # ~43 rows per item in one batch
    x, r = rng.normal(size=(300, p)), rng.random(300)
    batched, online = DisjointRidge(p, 2.0), DisjointRidge(p, 2.0)
    batched.update(items, x, r)
    for j in range(300):
        online.update(items[j : j + 1], x[j : j + 1], r[j : j + 1])
    np.testing.assert_array_equal(batched.A_inv, online.A_inv)
    np.testing.assert_array_equal(batched.theta, online.theta)
    for i in range(7):
        rows = items == i
        design = 2.0 * np.eye(p) + x[rows].T @ x[rows]
        np.testing.assert_allclose(batched.A[i], design, atol=1e-10)
        np.testing.assert_allclose(batched.theta[i], np.linalg.solve(design, x[rows].T @ r[rows]), atol=1e-9)
    with pytest.raises(ValueError, match="non-negative"):
        batched.update(np.array([3, -1]), x[:2], r[:2])
    with pytest.raises(ValueError, match="non-negative"):
        batched.mean_var(x[:1], np.array([[0, -2]]))
    np.testing.assert_array_equal(batched.A_inv, online.A_inv)  # a refused update changed nothing
