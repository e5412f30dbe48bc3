"""Test-session set-up: the registered logged-data envs find the shared data copies by name.

Tests that need real data skip with a reason when ``../shared/data`` is absent; everything
else runs on the embedded synthetic default.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _data import use_shared_data  # noqa: E402

use_shared_data(override=True)
