"""Propensities of Thompson sampling: the probability that the chosen candidate's draw wins.

A Thompson-sampling agent draws one score per candidate and picks the argmax, so the
propensity of the chosen candidate ``a`` is ``p_a = P(S_a > S_j for every j != a)``.

**Independent scores** (``ts``: ``S_k ~ Beta(a_k, b_k)``; ``lints-disjoint``, ``neural-ts``:
``S_k ~ N(mu_k, s_k^2)``) give the one-dimensional integral

    p_a = integral of f_a(x) * prod_{j != a} F_j(x) dx

(:func:`gaussian_choice_probability`, :func:`beta_choice_probability`), computed by
quadrature vectorised over the batch (no Python loop per user). Gaussian scores are
integrated over x, Beta scores over ``y = logit(x)``; in both the integrand is
log-concave (for every ``a, b > 0``, priors below 1 included) and smooth.

- Range: from where the product of all K CDFs falls to ``eps = Phi(-8.5) ~ 1e-17`` (a
  lower quantile, moved right by Newton steps on the concave log of the product) to the
  chosen score's upper ``eps``-quantile, or, for Gaussians, to where every other CDF is
  above ``1 - eps`` (the rest is the chosen score's survival, in closed form). Mass left
  out: below ``3 eps`` in all.
- Competitors whose CDF is above ``1 - 1e-12`` over the whole range are left out of the
  product.
- One probe over the range (Clenshaw–Curtis on 65 points for Gaussians, Gauss–Kronrod
  (7, 15) for Beta scores) settles a user when it agrees with its embedded lower-order
  rule to ``RTOL`` (1e-5) of the integral, an estimate far above the error of the rule
  itself on smooth integrands. Otherwise the range is cut around the bulk the probe shows
  (mode and width of the log integrand's top) and refined by adaptive Gauss–Kronrod: a
  panel is accepted when ``|K15 - G7| <= RTOL * p * width / range``, else halved, until
  the user's budget of integrand evaluations (``max_evals``) is spent.
- A steep rise hidden between a panel's end and its first node (a narrow competitor's CDF
  at the left end) is caught by checking that the log integrand is straight there (it is
  concave), and counted as error.

Measured against ``scipy.integrate.quad`` at ``epsrel=1e-12`` on random cases with scales
from 1e-4 to 1 side by side, rare choices included (``tests/test_propensities.py`` checks
closed forms, sums over candidates and 10^6-draw Monte Carlo), the relative error stays
at about ``RTOL`` or below. A chosen score with zero variance (a point mass, e.g.
``v = 0``) gets the closed form ``prod_j P(S_j < mu_a)``, ties among point masses
resolved as ``argmax`` does (the first index wins).

**Correlated scores** (``lints-shared``: one ``theta~`` per user, so the scores are jointly
Gaussian) have no one-dimensional form; :func:`geometric_resampling` (Neu and Bartók,
ALT 2013) draws further scores until the chosen candidate wins again. The number of draws
N is geometric with mean ``1 / p_a``, so logging ``1 / N`` makes IPS weights unbiased;
capping N at ``cap`` scales ``E[N]`` by ``1 - (1 - p_a)^cap``, and the expected number of
draws per decision is at most the number of candidates K (``sum_a p_a / p_a``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from scipy import special

from recbandit._validation import check_int

#: Target relative error of the quadrature (per user, unless its evaluation budget runs out).
RTOL = 1e-5
#: Range cut: the ``Phi(-TAIL)`` quantiles (``mean +- TAIL * sd`` for a Gaussian).
TAIL = 8.5
_EPS = float(special.ndtr(-TAIL))
_LOG_EPS = float(np.log(_EPS))
#: A competitor whose CDF exceeds ``1 - _SKIP`` on the whole range is left out.
_SKIP = 1e-12
#: Newton steps that move the left end of the range to where the integrand starts.
_NEWTON = 3
#: Cuts around the bulk, in standard deviations of the log integrand's top from its mode.
_BULK_CUTS = np.array([-6.0, -3.0, 0.0, 3.0, 6.0])
_TINY = np.finfo(np.float64).tiny

LogDensity = Callable[[np.ndarray, np.ndarray], np.ndarray]


class _Rule(NamedTuple):
    """A quadrature rule on [-1, 1] with an embedded lower-order one, over the same points.

    Attributes:
        x: float64[m], the points, both ends included.
        w: float64[m], the weights of the rule.
        w_low: float64[m], the weights of the embedded rule (0 off its points).
        ends: int[3, 2], per end: the column of the end, of the point next to it, and of
            the next one (for :func:`_hidden_rise`).
        gap: distance from an end to the point next to it.
        ratio: ``gap`` over the distance between the next two points.
    """

    x: np.ndarray
    w: np.ndarray
    w_low: np.ndarray
    ends: np.ndarray
    gap: float
    ratio: float


def _gauss_kronrod() -> _Rule:
    """Gauss–Kronrod (7, 15) (QUADPACK qk15), with the ends as two more points of weight 0."""
    half_x = np.array(
        [
            0.991455371120812639206854697526329,
            0.949107912342758524526189684047851,
            0.864864423359769072789712788640926,
            0.741531185599394439863864773280788,
            0.586087235467691130294144845693013,
            0.405845151377397166906606412076961,
            0.207784955007898467600689403773245,
            0.0,
        ]
    )
    half_w = np.array(
        [
            0.022935322010529224963732008058970,
            0.063092092629978553290700663189204,
            0.104790010322250183839876322541518,
            0.140653259715525918745189590510238,
            0.169004726639267902826583426598550,
            0.190350578064785409913256402421014,
            0.204432940075298892414161999234649,
            0.209482141084727828012999174891714,
        ]
    )
    x = np.concatenate([[-1.0], -half_x[:-1], half_x[::-1], [1.0]])
    w = np.concatenate([[0.0], half_w[:-1], half_w[::-1], [0.0]])
    w_low = np.zeros(17)
    w_low[2:16:2] = np.polynomial.legendre.leggauss(7)[1]  # the Gauss nodes are every other Kronrod node
    gap = 1.0 - half_x[0]
    return _Rule(x, w, w_low, np.array([[0, 16], [1, 15], [2, 14]]), gap, gap / (half_x[0] - half_x[1]))


def _clenshaw_curtis(n: int) -> _Rule:
    """Clenshaw–Curtis on the n + 1 points ``cos(j pi / n)`` (n a multiple of 4), embedding it on every other point."""

    def weights(m: int) -> np.ndarray:
        j, k = np.arange(m + 1), np.arange(1, m // 2 + 1)
        b = np.where(k == m // 2, 1.0, 2.0)
        c = np.where((j == 0) | (j == m), 1.0, 2.0)
        return c / m * (1.0 - (b / (4.0 * k * k - 1.0) * np.cos(2.0 * np.outer(j, k) * np.pi / m)).sum(axis=1))

    x = np.cos(np.arange(n + 1) * np.pi / n)
    w_low = np.zeros(n + 1)
    w_low[::2] = weights(n // 2)
    gap = 1.0 - x[1]
    return _Rule(x, weights(n), w_low, np.array([[0, n], [1, n - 1], [2, n - 2]]), gap, gap / (x[1] - x[2]))


_GK = _gauss_kronrod()
_CC = _clenshaw_curtis(64)

#: Default budget of integrand evaluations per decision (``propensity_samples`` of the agents).
PROPENSITY_EVALS = 1020


def check_evals(name: str, value: Any) -> int:
    """Return a quadrature budget: 0 (no propensities) or at least the largest probe (65 evaluations)."""
    value = check_int(name, value, min_value=0)
    if 0 < value < len(_CC.x):
        raise ValueError(
            f"{name} must be 0 (no propensities) or an integer >= {len(_CC.x)} (the first quadrature pass), got {value}"
        )
    return value


def _panels(
    rule: _Rule, row: np.ndarray, a: np.ndarray, b: np.ndarray, log_h: LogDensity
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``rule`` on the panels [a, b] (float64[P]) of rows ``row``: points, log integrand, integral, error estimate."""
    half = 0.5 * (b - a)
    x = (a + half)[:, None] + half[:, None] * rule.x
    log_v = log_h(row, x)
    h = np.exp(log_v)
    mean = h @ rule.w
    return x, log_v, half * mean, half * (np.abs(mean - h @ rule.w_low) + _hidden_rise(log_v, h, rule))


