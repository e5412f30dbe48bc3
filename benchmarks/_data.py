"""Where the benchmarks (and the tests) find the real data: the shared copies beside the checkout.

The library itself searches only ``$RECBANDIT_DATA/<name>`` and the user cache. When the
shared data folder exists (``$RECBANDIT_SHARED_DATA``, else ``<checkout>/../shared/data``),
``use_shared_data`` points ``RECBANDIT_DATA`` at a folder of links that gives each shared
copy its dataset name (``movielens-100k`` -> ``ml-100k``, ``obd-sample`` -> ``obd``), so the
registered envs find them by name, in this process and in the workers it starts.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RECBANDIT_SHARED_DATA") or ROOT.parent / "shared" / "data")
#: Dataset name (as ``recbandit data fetch`` knows it) -> folder in the shared data.
NAMES = {"movielens-100k": "ml-100k", "obd-sample": "obd", "the-movies-dataset": "the-movies-dataset"}


def use_shared_data(override: bool = False) -> Path | None:
    """Point ``RECBANDIT_DATA`` at links to the shared copies; return that folder (None if absent).

    An existing ``RECBANDIT_DATA`` is kept unless ``override`` (the tests override it, so
    that they read the shared copies whatever the user set).
    """
    if not SHARED.is_dir() or ("RECBANDIT_DATA" in os.environ and not override):
        return None
    farm = Path(tempfile.mkdtemp(prefix="recbandit-data-"))
    for name, folder in NAMES.items():
        if (SHARED / folder).is_dir():
            (farm / name).symlink_to(SHARED / folder, target_is_directory=True)
    os.environ["RECBANDIT_DATA"] = str(farm)
    return farm
