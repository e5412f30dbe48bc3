"""Env ids: Gymnasium registration plus the batched counterpart of each id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym

from recbandit._validation import check_choice, check_int

#: env id -> (single-user entry point, batched entry point), as "module:attr" strings.
ENVS: dict[str, tuple[str, str]] = {
    "recbandit/Synthetic-v0": (
        "recbandit.envs.synthetic:SyntheticBanditEnv",
        "recbandit.envs.synthetic:SyntheticBatchedEnv",
    ),
    "recbandit/MovieLens-v0": (
        "recbandit.envs.movielens:MovieLensBanditEnv",
        "recbandit.envs.movielens:MovieLensBatchedEnv",
    ),
    "recbandit/MovieLens100K-v0": (
        "recbandit.envs.movielens:MovieLens100KBanditEnv",
        "recbandit.envs.movielens:MovieLens100KBatchedEnv",
    ),
    "recbandit/OBD-v0": (
        "recbandit.envs.obd:OBDBanditEnv",
        "recbandit.envs.obd:OBDBatchedEnv",
    ),
    "recbandit/Logged-v0": (
        "recbandit.envs.logged:LoggedBanditEnv",
        "recbandit.envs.logged:LoggedBatchedEnv",
    ),
    "recbandit/Session-v0": (
        "recbandit.envs.session:SyntheticSessionEnv",
        "recbandit.envs.session:SyntheticBatchedSessionEnv",
    ),
    "recbandit/SessionMovieLens100K-v0": (
        "recbandit.envs.session:MovieLens100KSessionEnv",
        "recbandit.envs.session:MovieLens100KBatchedSessionEnv",
    ),
}


def register_envs() -> None:
    """Register every id of ``ENVS`` with Gymnasium (idempotent)."""
    for env_id, (entry_point, _) in ENVS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point)


def _load(entry_point: str) -> Callable[..., gym.Env]:
    module, attr = entry_point.split(":")
    return getattr(__import__(module, fromlist=[attr]), attr)


def make_env(env_id: str, batch_size: int | None = None, **kwargs: Any) -> gym.Env:
    """Create an env by id: single-user when ``batch_size`` is None, else the batched env.

    Args:
        env_id: one of ``ENVS`` (e.g. ``"recbandit/Synthetic-v0"``).
        batch_size: users per step B, or None for the plain ``gymnasium.make`` env.
        **kwargs: env arguments.

    Raises:
        ValueError: unknown id, bad batch size or bad env arguments.
    """
    check_choice("env", env_id, ENVS)
    if batch_size is None:
        register_envs()
        return gym.make(env_id, disable_env_checker=True, **kwargs).unwrapped
    check_int("batch_size", batch_size, min_value=1, max_value=65536)
    return _load(ENVS[env_id][1])(batch_size=batch_size, **kwargs)
