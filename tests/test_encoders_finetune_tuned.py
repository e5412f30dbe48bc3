"""TunedTextEncoder's constructor: it takes over its base encoder's whole state, and nothing more.

The constructor copies the base's attributes one by one (it must not load the model again);
these tests fail when TextEncoder gains an attribute the copy misses. No fitting here: the
tiny random BERT of test_encoders_text and untrained heads are enough.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from test_encoders_text import make_tiny_model

from recbandit.encoders.finetune import FineTuneConfig, TunedTextEncoder, TwoTowerHeads
from recbandit.encoders.text import TextEncoder

TEXTS = ["the love story of a city", "war and crime at night", ""]
FRESH = {"model", "cost", "last_cost", "_shape_flops", "max_length"}  # attributes the tuned encoder sets itself


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-tuned-bert"))


def wrap(base: TextEncoder, **kwargs: object) -> TunedTextEncoder:
    heads = TwoTowerHeads(base.dim, 4, 3, 5, user_text=False, user_history=True, user_id=True, item_bias=True)
    args: dict = {"mode": "frozen", "config": FineTuneConfig(), "seed": 3, "heads": heads, "split_time": 1.0}
    return TunedTextEncoder(base, **{**args, "data_info": {"name": "x"}, **kwargs})


def test_takes_over_every_attribute_of_the_base(tiny: Path) -> None:
    base = TextEncoder(tiny, num_threads=1, batch_size=7, max_length=16, pooling="cls", count_flops=False)
    base.encode(TEXTS)  # the base has spent something: the tuned encoder starts from zero
    enc = wrap(base)
    assert set(vars(base)) <= set(vars(enc)), sorted(set(vars(base)) - set(vars(enc)))
    for name in set(vars(base)) - FRESH:
        assert getattr(enc, name) is getattr(base, name), name
    assert enc.model is base.model and enc.max_length == 16
    assert enc.cost is not base.cost and enc.cost.calls == 0 and enc.last_cost is None
    assert (enc.seed, enc.split_time, enc.data_info, enc.report) == (3, 1.0, {"name": "x"}, None)
    # Frozen: the plain encoder's vectors and cache key.
    np.testing.assert_array_equal(enc.encode(TEXTS), base.encode(TEXTS))
    assert enc.cache_settings() == base.cache_settings()


def test_copy_model_and_max_length(tiny: Path) -> None:
    base = TextEncoder(tiny, num_threads=1)
    enc = wrap(base, mode="top-k", config=FineTuneConfig(max_length=8), copy_model=True)
    assert enc.model is not base.model
    theirs, mine = base.model.state_dict(), enc.model.state_dict()
    assert theirs.keys() == mine.keys()
    assert all(torch.equal(theirs[k], mine[k]) and theirs[k].data_ptr() != mine[k].data_ptr() for k in theirs)
    assert (enc.max_length, base.max_length) == (8, TextEncoder(tiny).max_length)
    assert enc.mode == "top-k" and base.mode == "frozen"


def test_rejects_a_tuned_base_and_an_unknown_mode(tiny: Path) -> None:
    base = TextEncoder(tiny, num_threads=1)
    with pytest.raises(ValueError, match="already fine-tuned"):
        wrap(wrap(base))
    with pytest.raises(ValueError, match="unknown mode 'bogus'"):
        wrap(base, mode="bogus")
