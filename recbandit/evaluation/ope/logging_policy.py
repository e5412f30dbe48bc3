"""The logging policy's time-averaged action distribution, read from its own log's propensities."""

from __future__ import annotations

from typing import Any

import numpy as np

from recbandit._validation import check_choice, check_int
from recbandit.evaluation.ope._inputs import _as_1d, _check_int_array

MARGINAL_METHODS = ("harmonic", "frequency", "mean-propensity")


def logged_policy_marginal(
    actions: Any,
    pscore: Any,
    n_actions: int,
    positions: Any = None,
    n_positions: int = 1,
    method: str = "harmonic",
) -> np.ndarray:
    """float64[A, K]: the time-averaged action distribution of a logging policy, from its own log.

    A policy that changes over the log (e.g. a batch-updated Thompson sampler) puts action
    ``a`` at position ``k`` with probability ``pi_t(a, k)`` at round ``t``; its average over the
    log ``pbar(a, k) = mean_t pi_t(a, k)`` is what a context-free evaluation policy "like the
    logging policy" means. Estimates, each normalised to sum to 1 over actions at each position:

    - ``"harmonic"``: ``count(a, k) / sum_{t: (a_t, k_t) = (a, k)} 1 / pscore_t``. Consistent for
      ``pbar(a, k) / pbar(k)``: ``E[1 / pscore_t]`` over the rounds that show ``(a, k)`` is
      ``1 / pbar(a, k)`` (each round is reweighted by the inverse of its own probability);
      exact when the policy does not change.
    - ``"frequency"``: ``count(a, k) / count(k)``: unbiased, but ignores the logged propensities.
    - ``"mean-propensity"``: the mean logged ``pscore`` of ``(a, k)``. Biased towards actions
      whose probability varies: a round shows ``(a, k)`` more often when its probability is
      high, so this is ``E[pi^2] / E[pi]`` rather than ``E[pi]``. Kept for comparison.

    A pair never logged gets probability 0.

    Args:
        actions: int[n] logged actions.
        pscore: float[n] logged propensities in (0, 1].
        n_actions: A.
        positions: int[n] 0-based positions, or None (K = 1).
        n_positions: K.
        method: one of :data:`MARGINAL_METHODS`.
    """
    check_choice("method", method, MARGINAL_METHODS)
    n_actions = check_int("n_actions", n_actions, min_value=1)
    n_positions = check_int("n_positions", n_positions, min_value=1)
    ps = _as_1d("pscore", pscore, None)
    n = len(ps)
    if n == 0:
        raise ValueError("the log is empty")
    if ((ps <= 0) | (ps > 1)).any():
        i = int(((ps <= 0) | (ps > 1)).argmax())
        raise ValueError(f"pscore[{i}] = {ps[i]} is out of range: logged propensities must be in (0, 1]")
    act = _check_int_array("actions", actions, n, n_actions)
    pos = np.zeros(n, np.int64) if positions is None else _check_int_array("positions", positions, n, n_positions)
    cell = act * n_positions + pos
    size = n_actions * n_positions
    count = np.bincount(cell, minlength=size).reshape(n_actions, n_positions).astype(np.float64)
    if method == "frequency":
        est = count
    elif method == "harmonic":
        inv = np.bincount(cell, weights=1.0 / ps, minlength=size).reshape(n_actions, n_positions)
        est = np.divide(count, inv, out=np.zeros_like(count), where=inv > 0)
    else:
        total = np.bincount(cell, weights=ps, minlength=size).reshape(n_actions, n_positions)
        est = np.divide(total, count, out=np.zeros_like(count), where=count > 0)
    sums = est.sum(axis=0, keepdims=True)
    if (sums <= 0).any():
        k = int(np.argmax(sums[0] <= 0))
        raise ValueError(f"position {k} never appears in the log, so its distribution cannot be estimated")
    return est / sums
