"""Synthetic-v0's vocabulary shift: cold items described with synonyms no warm item uses."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest

from recbandit.data.synthetic import FILLER, FILLER_ADJ, SYNONYMS, TOPICS, make_catalogue

WARM_WORDS = {w for adj, noun in TOPICS.values() for w in adj + noun}
SYNONYM_WORDS = {w for adj, noun in SYNONYMS.values() for w in adj + noun}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def test_synonyms_are_aligned_and_disjoint_from_every_warm_word() -> None:
    assert list(SYNONYMS) == list(TOPICS)
    for name, (adj, noun) in SYNONYMS.items():
        assert len(adj) == len(TOPICS[name][0]) and len(noun) == len(TOPICS[name][1])
    every = [w for adj, noun in SYNONYMS.values() for w in adj + noun]
    assert len(every) == len(set(every))  # no synonym serves two words
    assert not SYNONYM_WORDS & (WARM_WORDS | set(FILLER) | set(FILLER_ADJ))


def _digest(cat: object) -> str:
    h = hashlib.sha256()
    for t in cat.item_text + cat.user_text:  # type: ignore[attr-defined]
        h.update(t.encode() + b"\0")
    h.update(cat.item_arrival.astype(np.int64).tobytes())  # type: ignore[attr-defined]
    h.update(np.round(cat.item_topics, 10).tobytes())  # type: ignore[attr-defined]
    h.update(np.round(cat.user_prefs, 10).tobytes())  # type: ignore[attr-defined]
    return h.hexdigest()[:16]


def test_default_catalogue_is_unchanged() -> None:
    """Digests recorded before the vocabulary shift and user arrivals existed."""
    assert _digest(make_catalogue()) == "4a7f2dc5219bb481"
    assert _digest(make_catalogue(n_items=50, n_users=20, seed=3)) == "b4578cebf65dd789"


def test_full_shift_moves_every_topic_word_of_cold_items_only() -> None:
    base = make_catalogue(n_items=200, n_users=50, seed=4)
    shifted = make_catalogue(n_items=200, n_users=50, seed=4, vocab_shift=1.0)
    cold = base.item_arrival > 0
    assert cold.sum() == 40
    assert shifted.user_text == base.user_text
    assert np.array_equal(shifted.item_topics, base.item_topics)
    for i in range(200):
        if not cold[i]:
            assert shifted.item_text[i] == base.item_text[i]
            continue
        words = _words(shifted.item_text[i])
        assert not words & WARM_WORDS
        assert words & SYNONYM_WORDS
    # Every warm item and user profile keeps the warm vocabulary only.
    warm_words = set().union(*(_words(t) for t, c in zip(shifted.item_text, cold, strict=True) if not c))
    assert not warm_words & SYNONYM_WORDS
    assert not set().union(*(_words(t) for t in shifted.user_text)) & SYNONYM_WORDS


def test_synonym_keeps_the_topic_of_the_word_it_replaces() -> None:
    base = make_catalogue(n_items=100, n_users=10, seed=5, noise=0.0)
    shifted = make_catalogue(n_items=100, n_users=10, seed=5, noise=0.0, vocab_shift=1.0)
    table = {w: s for n in TOPICS for k in (0, 1) for w, s in zip(TOPICS[n][k], SYNONYMS[n][k], strict=True)}
    for a, b, late in zip(base.item_text, shifted.item_text, base.item_arrival > 0, strict=True):
        expected = re.sub(r"[A-Za-z]+", lambda m: _swap_case(m.group(0), table), a) if late else a
        assert b == expected


def _swap_case(word: str, table: dict[str, str]) -> str:
    low = word.lower()
    if low not in table:
        return word
    return table[low].capitalize() if word[0].isupper() else table[low]


def test_partial_shift_is_seeded_and_in_between() -> None:
    kw = {"n_items": 300, "n_users": 10, "seed": 6}
    a, b = make_catalogue(**kw, vocab_shift=0.5), make_catalogue(**kw, vocab_shift=0.5)
    assert a.item_text == b.item_text
    cold = [t for t, c in zip(a.item_text, a.item_arrival > 0, strict=True) if c]
    n_syn = sum(len(_words(t) & SYNONYM_WORDS) for t in cold)
    n_warm = sum(len(_words(t) & WARM_WORDS) for t in cold)
    assert 0.35 < n_syn / (n_syn + n_warm) < 0.65


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_vocab_shift_out_of_range_is_refused(value: float) -> None:
    with pytest.raises(ValueError, match="vocab_shift"):
        make_catalogue(vocab_shift=value)
