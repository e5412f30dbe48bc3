"""Types shared by envs, agents and the runner, defined once.

Observations are dicts of arrays; in the batched form (what agents receive) every value
has a leading dimension B (users), and a single-user env's observation is the same dict
without it:

- ``user``: float32[B, d_u], each user's context;
- ``items``: float32[B, K, d_i], each candidate's context;
- ``item_ids``: int64[B, K], catalogue indices of the candidates (for per-item agents).

A step's ``info`` carries the keys named below, each with a leading dimension B in the
batched envs (none in a single-user env). Agents never read ``info``: it is the
evaluation's view of the ground truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np

#: An observation: ``user``, ``items``, ``item_ids`` (shapes above), plus env-specific keys.
Obs = Mapping[str, np.ndarray]

# Observation keys.
USER: Final = "user"
ITEMS: Final = "items"
ITEM_IDS: Final = "item_ids"

# Info keys of every env's step (per user of the batch).
EXPECTED_REWARDS: Final = "expected_rewards"  #: float64[B, K], every candidate's expected reward
EXPECTED_REWARD: Final = "expected_reward"  #: float64[B], the chosen candidate's
OPTIMAL_REWARD: Final = "optimal_reward"  #: float64[B], the best candidate's
OPTIMAL_ACTION: Final = "optimal_action"  #: int64[B], the best candidate's position
REGRET: Final = "regret"  #: float64[B], optimal minus chosen expected reward
REWARDS: Final = "rewards"  #: float64[B], the sampled rewards
INFO_ITEM_IDS: Final = "item_ids"  #: int64[B, K], the candidates' catalogue indices
USER_IDS: Final = "user_ids"  #: int64[B], the users' indices
COLD: Final = "cold"  #: bool[B, K], candidates within their cold window
# Info keys of the episodic (session) envs.
SESSION_IDS: Final = "session_ids"  #: int64[B], the session each decision belongs to
SESSION_STEP: Final = "session_step"  #: int64[B], the step within the session
TERMINATED: Final = "terminated"  #: bool[B], the user left after this step
TRUNCATED: Final = "truncated"  #: bool[B], the session hit its length cap
FINAL_OBS: Final = "final_obs"  #: Obs, the observation after the step of ended sessions

#: The info keys every env's step carries.
STEP_INFO_KEYS: Final = (
    EXPECTED_REWARDS,
    EXPECTED_REWARD,
    OPTIMAL_REWARD,
    OPTIMAL_ACTION,
    REGRET,
    REWARDS,
    INFO_ITEM_IDS,
    USER_IDS,
    COLD,
)


@dataclass(frozen=True)
class Decision:
    """What an agent chose for a batch.

    Attributes:
        actions: int64[B], candidate positions in ``[0, K)``.
        propensities: float64[B], probability with which the agent's policy picked each
            action given everything it knew (1.0 for a deterministic choice).
    """

    actions: np.ndarray
    propensities: np.ndarray
