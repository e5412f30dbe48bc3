"""recbandit: exploration/exploitation for recommender systems.

Importing the package registers the ``recbandit/...`` Gymnasium env ids.
"""

from recbandit import envs as _envs  # noqa: F401  (registers env ids)

__version__ = "0.1.0"
