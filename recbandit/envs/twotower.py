"""A two-tower user model over ID embeddings and side features, trained with sampled unrated items.

Model (like label ``y`` of user ``u`` for item ``i``)::

    logit p(y = 1 | u, i) = b0 + bu_u + bi_i + <U_u, V_i>
    [U_u, bu_u] = [P_u, beta_u] * seen_u + g(s_u)        (user tower)
    [V_i, bi_i] = [Q_i, beta_i] * seen_i + h(x_i)        (item tower)

``P, Q, beta`` are per-id parameters (exactly 0 for a user / item without fitting rows, so
those are scored from their features alone), ``s_u`` user features (demographics, profile
text, logged context), ``x_i`` item features (text embedding, genres). ``g`` and ``h`` are
linear maps (``hidden=0``: a factorisation machine restricted to user x item interactions)
or one-hidden-layer ReLU networks (``hidden > 0``). After fitting, the towers are evaluated
once and the model is a ``LatentFactorUserModel``: numpy dot products at simulation time.

Training. Each epoch the rated fitting rows (label = like) are joined by ``neg_ratio`` items
per row drawn uniformly from the items that user has no fitting row for (label 0, redrawn
every epoch from a seeded ``numpy`` generator; see ``recbandit.envs.fidelity`` for what the
resulting probability means); minibatch Adam on the mean log loss plus ``l2`` times the mean
squared norm of the id parameters in the batch and ``l2_side`` / N times the squared norm of
the towers' weights. Early stopping on the validation mixture's log loss (fixed draws); with
``refit`` the model is then refitted on the whole fitting part for the best number of epochs.
Torch runs on one CPU thread, float32, from a seeded ``torch.Generator``: a seed gives the
same model bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from recbandit._torch import torch_generator, torch_threads
from recbandit._validation import check_float, check_int, check_seed
from recbandit.envs.fidelity import Mixture, build_mixture, pair_keys


@dataclass(frozen=True)
class TwoTowerConfig:
    """Hyper-parameters of the two-tower fit.

    Attributes:
        factors: dimension of ``U_u`` and ``V_i``.
        hidden: hidden width of the side-feature towers; 0 = linear maps.
        l2: weight of the mean squared norm of the batch's id parameters.
        l2_side: prior precision of the towers' weights (penalty ``l2_side / N * ||W||^2``).
        lr: Adam learning rate.
        batch_size: rows per Adam step.
        max_epochs: upper bound on epochs.
        patience: stop after this many epochs without a better validation log loss.
        refit: refit on the whole fitting part for the best number of epochs.
        user_ids: learn per-user parameters; False when users are known only by features.
        item_ids: learn per-item parameters.
        init_std: standard deviation of the initial id embeddings.
        seed: seed of the parameters' initialisation and of the sampled unrated items.
    """

    factors: int = 32
    hidden: int = 0
    l2: float = 1e-4
    l2_side: float = 1.0
    lr: float = 0.01
    batch_size: int = 4096
    max_epochs: int = 40
    patience: int = 3
    refit: bool = True
    user_ids: bool = True
    item_ids: bool = True
    init_std: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("factors", self.factors, min_value=1)
        check_int("hidden", self.hidden, min_value=0)
        check_float("l2", self.l2, min_value=0.0)
        check_float("l2_side", self.l2_side, min_value=0.0)
        check_float("lr", self.lr, min_value=0.0, min_inclusive=False)
        check_int("batch_size", self.batch_size, min_value=1)
        check_int("max_epochs", self.max_epochs, min_value=1)
        check_int("patience", self.patience, min_value=1)
        check_float("init_std", self.init_std, min_value=0.0, min_inclusive=False)
        check_seed("seed", self.seed)


class _Tower(torch.nn.Module):
    """Side features [n, d] -> [n, f + 1] (vector and bias): linear or one ReLU layer."""

    def __init__(self, d: int, f: int, hidden: int, gen: torch.Generator) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList()
        dims = [d, hidden, f + 1] if hidden else [d, f + 1]
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            lin = torch.nn.Linear(a, b)
            with torch.no_grad():
                lin.weight.copy_(torch.randn(b, a, generator=gen) * (1.0 / np.sqrt(a)) * (0.1 if b == f + 1 else 1.0))
                lin.bias.zero_()
            self.layers.append(lin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for k, layer in enumerate(self.layers):
            x = layer(x)
            if k < len(self.layers) - 1:
                x = torch.relu(x)
        return x

    def weight_norm(self) -> torch.Tensor:
        total = torch.zeros(())
        for layer in self.layers:
            assert isinstance(layer, torch.nn.Linear)
            total = total + (layer.weight**2).sum()
        return total


class _TwoTower(torch.nn.Module):
    def __init__(
        self,
        n_users: int,
        n_items: int,
        user_side: torch.Tensor | None,
        item_side: torch.Tensor | None,
        config: TwoTowerConfig,
        base_logit: float,
        gen: torch.Generator,
    ) -> None:
        super().__init__()
        f = config.factors
        self.f = f

        def emb(n: int, on: bool) -> torch.nn.Parameter | None:
            if not on:
                return None
            w = torch.randn(n, f + 1, generator=gen) * config.init_std
            w[:, f] = 0.0  # the bias column starts at 0
            return torch.nn.Parameter(w)

        self.P = emb(n_users, config.user_ids)
        self.Q = emb(n_items, config.item_ids)
        self.g = None if user_side is None else _Tower(user_side.shape[1], f, config.hidden, gen)
        self.h = None if item_side is None else _Tower(item_side.shape[1], f, config.hidden, gen)
        self.b0 = torch.nn.Parameter(torch.tensor(base_logit, dtype=torch.float32))
        self.user_side, self.item_side = user_side, item_side
        self.n_users, self.n_items = n_users, n_items

    def tables(self, seen_u: torch.Tensor, seen_i: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """User table [n_users, f + 1] and item table [n_items, f + 1] (last column: bias)."""
        U = torch.zeros(self.n_users, self.f + 1)
        V = torch.zeros(self.n_items, self.f + 1)
        if self.P is not None:
            U = U + self.P * seen_u[:, None]
        if self.g is not None and self.user_side is not None:
            U = U + self.g(self.user_side)
        if self.Q is not None:
            V = V + self.Q * seen_i[:, None]
        if self.h is not None and self.item_side is not None:
            V = V + self.h(self.item_side)
        return U, V

    def logits(self, U: torch.Tensor, V: torch.Tensor, u: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        f = self.f
        Uu, Vi = U[u], V[i]
        return self.b0 + Uu[:, f] + Vi[:, f] + (Uu[:, :f] * Vi[:, :f]).sum(dim=1)

    def id_penalty(self, u: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(())
        if self.P is not None:
            total = total + (self.P[u] ** 2).sum(dim=1).mean()
        if self.Q is not None:
            total = total + (self.Q[i] ** 2).sum(dim=1).mean()
        return total

    def side_penalty(self) -> torch.Tensor:
        total = torch.zeros(())
        for tower in (self.g, self.h):
            if tower is not None:
                total = total + tower.weight_norm()
        return total


@dataclass
class TwoTowerFit:
    """What ``fit_two_tower`` returns.

    Attributes:
        user_table: float64[n_users, f + 1], ``[U_u, bu_u]``.
        item_table: float64[n_items, f + 1], ``[V_i, bi_i]``.
        b0: global logit offset.
        best_epoch: epochs of the kept model (the refit's length with ``refit``).
        epochs_run: epochs run before early stopping.
        val_log_loss: the best validation log loss (NaN without validation rows).
    """

    user_table: np.ndarray
    item_table: np.ndarray
    b0: float
    best_epoch: int
    epochs_run: int
    val_log_loss: float

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """float64[N] probabilities of N (user, item) pairs."""
        f = self.user_table.shape[1] - 1
        U, V = self.user_table[users], self.item_table[items]
        z = self.b0 + U[:, f] + V[:, f] + np.einsum("nf,nf->n", U[:, :f], V[:, :f])
        return 1.0 / (1.0 + np.exp(-z))


def _run(
    config: TwoTowerConfig,
    rows: tuple[np.ndarray, np.ndarray, np.ndarray],
    n_users: int,
    n_items: int,
    sides: tuple[torch.Tensor | None, torch.Tensor | None],
    neg_ratio: int,
    epochs: int,
    val: Mixture | None,
) -> tuple[TwoTowerFit, int]:
    users, items, labels = rows
    rng = np.random.default_rng([config.seed, 1])
    gen = torch_generator(config.seed)
    rated = pair_keys(users, items, n_items)
    # Base rate of the training mixture: likes / (rated rows * (1 + r)).
    rate = float(np.clip(labels.sum() / max(len(labels) * (1 + neg_ratio), 1), 1e-4, 1 - 1e-4))
    model = _TwoTower(n_users, n_items, *sides, config, float(np.log(rate / (1 - rate))), gen)
    seen_u = torch.as_tensor(np.bincount(users, minlength=n_users) > 0, dtype=torch.float32)
    seen_i = torch.as_tensor(np.bincount(items, minlength=n_items) > 0, dtype=torch.float32)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    n_side = max(len(labels) * (1 + neg_ratio), 1)
    val_t = None
    if val is not None and len(val.labels):
        val_t = (
            torch.as_tensor(val.users),
            torch.as_tensor(val.items),
            torch.as_tensor(val.labels, dtype=torch.float32),
        )
    best: tuple[int, float, dict[str, Any] | None] = (0, float("inf"), None)
    since = run = 0
    for epoch in range(1, epochs + 1):
        run = epoch
        mix = build_mixture(rng, users, items, labels, neg_ratio, n_items, rated)
        perm = rng.permutation(len(mix.labels))
        u_all, i_all = torch.as_tensor(mix.users[perm]), torch.as_tensor(mix.items[perm])
        y_all = torch.as_tensor(mix.labels[perm], dtype=torch.float32)
        for start in range(0, len(perm), config.batch_size):
            u, i, y = (t[start : start + config.batch_size] for t in (u_all, i_all, y_all))
            opt.zero_grad()
            U, V = model.tables(seen_u, seen_i)
            loss = bce(model.logits(U, V, u, i), y) + config.l2 * model.id_penalty(u, i)
            loss = loss + config.l2_side * model.side_penalty() / n_side
            loss.backward()
            opt.step()
        if val_t is None:
            continue
        with torch.no_grad():
            U, V = model.tables(seen_u, seen_i)
            val_loss = float(bce(model.logits(U, V, *val_t[:2]), val_t[2]))
        if val_loss < best[1] - 1e-5:
            best = (epoch, val_loss, {k: v.detach().clone() for k, v in model.state_dict().items()})
            since = 0
        else:
            since += 1
            if since >= config.patience:
                break
    if val_t is not None and best[2] is not None:
        model.load_state_dict(best[2])
    with torch.no_grad():
        U, V = model.tables(seen_u, seen_i)
    fit = TwoTowerFit(
        U.double().numpy(),
        V.double().numpy(),
        float(model.b0.item()),
        best[0] if val_t is not None else epochs,
        run,
        best[1] if val_t is not None else float("nan"),
    )
    return fit, run


def fit_two_tower(
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    val: Mixture | None,
    n_users: int,
    n_items: int,
    *,
    user_side: np.ndarray | None,
    item_side: np.ndarray | None,
    neg_ratio: int,
    config: TwoTowerConfig,
    refit_rows: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> TwoTowerFit:
    """Fit on ``train`` with early stopping on ``val``; refit on ``refit_rows`` if given and ``config.refit``.

    Args:
        train: (users int64[N], items int64[N], like labels float64[N]), the rated rows.
        val: the validation mixture (fixed), or None (then ``config.max_epochs`` epochs).
        n_users: rows of the user table.
        n_items: rows of the item table.
        user_side: float32[n_users, g] or None.
        item_side: float32[n_items, h] or None.
        neg_ratio: sampled unrated items per rated row and epoch.
        config: hyper-parameters.
        refit_rows: the whole fitting part (train + validation rows).
    """
    sides = (
        None if user_side is None else torch.as_tensor(np.ascontiguousarray(user_side, dtype=np.float32)),
        None if item_side is None else torch.as_tensor(np.ascontiguousarray(item_side, dtype=np.float32)),
    )
    with torch_threads(1):  # bit-identical fits in every process, whatever its thread settings
        fit, run = _run(config, train, n_users, n_items, sides, neg_ratio, config.max_epochs, val)
        if config.refit and refit_rows is not None and val is not None:
            refit, _ = _run(config, refit_rows, n_users, n_items, sides, neg_ratio, max(fit.best_epoch, 1), None)
            refit.best_epoch, refit.epochs_run, refit.val_log_loss = fit.best_epoch, run, fit.val_log_loss
            fit = refit
    return fit


__all__ = ["TwoTowerConfig", "TwoTowerFit", "fit_two_tower"]
