"""Gymnasium envs that simulate users; importing this registers the ``recbandit/...`` ids.

The logged-data envs and the fitted user models (``MovieLensBanditEnv``,
``OBDBanditEnv``, ``fit_logistic_mf``, ...) are imported on first use: they need pandas
and torch, which a plain ``import recbandit`` does not load.
"""

from importlib import import_module
from typing import Any

from recbandit.envs.bandit import BanditEnv
from recbandit.envs.batched import BatchedBanditEnv
from recbandit.envs.problem import BanditProblem
from recbandit.envs.registration import ENVS, make_env, register_envs
from recbandit.envs.user_models import LatentFactorUserModel, UserModel

register_envs()

#: Lazily imported names -> their module.
_LAZY = {
    "DatasetNotFoundError": "recbandit.data.fetch",
    "FittedUserModel": "recbandit.envs.fitted",
    "LogisticMFConfig": "recbandit.envs.fitted",
    "fit_logistic_mf": "recbandit.envs.fitted",
    "TruthConfig": "recbandit.envs.truth",
    "fit_truth": "recbandit.envs.truth",
    "LoggedBanditEnv": "recbandit.envs.logged",
    "LoggedBatchedEnv": "recbandit.envs.logged",
    "MovieLensBanditEnv": "recbandit.envs.movielens",
    "MovieLensBatchedEnv": "recbandit.envs.movielens",
    "MovieLens100KBanditEnv": "recbandit.envs.movielens",
    "MovieLens100KBatchedEnv": "recbandit.envs.movielens",
    "OBDBanditEnv": "recbandit.envs.obd",
    "OBDBatchedEnv": "recbandit.envs.obd",
    "SessionDynamics": "recbandit.envs.session",
    "SessionEnv": "recbandit.envs.session",
    "BatchedSessionEnv": "recbandit.envs.session",
    "SyntheticSessionEnv": "recbandit.envs.session",
    "SyntheticBatchedSessionEnv": "recbandit.envs.session",
    "MovieLens100KSessionEnv": "recbandit.envs.session",
    "MovieLens100KBatchedSessionEnv": "recbandit.envs.session",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'recbandit.envs' has no attribute {name!r}")


__all__ = [
    "ENVS",
    "BanditEnv",
    "BanditProblem",
    "BatchedBanditEnv",
    "BatchedSessionEnv",
    "DatasetNotFoundError",
    "FittedUserModel",
    "LatentFactorUserModel",
    "LoggedBanditEnv",
    "LoggedBatchedEnv",
    "LogisticMFConfig",
    "MovieLens100KBanditEnv",
    "MovieLens100KBatchedEnv",
    "MovieLens100KBatchedSessionEnv",
    "MovieLens100KSessionEnv",
    "MovieLensBanditEnv",
    "MovieLensBatchedEnv",
    "OBDBanditEnv",
    "OBDBatchedEnv",
    "SessionDynamics",
    "SessionEnv",
    "SyntheticBatchedSessionEnv",
    "SyntheticSessionEnv",
    "TruthConfig",
    "UserModel",
    "fit_logistic_mf",
    "fit_truth",
    "make_env",
    "register_envs",
]
