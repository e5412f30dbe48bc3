"""Data: logged interactions, catalogues with text, and the synthetic default."""

from recbandit.data.synthetic import SyntheticCatalogue, SyntheticConfig, make_catalogue

__all__ = ["SyntheticCatalogue", "SyntheticConfig", "make_catalogue"]
