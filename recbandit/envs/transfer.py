"""How well an encoder's contexts carry what is learned on warm items over to cold ones.

Measured on Synthetic-v0's catalogue before any agent runs: the item contexts exactly as
the env builds them (item texts through the encoder, PCA to ``context_dim`` fitted on all
item texts, no rewards), a ridge regression fitted on the warm items (arrival 0) from
their contexts to a truth, and its fit on the cold items (arrival > 0):

- ``topics_r2``: R² over all topic columns of the true topic mixtures (1 - SSE/SST,
  pooled over the columns);
- ``top_topic_accuracy``: share of cold items whose largest predicted topic is their
  largest true topic (chance is about the share of the most common topic);
- ``ctr_r2``: R² of the item's mean click probability over all users (the truth's
  ``expected_reward``; it holds the quality offset, which no text shows, so it has a
  ceiling below 1).

With ``vocab_shift`` the cold items' words are synonyms that no warm item uses: a hashed
bag of words of a cold item then shares no word with what the regression saw, while a
sentence encoder may still place it near its topic.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recbandit._validation import check_float
from recbandit.data.synthetic import SyntheticCatalogue, make_catalogue
from recbandit.encoders.base import Encoder
from recbandit.envs.contexts import ContextEncoding, PCAContexts, resolve_encoder
from recbandit.envs.synthetic import DEFAULT_ENCODER, SyntheticEnvConfig, synthetic_user_model


def synthetic_item_contexts(
    config: SyntheticEnvConfig, encoder: Encoder | str | None = None
) -> tuple[np.ndarray, SyntheticCatalogue, dict[str, Any]]:
    """The item contexts Synthetic-v0 shows its agents, without encoding the users.

    Args:
        config: the env's knobs.
        encoder: an encoder spec or object (None: the env's default, ``"bow:256"``).

    Returns:
        float32[n_items, context_dim] contexts (equal to the env's ``item_contexts``), the
        catalogue, and the encode cost (``ContextEncoding.to_dict()``).
    """
    enc, spec = resolve_encoder(encoder, DEFAULT_ENCODER)
    cat = make_catalogue(config.catalogue)
    texts = ContextEncoding(enc, spec)
    emb = texts.encode(cat.item_text)
    return PCAContexts(config.context_dim).fit(emb).transform(emb), cat, texts.to_dict()


def ridge_fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, l2: float = 1.0) -> np.ndarray:
    """Ridge regression with an unpenalised intercept.

    Args:
        x_train: float[n, d].
        y_train: float[n] or float[n, m].
        x_test: float[n', d].
        l2: penalty on the weights (not the intercept).

    Returns:
        Predictions, float64[n'] or float64[n', m].
    """
    x = np.asarray(x_train, np.float64)
    mu_x, mu_y = x.mean(axis=0), np.asarray(y_train, np.float64).mean(axis=0)
    xc, yc = x - mu_x, np.asarray(y_train, np.float64) - mu_y
    w = np.linalg.solve(xc.T @ xc + l2 * np.eye(x.shape[1]), xc.T @ yc)
    return (np.asarray(x_test, np.float64) - mu_x) @ w + mu_y


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    """1 - SSE/SST, pooled over columns (SST around each column's mean)."""
    y, pred = np.asarray(y, np.float64), np.asarray(pred, np.float64)
    sst = float(((y - y.mean(axis=0)) ** 2).sum())
    return float("nan") if sst == 0 else 1.0 - float(((y - pred) ** 2).sum()) / sst


def cold_transfer(config: SyntheticEnvConfig, encoder: Encoder | str | None = None, l2: float = 1.0) -> dict[str, Any]:
    """Fit on warm items' contexts, score on cold items (see the module docstring).

    Args:
        config: the env's knobs (``config.catalogue.vocab_shift`` is the knob measured).
        encoder: the contexts' encoder (spec or object; None = ``"bow:256"``).
        l2: ridge penalty.

    Returns:
        ``topics_r2``, ``top_topic_accuracy``, ``ctr_r2`` on the cold items, the same
        three on the warm items (``*_train``, the fit's own data), ``n_warm``, ``n_cold``,
        ``encoder`` and ``encode_seconds``.

    Raises:
        ValueError: fewer than 2 warm or cold items.
    """
    l2 = check_float("l2", l2, min_value=0.0)
    ctx, cat, cost = synthetic_item_contexts(config, encoder)
    cold = cat.item_arrival > 0
    if cold.sum() < 2 or (~cold).sum() < 2:
        raise ValueError(f"need at least 2 warm and 2 cold items, got {(~cold).sum()} and {cold.sum()}")
    model = synthetic_user_model(config, cat)
    every_user = np.arange(cat.n_users)
    # Mean click probability of each item over all users, in chunks of items (users x chunk).
    ctr = np.concatenate(
        [
            model.expected_reward(every_user, np.tile(np.arange(s, min(s + 256, cat.n_items)), (cat.n_users, 1))).mean(
                axis=0
            )
            for s in range(0, cat.n_items, 256)
        ]
    )
    out: dict[str, Any] = {"encoder": cost["encoder"], "n_warm": int((~cold).sum()), "n_cold": int(cold.sum())}
    for split, rows in (("", cold), ("_train", ~cold)):
        topics = ridge_fit_predict(ctx[~cold], cat.item_topics[~cold], ctx[rows], l2)
        clicks = ridge_fit_predict(ctx[~cold], ctr[~cold], ctx[rows], l2)
        out[f"topics_r2{split}"] = r2(cat.item_topics[rows], topics)
        out[f"top_topic_accuracy{split}"] = float(
            np.mean(topics.argmax(axis=1) == cat.item_topics[rows].argmax(axis=1))
        )
        out[f"ctr_r2{split}"] = r2(ctr[rows], clicks)
    out["encode_seconds"] = cost.get("seconds")
    return out


__all__ = ["cold_transfer", "r2", "ridge_fit_predict", "synthetic_item_contexts"]