def _hidden_rise(log_v: np.ndarray, h: np.ndarray, rule: _Rule) -> np.ndarray:
    """Error float64[P], per half-width, for a steep rise that may hide next to a panel's ends.

    A rise between an end and the point next to it (a narrow competitor's CDF near the left
    end) is invisible to the rules. The log integrand is concave, so near an end it follows
    the line through the two points next to it unless something changes there: an end more
    than a factor e off that line counts the larger of the two values over the whole gap.
    """
    end, nxt, nxt2 = log_v[:, rule.ends[0]], log_v[:, rule.ends[1]], log_v[:, rule.ends[2]]
    off = np.abs(end - (1.0 + rule.ratio) * nxt + rule.ratio * nxt2)
    return rule.gap * np.where(off > 1.0, np.maximum(h[:, rule.ends[0]], h[:, rule.ends[1]]), 0.0).sum(axis=1)


def integrate(lo: np.ndarray, hi: np.ndarray, log_h: LogDensity, max_evals: int, probe: _Rule = _GK) -> np.ndarray:
    """Integrals of ``exp(log_h)`` over ``[lo_i, hi_i]``, all rows at once (see the module docstring).

    Call it under ``np.errstate(all="ignore")``.

    Args:
        lo: float64[n], lower bounds.
        hi: float64[n], upper bounds (``>= lo``).
        log_h: ``log_h(rows int64[P], x float64[P, m]) -> float64[P, m]``, the log integrand
            of row ``rows[i]`` at the points ``x[i]`` (``-inf`` for 0).
        max_evals: at most this many evaluations of the integrand per row: the probe's
            points, then 17 per Gauss–Kronrod panel.
        probe: the rule tried first on each whole range.

    Returns:
        float64[n].
    """
    n = len(lo)
    x, log_v, total, err = _panels(probe, np.arange(n), lo, hi, log_h)
    redo = np.nonzero(err > RTOL * total)[0]
    max_panels = (max_evals - len(probe.x)) // len(_GK.x)
    parts = len(_BULK_CUTS) + 1
    if redo.size and max_panels >= parts:
        cuts = _bulk(x[redo], log_v[redo], lo[redo], hi[redo])
        edges = np.concatenate([lo[redo, None], cuts, hi[redo, None]], axis=1)
        keep = (edges[:, 1:] > edges[:, :-1]).ravel()
        row = np.repeat(np.arange(redo.size), parts)[keep]
        a, b = edges[:, :-1].ravel()[keep], edges[:, 1:].ravel()[keep]
        total[redo] = _refine(row, a, b, lo[redo], hi[redo], lambda r, xs: log_h(redo[r], xs), max_panels)
    return total


