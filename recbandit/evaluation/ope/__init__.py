"""Off-policy estimators: the value of an evaluation policy from a log of another policy.

Every estimator is a stateless function of logged numpy arrays (n logged rounds,
A actions, K positions):

- ``rewards`` float[n]: the logged rewards ``r_i``;
- ``actions`` int[n]: the logged actions ``a_i`` in ``[0, A)``;
- ``pscore`` float[n]: the logging policy's probability of ``a_i`` (at ``k_i``), in (0, 1];
- ``action_dist`` float[n, A] or float[n, A, K]: the evaluation policy's probabilities
  ``pi_e(a | x_i, k)``; for each round (and position) they sum to 1. A policy that does not
  depend on the round may be passed as ``np.broadcast_to(p, (n, A, K))`` (no copy);
- ``positions`` int[n] (only with a 3-d ``action_dist``): the 0-based slot ``k_i`` where
  ``a_i`` was shown (OBD's 1-based ``position`` minus 1);
- ``estimated_rewards`` float[n, A(, K)] (DM, DR, Switch-DR, DRos): a reward model
  ``q(x_i, a, k)``, e.g. from :func:`fit_reward_model` (cross-fitted).

With ``w_i = pi_e(a_i | x_i, k_i) / pscore_i`` and ``q_pi(x_i) = sum_a pi_e(a | x_i, k_i)
q(x_i, a, k_i)``, the estimators (each the mean over rounds unless said otherwise) are:

========== ============================================================== =====================
name       per-round value                                                reference
========== ============================================================== =====================
replay     mean of ``r_i`` over rounds where ``pi_e`` picks ``a_i``       Li et al., WSDM 2011
           (a random ``pi_e``'s action is drawn with ``rng``)
ips        ``w_i r_i``                                                    Horvitz & Thompson 1952
snips      ``sum w_i r_i / sum w_i``                                      Swaminathan & Joachims 2015
dm         ``q_pi(x_i)``                                                  Beygelzimer & Langford 2009
dr         ``q_pi(x_i) + w_i (r_i - q(x_i, a_i, k_i))``                   Dudik et al., ICML 2011
switch-dr  DR where ``w_i <= tau``, DM elsewhere                          Wang et al., ICML 2017
dr-os      DR with ``w_i`` shrunk to ``lambda w_i / (w_i^2 + lambda)``    Su et al., ICML 2020
========== ============================================================== =====================

Switch-DR and DRos take their hyper-parameter (``tau``, ``lambda_``); left ``None``, it is
chosen from :data:`SLOPE_CANDIDATES` by SLOPE (Su, Srinath and Krishnamurthy, ICML 2020,
in the form of Tucker and Lee 2021 that Open Bandit Pipeline uses): candidates are taken
from the widest confidence interval to the narrowest while every estimate stays within
the intervals of those before it. :func:`bootstrap_ci` gives a percentile bootstrap
interval of any estimator with an explicit ``np.random.Generator``.

Layout: ``estimators`` (the public estimators, ``estimate``, ``bootstrap_ci``), ``registry``
(the statistic of each estimator, :data:`ESTIMATORS`, :func:`slope`), ``_inputs`` (validation
of the logged arrays), ``reward_model`` (:func:`fit_reward_model`; torch is imported only when
a model is fitted), ``logging_policy`` (:func:`logged_policy_marginal`), ``log_arrays``
(:func:`logged_arrays`, :func:`run_log_arrays`). Everything public is re-exported here.
"""

from recbandit.evaluation.ope.estimators import (
    Interval,
    bootstrap_ci,
    dm,
    dr,
    dr_os,
    estimate,
    ips,
    replay,
    snips,
    switch_dr,
    tuned_hyper,
)
from recbandit.evaluation.ope.log_arrays import logged_arrays, run_log_arrays
from recbandit.evaluation.ope.logging_policy import MARGINAL_METHODS, logged_policy_marginal
from recbandit.evaluation.ope.registry import ESTIMATORS, SLOPE_CANDIDATES, Estimator, slope
from recbandit.evaluation.ope.reward_model import FIT_L2, RewardModel, fit_logistic, fit_reward_model

__all__ = [
    "ESTIMATORS",
    "FIT_L2",
    "MARGINAL_METHODS",
    "SLOPE_CANDIDATES",
    "Estimator",
    "Interval",
    "RewardModel",
    "bootstrap_ci",
    "dm",
    "dr",
    "dr_os",
    "estimate",
    "fit_logistic",
    "fit_reward_model",
    "ips",
    "logged_arrays",
    "logged_policy_marginal",
    "replay",
    "run_log_arrays",
    "slope",
    "snips",
    "switch_dr",
    "tuned_hyper",
]
