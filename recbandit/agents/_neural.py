"""Shared machinery of the neural agents: configuration, input features, replay buffer, schedule.

A neural agent keeps every observed (features of the chosen candidate, reward) row in a
ring buffer and retrains its network(s) on minibatches from it every ``train_every``
decisions for ``train_steps`` Adam steps (warm start: training continues from the current
weights). The torch side (``recbandit.agents._mlp``) is imported when the agent sees its
first observation, so importing ``recbandit.agents`` stays torch-free.

Input features are built from ``obs["user"]`` float[B, d_u] and ``obs["items"]``
float[B, K, d_i] as the shared linear agents build theirs, so any encoder's contexts work:

- ``"outer"``: ``vec((user, 1) ⊗ (item, 1))``, p = (d_u + 1)(d_i + 1) (the linear agents' default);
- ``"concat"``: ``(user, item, 1)``, p = d_u + d_i + 1 (the network must learn the interactions);
- ``"item"``: ``(item, 1)``, p = d_i + 1 (for envs whose item contexts already depend on the user).

"Text + item id" (``item_id_features``): each network also learns an embedding
float[item_id_dim] per item id (``obs["item_ids"]``), concatenated to the candidate's
features at its input. Embeddings start at zero and are trained with the network at each
retraining, so a warm item can be scored per id beyond what its text says, while an id
never chosen (so in no minibatch) keeps a zero embedding and is scored from its text alone.
The table grows with the ids seen (``MLPEnsemble.ensure_ids``): new ids need no API change.
Each agent's last stage reads the network with the ids: NeuralLinear's representation
``phi(x, id)``, NeuralUCB / NeuralTS's gradient features (the embeddings are parameters,
so a cold id adds its prior width), each ensemble member its own table.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from recbandit._validation import check_choice, check_float, check_int
from recbandit.agents._items import id_bound, obs_ids
from recbandit.agents.base import Agent, AgentConfig, Decision, Obs, check_rewards, checked_contexts

if TYPE_CHECKING:
    from recbandit.agents._mlp import MLPEnsemble

NEURAL_FEATURES = ("outer", "concat", "item")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def check_device(name: str, value: Any) -> str:
    """Return ``value`` if it names a device (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``), else raise."""
    if not isinstance(value, str) or not _DEVICE.match(value):
        raise ValueError(f"{name} must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {value!r}")
    return value


@dataclass(frozen=True)
class NeuralConfig(AgentConfig):
    """Hyper-parameters shared by the neural agents.

    Attributes:
        hidden: widths of the hidden ReLU layers (an int is one layer; lists are accepted).
        features: input features, ``"outer"``, ``"concat"`` or ``"item"`` (module docstring).
        lr: Adam learning rate.
        weight_decay: L2 regularisation of the network weights (Adam's coupled L2).
        train_every: retrain after every this many decisions (rows added to the buffer).
        train_steps: Adam steps per retraining.
        batch_size: rows per minibatch.
        buffer_size: capacity of the replay buffer (a ring: the oldest rows are overwritten).
        device: torch device, ``"auto"`` = CUDA when available, else CPU.
        threads: torch intra-op threads during this agent's calls (set on entry, restored on
            exit; 0 = leave torch's setting). The networks are small: more threads rarely
            help and, on a shared machine, can make every call many times slower.
        item_id_features: "text + item id": the network also reads a learned embedding of
            each candidate's ``obs["item_ids"]`` (module docstring); an unseen id's embedding
            is zero, so it is scored from its text alone.
        item_id_dim: width of the item-id embedding (with ``item_id_features``).
    """

    hidden: tuple[int, ...] = (64,)
    features: str = "outer"
    lr: float = 1e-3
    weight_decay: float = 3e-3
    train_every: int = 100
    train_steps: int = 50
    batch_size: int = 64
    buffer_size: int = 100_000
    device: str = "auto"
    threads: int = 1
    item_id_features: bool = False
    item_id_dim: int = 8

    def __post_init__(self) -> None:
        hidden = self.hidden
        if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
            hidden = (int(hidden),)
        if not isinstance(hidden, (tuple, list)) or not hidden:
            raise ValueError(f"hidden must be a non-empty sequence of integers >= 1, got {self.hidden!r}")
        object.__setattr__(self, "hidden", tuple(check_int("hidden", h, min_value=1) for h in hidden))
        check_choice("features", self.features, NEURAL_FEATURES)
        check_float("lr", self.lr, min_value=0.0, min_inclusive=False)
        check_float("weight_decay", self.weight_decay, min_value=0.0)
        check_int("train_every", self.train_every, min_value=1)
        check_int("train_steps", self.train_steps, min_value=0)
        check_int("batch_size", self.batch_size, min_value=1)
        check_int("buffer_size", self.buffer_size, min_value=1)
        check_device("device", self.device)
        check_int("threads", self.threads, min_value=0)
        if not isinstance(self.item_id_features, (bool, np.bool_)):
            raise ValueError(f"item_id_features must be True or False, got {self.item_id_features!r}")
        check_int("item_id_dim", self.item_id_dim, min_value=1)


class ReplayBuffer:
    """Ring buffer of (features float32[p], reward float64, per-member weights float32[E], item id int64) rows.

    Args:
        capacity: rows kept; beyond it the oldest are overwritten.
        p: feature dimension.
        members: columns of the weight table (0: no weights are stored).
        ids: store each row's item id.
    """

    def __init__(self, capacity: int, p: int, members: int = 0, ids: bool = False) -> None:
        self.capacity = capacity
        self.x = np.zeros((capacity, p), dtype=np.float32)
        self.r = np.zeros(capacity)
        self.w = np.zeros((capacity, members), dtype=np.float32) if members else None
        self.ids = np.zeros(capacity, dtype=np.int64) if ids else None
        self.size = 0
        self._next = 0

    def add(self, x: np.ndarray, r: np.ndarray, w: np.ndarray | None = None, ids: np.ndarray | None = None) -> None:
        """Append rows x [B, p], rewards r [B] (weights w [B, E], item ids [B]), overwriting the oldest."""
        b = len(r)
        if b > self.capacity:  # only the newest capacity rows survive
            x, r, w = x[-self.capacity :], r[-self.capacity :], None if w is None else w[-self.capacity :]
            ids = None if ids is None else ids[-self.capacity :]
            b = self.capacity
        pos = (self._next + np.arange(b)) % self.capacity
        self.x[pos] = x
        self.r[pos] = r
        if self.w is not None and w is not None:
            self.w[pos] = w
        if self.ids is not None and ids is not None:
            self.ids[pos] = ids
        self._next = (self._next + b) % self.capacity
        self.size = min(self.size + b, self.capacity)

    def rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Views of the stored rows (x [n, p], r [n], w [n, E] or None), in slot order."""
        n = self.size
        return self.x[:n], self.r[:n], None if self.w is None else self.w[:n]

    def item_ids(self) -> np.ndarray | None:
        """View of the stored rows' item ids int64[n] in slot order (None if ids are not stored)."""
        return None if self.ids is None else self.ids[: self.size]


class NeuralAgent(Agent):
    """Base of the neural agents: features, lazily built network, replay buffer, retraining.

    Subclasses may override ``members`` (ensemble size), ``_build`` (extra state once the
    input dimension is known), ``_observed`` (after rows are added, before any
    retraining), ``_retrained`` (after a retraining) and ``_row_weights`` (bootstrap weights).
    With ``item_id_features`` every row also carries its item id (int64), passed beside its
    features to the network and the hooks; without, the ids are None.
    """

    config: Any
    #: rows carry per-member weights (``_row_weights``), e.g. bootstrap weights
    weighted: ClassVar[bool] = False

    @property
    def members(self) -> int:
        """Networks trained side by side (1 unless an ensemble)."""
        return 1

    def _reset(self) -> None:
        self.net: MLPEnsemble | None = None
        self.buffer: ReplayBuffer | None = None
        self._dims: tuple[int, int] | None = None
        self._due = 0  # decisions since the last retraining
        self.retrainings = 0
        self.last_loss = float("nan")

    # ------------------------------------------------------------------ features

    def _contexts(self, obs: Obs) -> tuple[np.ndarray, np.ndarray]:
        """``user`` [B, d_u] and ``items`` [B, K, d_i] of ``obs``, checked against the model's dims."""
        user, items, self._dims = checked_contexts(obs, self._dims)
        return user, items

    def _features(self, user: np.ndarray, items: np.ndarray) -> np.ndarray:
        """float32[B, K, p] network inputs of user [B, d_u] and candidates [B, K, d_i]."""
        b, k, di = items.shape
        v = np.ones((b, k, di + 1), dtype=np.float32)
        v[..., :di] = items
        feat = self.config.features
        if feat == "item":
            return v
        du = user.shape[1]
        if feat == "concat":
            x = np.ones((b, k, du + di + 1), dtype=np.float32)
            x[..., :du] = user[:, None, :]
            x[..., du : du + di] = items
            return x
        u = np.ones((b, du + 1), dtype=np.float32)
        u[:, :du] = user
        return (u[:, None, :, None] * v[:, :, None, :]).reshape(b, k, (du + 1) * (di + 1))

    def _item_ids(self, obs: Obs, b: int, k: int) -> tuple[np.ndarray, int] | None:
        """The candidates' ids int64[B, K] and ``1 + max(id)`` with ``item_id_features``, else None."""
        if not self.config.item_id_features:
            return None
        try:
            ids = obs_ids(obs)
        except ValueError as err:
            raise ValueError(f"item_id_features=True: {err}") from None
        if ids.shape != (b, k):
            raise ValueError(f"obs['item_ids'] has shape {ids.shape}, but obs['items'] has (B, K) = {(b, k)}")
        return ids.astype(np.int64, copy=False), id_bound(ids)

    def inputs(self, obs: Obs) -> tuple[np.ndarray, np.ndarray | None]:
        """Network inputs float32[B, K, p] of every candidate and their item ids int64[B, K].

        The ids are None without ``item_id_features``. Builds the model on first use and grows
        its id table to cover the ids.
        """
        user, items = self._contexts(obs)
        ids = self._item_ids(obs, *items.shape[:2])
        x = self._features(user, items)
        self._ensure(x.shape[2], None if ids is None else ids[1])
        return x, None if ids is None else ids[0]

    # ------------------------------------------------------------------ model

    def _ensure(self, p: int, n_ids: int | None = None) -> None:
        """Build the model for p input features on first use; grow its id table to cover ``n_ids`` ids."""
        if self.net is None:
            from recbandit.agents._mlp import MLPEnsemble, resolve_device

            cfg = self.config
            id_dim = cfg.item_id_dim if cfg.item_id_features else 0
            self.device = resolve_device(cfg.device)
            self.net = MLPEnsemble(p, cfg.hidden, self.members, self.rng, self.device, cfg.lr, cfg.weight_decay, id_dim)
            self.buffer = ReplayBuffer(cfg.buffer_size, p, self.members if self.weighted else 0, id_dim > 0)
            self._build(p)
        if n_ids is not None:
            self.net.ensure_ids(n_ids)

    def _build(self, p: int) -> None:
        """Create algorithm state once the input dimension p is known (after the network)."""

    def _row_weights(self, n: int) -> np.ndarray | None:
        """float32[n, E] per-member weights of n new rows, or None."""
        return None

    def _observed(self, x: np.ndarray, r: np.ndarray, ids: np.ndarray | None) -> None:
        """Hook: rows x float32[B, p] with rewards r float64[B] and item ids int64[B] (or None) were just added."""

    def _retrained(self) -> None:
        """Hook: the network was just retrained."""

    def memory_bytes(self) -> int:
        """Bytes the agent holds: parameters, optimizer state, replay buffer (its full capacity), extras."""
        if self.net is None or self.buffer is None:
            return 0
        buf = self.buffer
        tensors = [*self.net.parameters(), *self.net.optimizer_state()]
        total = sum(t.numel() * t.element_size() for t in tensors)
        total += sum(0 if a is None else a.nbytes for a in (buf.x, buf.r, buf.w, buf.ids))
        return total + self._extra_bytes()

    def _extra_bytes(self) -> int:
        """Bytes of algorithm state beyond the network and the buffer."""
        return 0

    # ------------------------------------------------------------------ learning

    def chosen_inputs(
        self, obs: Obs, actions: np.ndarray, rewards: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Validated features float32[B, p], rewards float64[B] and item ids int64[B] (or None) of the choices."""
        user, items = self._contexts(obs)
        b, k = items.shape[:2]
        actions, rewards = check_rewards(actions, rewards, b, k)
        ids = self._item_ids(obs, b, k)
        rows = np.arange(b)
        picked = items[rows, actions][:, None, :]  # [B, 1, d_i]
        x = self._features(user, picked)[:, 0]
        self._ensure(x.shape[1], None if ids is None else ids[1])
        return x, rewards, None if ids is None else ids[0][rows, actions]

    def act(self, obs: Obs) -> Decision:
        """Choose one candidate per user (``_act``, on ``threads`` torch threads)."""
        from recbandit._torch import torch_threads

        with torch_threads(self.config.threads):
            return self._act(obs)

    @abstractmethod
    def _act(self, obs: Obs) -> Decision:
        """The algorithm's choice for the batch ``obs``."""

    def update(self, obs: Obs, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Store the chosen candidates' (features, reward); retrain when ``train_every`` decisions are due.

        A batch of B decisions that makes n retrainings due runs them as one of
        ``n * train_steps`` steps, so the compute per decision does not depend on B.
        """
        from recbandit._torch import torch_threads

        with torch_threads(self.config.threads):
            self._update(obs, actions, rewards)

    def _update(self, obs: Obs, actions: np.ndarray, rewards: np.ndarray) -> None:
        x, rewards, ids = self.chosen_inputs(obs, actions, rewards)
        assert self.buffer is not None and self.net is not None
        self.buffer.add(x, rewards, self._row_weights(len(rewards)), ids)
        self._observed(x, rewards, ids)
        self._due += len(rewards)
        due, self._due = divmod(self._due, self.config.train_every)
        if due and self.config.train_steps:
            cfg = self.config
            steps = due * cfg.train_steps
            self.last_loss = self.net.train(
                *self.buffer.rows(), steps, cfg.batch_size, self.rng, ids=self.buffer.item_ids()
            )
            self.retrainings += 1
            self._retrained()