def _refine(
    row: np.ndarray, a: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray, log_h: LogDensity, max_panels: int
) -> np.ndarray:
    """Adaptive Gauss–Kronrod (7, 15) from the panels ``[a, b]`` of rows ``row`` (each float64[P]).

    A panel is accepted once its error estimate is at most ``RTOL * estimate * width /
    range`` (``lo``, ``hi``: float64[n], each row's range), or when halving it would take its
    row past ``max_panels`` evaluated panels; otherwise it is halved.
    """
    n = len(lo)
    total = np.zeros(n)
    tol = RTOL / np.maximum(hi - lo, _TINY)
    evaluated = np.bincount(row, minlength=n)
    while row.size:
        _, _, value, err = _panels(_GK, row, a, b, log_h)
        estimate = total + np.bincount(row, value, minlength=n)
        split = err > (estimate * tol)[row] * (b - a)
        split &= (evaluated + 2 * np.bincount(row[split], minlength=n) <= max_panels)[row]
        total += np.bincount(row[~split], value[~split], minlength=n)
        mid = 0.5 * (a + b)[split]
        row, a, b = np.repeat(row[split], 2), np.stack([a[split], mid], 1).ravel(), np.stack([mid, b[split]], 1).ravel()
        evaluated += np.bincount(row, minlength=n)
    return total


