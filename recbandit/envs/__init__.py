"""Gymnasium envs that simulate users; importing this registers the ``recbandit/...`` ids."""

from recbandit.envs.bandit import BanditEnv
from recbandit.envs.batched import BatchedBanditEnv
from recbandit.envs.problem import BanditProblem
from recbandit.envs.registration import ENVS, make_env, register_envs
from recbandit.envs.user_models import LatentFactorUserModel, UserModel

register_envs()

__all__ = [
    "ENVS",
    "BanditEnv",
    "BanditProblem",
    "BatchedBanditEnv",
    "LatentFactorUserModel",
    "UserModel",
    "make_env",
    "register_envs",
]
