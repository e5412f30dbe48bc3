"""Each registered env's default configuration, read without building the env or its data.

A result record stores it (``env_defaults``) beside the explicit ``env_kwargs``; a resumed
sweep redoes a finished run whose env defaults have changed since, as it does for an
agent's resolved parameters (``evaluation.runner.finished``). Paths are left out: the same
run on another machine reads its data from another folder.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from recbandit._validation import check_choice


def _jsonable(config: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(config, default=str))
    out.pop("path", None)
    return out


def _synthetic(**overrides: Any) -> dict[str, Any]:
    from recbandit.envs.synthetic import config_dict, make_config

    return _jsonable(config_dict(make_config(**overrides)))


def _movielens(env_name: str) -> dict[str, Any]:
    from recbandit.envs.movielens import config_dict, make_config

    return _jsonable(config_dict(make_config(".", env_name=env_name)))


def _obd() -> dict[str, Any]:
    from recbandit.envs.obd import config_dict, make_config

    return _jsonable(config_dict(make_config(".")))


def _dynamics() -> dict[str, Any]:
    from recbandit.envs.session.core import SessionDynamics

    return _jsonable(asdict(SessionDynamics()))


def env_defaults(env_id: str) -> dict[str, Any]:
    """JSON-ready default configuration of a registered env id (ValueError for an unknown id)."""
    from recbandit.envs.registration import ENVS

    check_choice("env", env_id, ENVS)
    if env_id == "recbandit/Synthetic-v0":
        return _synthetic()
    if env_id in ("recbandit/MovieLens-v0", "recbandit/MovieLens100K-v0"):
        return _movielens(env_id.split("/")[1])
    if env_id == "recbandit/OBD-v0":
        return _obd()
    if env_id == "recbandit/Logged-v0":
        return {"movielens_format": _movielens("Logged-v0"), "obd_format": _obd()}
    if env_id == "recbandit/Session-v0":
        from recbandit.envs.session.datasets import SESSION_SYNTHETIC_DEFAULTS

        return {"env": _synthetic(**SESSION_SYNTHETIC_DEFAULTS), "dynamics": _dynamics()}
    if env_id == "recbandit/SessionMovieLens100K-v0":
        return {"env": _movielens("SessionMovieLens100K-v0"), "dynamics": _dynamics()}
    raise ValueError(f"no default configuration is known for env {env_id!r}")  # a new id must be added here