def _bulk(x: np.ndarray, log_v: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cuts float64[P, 5] in [a, b] at ``c + _BULK_CUTS * sd`` of the parabola through the log integrand's top.

    x, log_v: float64[P, m], points of the ranges [a, b] and the log integrand there. The
    parabola through the highest point and its neighbours gives the mode c and the
    curvature ``1 / sd^2`` (exact for a Gaussian integrand); where it has none (no
    curvature, zeros), every cut is the midpoint (a plain halving).
    """
    rows = np.arange(len(x))
    i = np.clip(np.argmax(log_v, axis=1), 1, x.shape[1] - 2)
    x0, x1, x2 = x[rows, i - 1], x[rows, i], x[rows, i + 1]
    f0, f1, f2 = log_v[rows, i - 1], log_v[rows, i], log_v[rows, i + 1]
    d1, d2 = (f1 - f0) / (x1 - x0), (f2 - f1) / (x2 - x1)
    curv = 2.0 * (d1 - d2) / (x2 - x0)
    centre = x1 + (d1 * (x2 - x1) + d2 * (x1 - x0)) / (x2 - x0) / curv
    cuts = centre[:, None] + _BULK_CUTS / np.sqrt(curv)[:, None]
    ok = np.isfinite(cuts[:, 0]) & np.isfinite(cuts[:, -1]) & (curv > 0)
    cuts = np.where(ok[:, None], np.clip(cuts, a[:, None], b[:, None]), 0.5 * (a + b)[:, None])
    return np.maximum.accumulate(cuts, axis=1)


class _Family:
    """Log density and log CDF of one family of scores, elementwise over parameters (p1, p2) and points x."""

    probe: _Rule = _GK

    def log_pdf(self, p1: np.ndarray, p2: np.ndarray, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def log_cdf(self, p1: np.ndarray, p2: np.ndarray, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def log_cdf_fast(self, p1: np.ndarray, p2: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``log_cdf`` for the integrand, where values below ``exp(-708)`` may read as that."""
        return self.log_cdf(p1, p2, x)


class _Gaussian(_Family):
    """``N(p1, p2^2)`` on x (p2 > 0)."""

    probe = _CC  # Gaussian integrands: one 65-point rule settles most users

    def log_pdf(self, p1: np.ndarray, p2: np.ndarray, x: np.ndarray) -> np.ndarray:
        z = (x - p1) / p2
        return -0.5 * z * z - np.log(p2 * np.sqrt(2.0 * np.pi))

    def log_cdf(self, p1: np.ndarray, p2: np.ndarray, x: np.ndarray) -> np.ndarray:
        return special.log_ndtr((x - p1) / p2)

    def log_cdf_fast(self, p1: np.ndarray, p2: np.ndarray, x: np.ndarray) -> np.ndarray:
        # ndtr is exact relative to its value in the lower tail, so its log is too (floored)
        return np.log(np.maximum(special.ndtr((x - p1) / p2), _TINY))


class _LogitBeta(_Family):
    """``logit`` of a ``Beta(p1, p2)`` score, on y = logit(x): density ``expit(y)^p1 expit(-y)^p2 / B(p1, p2)``."""

    def log_pdf(self, p1: np.ndarray, p2: np.ndarray, x: np.ndarray) -> np.ndarray:
        return p1 * special.log_expit(x) + p2 * special.log_expit(-x) - special.betaln(p1, p2)

    def log_cdf(self, p1: np.ndarray, p2: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.log(special.betainc(p1, p2, special.expit(x)))


_GAUSSIAN = _Gaussian()
_LOGIT_BETA = _LogitBeta()


def _choice_probability(
    family: _Family,
    p1: np.ndarray,
    p2: np.ndarray,
    actions: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    cut: np.ndarray,
    max_evals: int,
) -> np.ndarray:
    """The integral of the module docstring for scores of ``family``.

    Args:
        family: the scores' family.
        p1: float64[n, K], first parameter of every candidate's score.
        p2: float64[n, K], second parameter.
        actions: int64[n], the chosen candidates.
        lo: float64[n], points where the product of all K CDFs is at most ``_EPS``; Newton
            steps move them right while they stay below the root (the log of the product is
            concave, so its tangents lie above it).
        hi: float64[n], points where the chosen score's survival is at most ``_EPS``.
        cut: float64[n], points where every other CDF is at least ``1 - _EPS`` (``+inf`` if
            unknown); from there on the integral is the chosen score's survival.
        max_evals: integrand evaluations allowed per row.
    """
    n = len(actions)
    rows = np.arange(n)
    for step in range(_NEWTON + 1):
        log_f = family.log_cdf(p1, p2, lo[:, None])  # [n, K]
        if step == _NEWTON:
            break
        slope = np.exp(family.log_pdf(p1, p2, lo[:, None]) - log_f).sum(axis=1)
        move = (_LOG_EPS - log_f.sum(axis=1)) / slope
        lo = np.where(move > 0, lo + move, lo)  # False for NaN (a CDF that underflowed)
    a1, a2 = p1[rows, actions], p2[rows, actions]
    tail = np.zeros(n)
    beyond = cut < hi
    if beyond.any():  # the chosen score's survival past the cut: 1 - its CDF there
        tail[beyond] = -np.expm1(family.log_cdf(a1[beyond], a2[beyond], cut[beyond]))
        hi = np.where(beyond, cut, hi)
    hi = np.maximum(hi, lo)
    # a competitor whose CDF is above 1 - _SKIP at lo changes the product by less than _SKIP
    relevant = _others(p1.shape, actions) & (log_f < -_SKIP)
    counts = relevant.sum(axis=1)
    offsets = np.cumsum(counts) - counts
    prow, pcol = np.nonzero(relevant)
    c1, c2 = p1[prow, pcol][:, None], p2[prow, pcol][:, None]

    def log_h(r: np.ndarray, x: np.ndarray) -> np.ndarray:
        # sum of log F_j(x) over the relevant competitors j of each panel's row, as a ragged sum
        cnt = counts[r]
        owner = np.repeat(np.arange(len(r)), cnt)
        pair = np.repeat(offsets[r] - (np.cumsum(cnt) - cnt), cnt) + np.arange(owner.size)
        log_g = family.log_cdf_fast(c1[pair], c2[pair], x[owner])
        flat = (owner[:, None] * x.shape[1] + np.arange(x.shape[1])).ravel()
        log_g = np.bincount(flat, log_g.ravel(), minlength=x.size).reshape(x.shape)
        return family.log_pdf(a1[r, None], a2[r, None], x) + log_g

    return integrate(lo, hi, log_h, max_evals, family.probe) + tail


def _others(shape: tuple[int, ...], actions: np.ndarray) -> np.ndarray:
    """bool[n, K]: every candidate but the chosen one."""
    mask = np.ones(shape, bool)
    mask[np.arange(shape[0]), actions] = False
    return mask


def gaussian_choice_probability(mean: np.ndarray, std: np.ndarray, actions: np.ndarray, max_evals: int) -> np.ndarray:
    """``P(argmax_k S_k = a)`` for independent ``S_k ~ N(mean_k, std_k^2)`` (see the module docstring).

    Args:
        mean: float64[B, K], the scores' means.
        std: float64[B, K], their standard deviations, >= 0 (0: a point mass).
        actions: int64[B], the chosen candidates ``a``.
        max_evals: integrand evaluations allowed per user (>= 65).

    Returns:
        float64[B] in (0, 1].
    """
    mean, std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
    rows = np.arange(len(actions))
    out = np.empty(len(actions))
    with np.errstate(all="ignore"):
        point = ~(std[rows, actions] > 0)
        live = rows
        if point.any():
            out[point] = _point_mass(mean[point], std[point], actions[point])
            live = np.nonzero(~point)[0]
            mean, std = mean[live], std[live]
        if live.size:
            act = actions[live]
            mu, sd = mean[rows[: len(live)], act], std[rows[: len(live)], act]
            others = _others(mean.shape, act)
            spread = std > 0
            # a competitor with no variance is a step: the chosen score must pass it ...
            floor = np.where(others & ~spread, mean, -np.inf).max(axis=1)
            lo = np.maximum(mu - TAIL * sd, floor)
            cut = np.maximum(np.where(others & spread, mean + TAIL * std, -np.inf).max(axis=1), floor)
            # ... and, passed at lo, it leaves the product (as a CDF of 1 from there on)
            mean = np.where(spread, mean, -np.inf)
            std = np.where(spread, std, 1.0)
            out[live] = _choice_probability(_GAUSSIAN, mean, std, act, lo, mu + TAIL * sd, cut, max_evals)
    return np.clip(out, _TINY, 1.0)


def _point_mass(mean: np.ndarray, std: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """Choice probability of a chosen score with no variance: ``prod_j P(S_j < mu_a)``, ties as ``argmax``."""
    b, k = mean.shape
    rows = np.arange(b)
    mu = mean[rows, actions][:, None]
    below = special.ndtr((mu - mean) / std)
    later = np.arange(k)[None, :] > actions[:, None]  # argmax keeps the first of equal scores
    point = np.where((mean < mu) | ((mean == mu) & later), 1.0, 0.0)
    factor = np.where(std > 0, below, point)
    factor[rows, actions] = 1.0
    return factor.prod(axis=1)


def beta_choice_probability(alpha: np.ndarray, beta: np.ndarray, actions: np.ndarray, max_evals: int) -> np.ndarray:
    """``P(argmax_k S_k = a)`` for independent ``S_k ~ Beta(alpha_k, beta_k)`` (see the module docstring).

    Integrated over ``y = logit(x)``; the range starts at the larger of the lower ``_EPS``
    quantiles of the chosen score and of the competitor whose quantile a logit-normal
    guess puts highest (both exact; any competitor's would do), and ends at the chosen
    score's upper one.

    Args:
        alpha: float64[B, K], first Beta parameters, > 0.
        beta: float64[B, K], second Beta parameters, > 0.
        actions: int64[B], the chosen candidates.
        max_evals: integrand evaluations allowed per user (>= 65).

    Returns:
        float64[B] in (0, 1].
    """
    alpha, beta = np.asarray(alpha, np.float64), np.asarray(beta, np.float64)
    rows = np.arange(len(actions))
    a_a, b_a = alpha[rows, actions], beta[rows, actions]
    with np.errstate(all="ignore"):
        guess = np.log(alpha / beta) - TAIL * np.sqrt(1.0 / alpha + 1.0 / beta)  # logit-normal, large a, b
        top = np.where(_others(alpha.shape, actions), guess, -np.inf).argmax(axis=1)
        lower = special.betaincinv(np.stack([a_a, alpha[rows, top]]), np.stack([b_a, beta[rows, top]]), _EPS)
        lo = special.logit(lower).max(axis=0)
        hi = -special.logit(special.betaincinv(b_a, a_a, _EPS))
        cut = np.full(len(actions), np.inf)
        out = _choice_probability(_LOGIT_BETA, alpha, beta, actions, lo, hi, cut, max_evals)
    return np.clip(out, _TINY, 1.0)


#: Default cap on the further posterior draws of a geometric-resampling propensity
#: (``lints-shared``, ``neural-linear``): the bias is below ``e^-10`` for every choice with
#: probability at least ``10 / RESAMPLING_CAP``.
RESAMPLING_CAP = 100_000


def geometric_resampling(
    draw: Callable[[np.ndarray, int], np.ndarray], actions: np.ndarray, k: int, cap: int, max_floats: int = 1 << 20
) -> np.ndarray:
    """``1 / N`` per user, N the number of further score draws until ``actions`` wins again (at most ``cap``).

    Neu and Bartók, "An Efficient Algorithm for Learning with Semi-Bandit Feedback", ALT
    2013: ``E[N] = 1 / p`` for a choice of probability p (``1 - (1 - p)^cap`` of it once
    capped), so IPS weights ``N`` are unbiased up to that factor. Draws come in chunks
    (8, 16, 32, ... per user, at most ``max_floats`` scores at once) for the users still
    waiting; ties go to the first maximiser, as in the choice itself.

    Args:
        draw: ``draw(rows int64[n], m) -> float64[m, n, K]``, m further posterior draws of the
            scores of users ``rows``.
        actions: int64[B], the chosen candidates.
        k: candidates per user K.
        cap: the most draws per user (>= 1).
        max_floats: memory bound of one chunk.

    Returns:
        float64[B] in [1 / cap, 1].
    """
    count = np.full(len(actions), cap, np.int64)
    waiting = np.arange(len(actions))
    drawn, chunk = 0, 8
    while waiting.size and drawn < cap:
        m = min(chunk, cap - drawn, max(1, max_floats // (waiting.size * k)))
        wins = draw(waiting, m).argmax(axis=2) == actions[waiting]
        won = wins.any(axis=0)
        count[waiting[won]] = drawn + wins[:, won].argmax(axis=0) + 1
        waiting = waiting[~won]
        drawn += m
        chunk *= 2
    return 1.0 / count
