"""Session-v0 and SessionMovieLens100K-v0: a user stays for several steps, and what is shown changes them.

``SessionCore`` holds B sessions at once and steps them with numpy; ``SessionEnv`` is one
session per episode (Gymnasium's contract, for ``gym.make`` and SB3's ``learn``) and
``BatchedSessionEnv`` runs B sessions side by side, replacing each session that ends with
a new user inside ``step`` (so it never terminates, like the batched bandit env) and
reporting the ends per user in ``info``.

Layout: ``core`` (``SessionDynamics``, ``SessionCore`` and their helpers), ``env``
(``SessionEnv``, ``BatchedSessionEnv``) and ``datasets`` (the registered Session-v0 and
SessionMovieLens100K-v0 classes, which build the problem from a dataset).
"""

from recbandit.envs.session.core import SessionCore, SessionDynamics
from recbandit.envs.session.datasets import (
    MovieLens100KBatchedSessionEnv,
    MovieLens100KSessionEnv,
    SyntheticBatchedSessionEnv,
    SyntheticSessionEnv,
)
from recbandit.envs.session.env import BatchedSessionEnv, SessionEnv

__all__ = [
    "BatchedSessionEnv",
    "MovieLens100KBatchedSessionEnv",
    "MovieLens100KSessionEnv",
    "SessionCore",
    "SessionDynamics",
    "SessionEnv",
    "SyntheticBatchedSessionEnv",
    "SyntheticSessionEnv",
]
