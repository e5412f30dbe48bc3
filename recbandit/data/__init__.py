"""Data: logged interactions (the LoggedData contract), loaders, and the synthetic default."""

from recbandit.data.logged import DataError, Interactions, Items, LoggedData, Users
from recbandit.data.synthetic import SyntheticCatalogue, SyntheticConfig, make_catalogue

__all__ = [
    "DataError",
    "Interactions",
    "Items",
    "LoggedData",
    "SyntheticCatalogue",
    "SyntheticConfig",
    "Users",
    "make_catalogue",
]
