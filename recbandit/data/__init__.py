"""Data: logged interactions (the LoggedData contract), loaders, verified downloads, the synthetic default."""

from recbandit.data.detect import load
from recbandit.data.logged import DataError, Interactions, Items, LoggedData, Users
from recbandit.data.movielens import load_movielens
from recbandit.data.obd import load_obd
from recbandit.data.plain import load_plain
from recbandit.data.synthetic import SyntheticCatalogue, SyntheticConfig, make_catalogue

__all__ = [
    "DataError",
    "Interactions",
    "Items",
    "LoggedData",
    "SyntheticCatalogue",
    "SyntheticConfig",
    "Users",
    "load",
    "load_movielens",
    "load_obd",
    "load_plain",
    "make_catalogue",
]
