"""Load any supported log folder: detect its format from its files, then call that loader.

``load(path_or_name, **kw)`` resolves a dataset name through
:func:`recbandit.data.fetch.find_dataset` (the path itself, ``$RECBANDIT_DATA/<name>``,
the user cache folder), picks the first format in :data:`FORMATS` whose files are there,
and passes ``kw`` to its loader. A folder that matches no format raises ``DataError``
listing what each format needs.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recbandit.data.fetch import find_dataset
from recbandit.data.logged import DataError, LoggedData


def _is_movielens_100k(folder: Path) -> bool:
    return all((folder / f).is_file() for f in ("u.data", "u.item", "u.user"))


def _is_movielens_csv(folder: Path) -> bool:
    return all((folder / f).is_file() for f in ("ratings.csv", "movies.csv"))


def _is_obd(folder: Path) -> bool:
    # A campaign folder (all/all.csv + item_context.csv), a policy folder (random/) or the root (random/, bts/).
    return (
        (folder / "item_context.csv").is_file()
        or any(folder.glob("*/item_context.csv"))
        or any(folder.glob("*/*/item_context.csv"))
    )


def _is_plain(folder: Path) -> bool:
    return (folder / "interactions.csv").is_file() and (folder / "items.csv").is_file()


@dataclass(frozen=True)
class Format:
    """A log format: how to recognise its folder and which function loads it.

    Attributes:
        name: the format's name (``LoggedData.meta["format"]`` of what it loads).
        needs: what a folder must contain, for error messages.
        matches: whether a folder has this format's files.
        loader: ``"module:function"``, imported only when used.
    """

    name: str
    needs: str
    matches: Callable[[Path], bool]
    loader: str


#: Known formats, in detection order.
FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "movielens-100k",
            "u.data, u.item and u.user (MovieLens 100K)",
            _is_movielens_100k,
            "recbandit.data.movielens:load_movielens",
        ),
        Format(
            "movielens-csv",
            "ratings.csv and movies.csv (MovieLens latest-small / 20M / 25M / 32M)",
            _is_movielens_csv,
            "recbandit.data.movielens:load_movielens",
        ),
        Format(
            "obd",
            "item_context.csv with its campaign log, e.g. random/all/all.csv (Open Bandit Dataset)",
            _is_obd,
            "recbandit.data.obd:load_obd",
        ),
        Format(
            "plain",
            "interactions.csv and items.csv, optionally users.csv (the plain format)",
            _is_plain,
            "recbandit.data.plain:load_plain",
        ),
    )
}


def detect_format(path: str | os.PathLike[str]) -> str | None:
    """The name of the first format in :data:`FORMATS` whose files ``path`` has, or None."""
    folder = Path(path)
    if not folder.is_dir():
        return None
    for fmt in FORMATS.values():
        if fmt.matches(folder):
            return fmt.name
    return None


def loader_for(fmt: str, folder: Path | None = None) -> Callable[..., LoggedData]:
    """The loader function of format ``fmt`` (imported now); ``DataError`` if its module is absent."""
    module_name, func_name = FORMATS[fmt].loader.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise DataError(
            folder or fmt,
            f"looks like the {fmt} format, but its loader {module_name}.{func_name} is not available "
            "in this installation of recbandit",
        ) from None
    return getattr(module, func_name)


def load(path: str | os.PathLike[str], **kw: Any) -> LoggedData:
    """Detect the format of a log folder (or find a dataset by name) and load it.

    Args:
        path: a folder, or a dataset name looked up as described in
            :func:`recbandit.data.fetch.find_dataset` (e.g. ``"movielens-100k"``).
        **kw: passed to the format's loader (e.g. ``rating_threshold=4.0`` for MovieLens).

    Returns:
        The loaded log.

    Raises:
        DataError: not found, not a folder, no known format, or a problem in a file.
        TypeError: a keyword the detected format's loader does not take.
    """
    folder = find_dataset(path)
    if not folder.is_dir():
        raise DataError(folder, "is a file; give the folder that holds the dataset's files")
    fmt = detect_format(folder)
    if fmt is None:
        needs = "; ".join(f"{f.name}: {f.needs}" for f in FORMATS.values())
        present = sorted(p.name for p in folder.iterdir())
        shown = ", ".join(present[:12]) + (", ..." if len(present) > 12 else "") if present else "nothing"
        hint = ""
        nested = [p.name for p in sorted(folder.iterdir()) if p.is_dir() and detect_format(p)]
        if nested:
            hint = f"; did you mean {folder / nested[0]}?"
        raise DataError(folder, f"no known log format here (found {shown}). Each format needs: {needs}{hint}")
    func = loader_for(fmt, folder)
    params = inspect.signature(func).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        accepted = [n for n in params if n != next(iter(params))]
        for key in kw:
            if key not in params:
                raise TypeError(
                    f"the {fmt} loader does not take {key!r}; it takes: {', '.join(accepted) or 'no options'}"
                )
    return func(folder, **kw)
