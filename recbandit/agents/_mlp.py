"""Torch backend of the neural agents: MLP ensemble, training loop, diagonal gradient covariance.

A stacked ensemble of ReLU MLPs (one network is an ensemble of one), its Adam training
loop and the diagonal gradient covariance of NeuralUCB / NeuralTS. Imported only when a
neural agent sees its first observation (``recbandit.agents._neural``), so that
importing ``recbandit.agents`` does not import torch.

Every random number comes from the agent's ``np.random.Generator``: initial weights are
drawn with numpy (PyTorch's default ``nn.Linear`` law, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``)
and minibatch indices too, so no torch generator, let alone the global one, is involved.
On the CPU a seed reproduces every weight bit for bit.

Item ids (``id_dim > 0``): each network also has an embedding table float32[E, n, id_dim]
indexed by item id, and its first layer reads ``(x, table[id])``, p + id_dim inputs. The
table starts at zero and grows on demand (``ensure_ids``, amortised doubling) with its Adam
moments, so growth is the same as a table that was that large from the start: a row no
minibatch has touched has zero gradient, zero moments and zero weight decay, so it stays 0
and an unseen id is scored from its text alone.

Shapes: ``E`` ensemble members, ``N`` rows, ``p`` input features, ``h`` last hidden width.
Weights are stored ``[E, in, out]`` (rows multiply from the left: ``a @ W``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

#: Floats held at once by a chunk of gradient terms (``GradientCovariance``) or of gathered
#: minibatches (``MLPEnsemble.train``): bounds memory for any batch size.
_CHUNK_FLOATS = 1 << 22
#: Smallest id embedding table (rows), so that a small catalogue never regrows it.
_MIN_IDS = 64


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as given (ValueError if unavailable)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out = torch.device(device)
    if out.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return out


class MLPEnsemble:
    """``E`` independent ReLU MLPs ``p (+ id_dim) -> hidden... -> 1`` evaluated together with batched matmuls.

    Trained by Adam on the weighted squared error ``mean_rows(w_e (f_e(x) - r)^2)`` summed
    over members, plus ``weight_decay * ||theta||^2`` (Adam's coupled L2; the id embeddings
    are parameters too, so their L2 pulls them towards 0, the text-only score).

    Args:
        p: input dimension.
        hidden: widths of the hidden layers (at least one).
        members: ensemble size E (1 for a single network).
        rng: draws the initial weights.
        device: torch device of the parameters and computations.
        lr: Adam learning rate.
        weight_decay: L2 coefficient.
        id_dim: width of each member's item-id embedding (0: no ids; module docstring).
    """

    def __init__(
        self,
        p: int,
        hidden: tuple[int, ...],
        members: int,
        rng: np.random.Generator,
        device: torch.device,
        lr: float,
        weight_decay: float,
        id_dim: int = 0,
    ) -> None:
        self.device = device
        self.members = members
        self.id_dim = id_dim
        sizes = (p + id_dim, *hidden, 1)
        self.weights: list[torch.Tensor] = []
        self.biases: list[torch.Tensor] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            bound = 1.0 / np.sqrt(fan_in)
            w = rng.uniform(-bound, bound, size=(members, fan_in, fan_out)).astype(np.float32)
            b = rng.uniform(-bound, bound, size=(members, 1, fan_out)).astype(np.float32)
            self.weights.append(torch.tensor(w, device=device, requires_grad=True))
            self.biases.append(torch.tensor(b, device=device, requires_grad=True))
        #: float32[E, n, id_dim] item-id embeddings (None without ids); grown by ``ensure_ids``
        self.id_table: torch.Tensor | None = None
        if id_dim:
            self.id_table = torch.zeros((members, _MIN_IDS, id_dim), device=device, requires_grad=True)
        try:  # the fused kernel is the fastest for many small tensors (CPU since torch 2.4)
            self.optimizer = torch.optim.Adam(self.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
        except (RuntimeError, ValueError):
            self.optimizer = torch.optim.Adam(self.parameters(), lr=lr, weight_decay=weight_decay)

    def parameters(self) -> list[torch.Tensor]:
        """All weight and bias tensors, layer by layer, then the id embeddings (if any)."""
        layers = [t for pair in zip(self.weights, self.biases, strict=True) for t in pair]
        return layers if self.id_table is None else [*layers, self.id_table]

    @property
    def n_ids(self) -> int:
        """Rows of the id embedding table (ids 0 .. n_ids - 1 are covered; 0 without ids)."""
        return 0 if self.id_table is None else self.id_table.shape[1]

    def ensure_ids(self, top: int) -> None:
        """Grow the id table (zero rows, amortised doubling) so that ids ``0 .. top - 1`` index it.

        The optimizer keeps training the grown tensor: Adam's moments are padded with zeros
        (what a larger table would hold for rows no gradient has reached) and its step count
        is kept, so the result does not depend on when the table grew.
        """
        old = self.id_table
        if old is None or top <= old.shape[1]:
            return
        n = old.shape[1]
        size = max(top, 2 * n, _MIN_IDS)

        def padded(t: torch.Tensor) -> torch.Tensor:
            out = torch.zeros((t.shape[0], size, *t.shape[2:]), dtype=t.dtype, device=t.device)
            out[:, :n] = t.detach()
            return out

        new = padded(old).requires_grad_(True)
        for group in self.optimizer.param_groups:
            group["params"] = [new if t is old else t for t in group["params"]]
        state = self.optimizer.state.pop(old, None)
        if state:
            self.optimizer.state[new] = {
                key: padded(v) if isinstance(v, torch.Tensor) and v.shape == old.shape else v
                for key, v in state.items()
            }
        self.id_table = new

    def optimizer_state(self) -> list[torch.Tensor]:
        """The optimizer's state tensors (Adam's moments and step counts)."""
        return [t for st in self.optimizer.state.values() for t in st.values() if isinstance(t, torch.Tensor)]

    @property
    def n_params(self) -> int:
        """Parameters of one member."""
        return sum(t[0].numel() for t in self.parameters())

    def first_input(self, x: torch.Tensor, ids: torch.Tensor | None) -> torch.Tensor:
        """float32[E, N, p (+ id_dim)]: rows x float32[N, p] (with their ids' embeddings), per member."""
        a = x.expand(self.members, *x.shape)
        if self.id_table is None:
            return a
        if ids is None:
            raise ValueError("this network reads item ids (id_dim > 0): ids are required")
        return torch.cat([a, self.id_table[:, ids]], dim=2)

    def forward(self, x: torch.Tensor, ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Outputs float32[E, N] and last hidden activations float32[E, N, h] of x float32[N, p], ids int64[N]."""
        a = self.first_input(x, ids)
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            a = torch.relu(torch.baddbmm(b, a, w))
        out = torch.baddbmm(self.biases[-1], a, self.weights[-1])
        return out[..., 0], a

    def tensor(self, x: np.ndarray) -> torch.Tensor:
        """float32 tensor of ``x`` on the device."""
        return torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32), device=self.device)

    def id_tensor(self, ids: np.ndarray | None) -> torch.Tensor | None:
        """int64 tensor of ``ids`` on the device (None stays None)."""
        return None if ids is None else torch.as_tensor(np.ascontiguousarray(ids, dtype=np.int64), device=self.device)

    def predict(self, x: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
        """float64[E, N] outputs of every member for rows x [N, p] with item ids int64[N] (if the net reads ids)."""
        with torch.no_grad():
            out, _ = self.forward(self.tensor(x), self.id_tensor(ids))
        return out.double().cpu().numpy()

    def embed(self, x: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
        """float64[N, h]: member 0's last hidden layer for rows x [N, p] with ids int64[N] (in chunks)."""
        parts = []
        with torch.no_grad():
            for s in range(0, len(x), 8192):
                sub = self.id_tensor(None if ids is None else ids[s : s + 8192])
                parts.append(self.forward(self.tensor(x[s : s + 8192]), sub)[1][0].double().cpu().numpy())
        return np.concatenate(parts) if parts else np.zeros((0, self.weights[-1].shape[1]))

    def train(
        self,
        x: np.ndarray,
        r: np.ndarray,
        weights: np.ndarray | None,
        steps: int,
        batch_size: int,
        rng: np.random.Generator,
        ids: np.ndarray | None = None,
    ) -> float:
        """``steps`` Adam steps on minibatches drawn uniformly (with replacement) from the rows.

        Args:
            x: float32[n, p] inputs.
            r: float64[n] rewards.
            weights: float32[n, E] per-member row weights (bootstrap), or None (all 1).
            steps: gradient steps.
            batch_size: rows per minibatch.
            rng: draws the minibatch indices.
            ids: int64[n] item ids of the rows (covered by ``ensure_ids``), if the net reads ids.

        Returns:
            The mean loss over the steps.
        """
        n = len(r)
        if n == 0 or steps == 0:
            return float("nan")
        idx = rng.integers(n, size=(steps, batch_size))
        total = torch.zeros((), device=self.device)
        chunk = max(1, _CHUNK_FLOATS // (batch_size * x.shape[1]))  # minibatches gathered and moved at once
        for c in range(0, steps, chunk):
            part = idx[c : c + chunk]
            xs, rs = self.tensor(x[part]), self.tensor(r[part])
            ws = None if weights is None else self.tensor(weights[part].transpose(0, 2, 1))  # [steps, E, bs]
            ids_s = None if ids is None else self.id_tensor(ids[part])  # [steps, bs]
            for s in range(len(part)):
                out, _ = self.forward(xs[s], None if ids_s is None else ids_s[s])
                err = (out - rs[s]) ** 2  # [E, bs]
                if ws is not None:
                    err = err * ws[s]
                loss = err.mean(dim=1).sum()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                total += loss.detach()
        return float(total) / steps / self.members


class GradientCovariance:
    """Diagonal approximation of NeuralUCB's ``Z = lambda I + sum_t g_t g_t^T`` for a single MLP.

    ``g(x)`` is the gradient of the network's output at x with respect to all parameters.
    For a layer ``a @ W + b`` with input activations ``a`` [in] and back-propagated
    signal ``d = df/d(pre-activation)`` [out], ``dg/dW[i, o] = a_i d_o`` and
    ``dg/db[o] = d_o``, so the per-row sums this class needs,
    ``sum_k g_k^2 / Z_k = sum_l rowsum((a_l^2 @ (1 / Z_W_l)) * d_l^2) + d_l^2 @ (1 / Z_b_l)``
    and ``Z += g^2``, are matrix products of the rows' squared activations and signals:
    never an N x n_params tensor of per-sample gradients (the same numbers as
    ``torch.func.vmap(torch.func.grad(f))``, which the tests check).

    With item ids the id embeddings are parameters too: a row's gradient with respect to
    the table is nonzero only in its id's row, ``d_1 @ W_1[p:]^T`` (the first layer's signal
    through the weights that read the embedding), so ``Z`` keeps one float[id_dim] row per
    id (``z_id``, grown with the table at ``lambda``): an id never chosen keeps the prior
    precision, so its embedding adds its full prior width to its candidates' widths (as a
    cold id's bias does in the hybrid linear model).

    Args:
        net: an ``MLPEnsemble`` with one member.
        ridge: lambda, the prior precision of every parameter (> 0).
    """

    def __init__(self, net: MLPEnsemble, ridge: float) -> None:
        if net.members != 1:
            raise ValueError("GradientCovariance needs a single network (members=1)")
        self.net = net
        self.ridge = ridge
        self.z_w = [torch.full_like(w[0], ridge).detach() for w in net.weights]
        self.z_b = [torch.full_like(b[0, 0], ridge).detach() for b in net.biases]
        #: float32[n, id_dim] diagonal of Z for the id embeddings (None without ids)
        self.z_id = None if net.id_table is None else torch.full_like(net.id_table[0], ridge).detach()

    def tensors(self) -> list[torch.Tensor]:
        """The diagonal's tensors (for memory accounting)."""
        return [*self.z_w, *self.z_b, *([] if self.z_id is None else [self.z_id])]

    def _grow(self) -> None:
        """Extend ``z_id`` with prior rows to the network's id table (which grows on demand)."""
        if self.z_id is not None and len(self.z_id) < self.net.n_ids:
            grown = torch.full((self.net.n_ids, self.z_id.shape[1]), self.ridge, device=self.z_id.device)
            grown[: len(self.z_id)] = self.z_id
            self.z_id = grown

    def _terms(
        self, x: torch.Tensor, ids: torch.Tensor | None
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor | None]:
        """Outputs, per-layer squared inputs and signals, squared id-embedding gradients of rows x [N, p].

        Returns:
            Outputs float32[N]; per layer (squared inputs [N, in], squared signals [N, out]);
            the squared gradients float32[N, id_dim] of the rows' id embeddings (None without ids).
        """
        ws = [w[0] for w in self.net.weights]
        bs = [b[0, 0] for b in self.net.biases]
        a = self.net.first_input(x, ids)[0]
        acts, masks = [a], []
        for w, b in zip(ws[:-1], bs[:-1], strict=True):
            z = torch.addmm(b, a, w)
            masks.append(z > 0)
            a = torch.relu(z)
            acts.append(a)
        out = torch.addmm(bs[-1], a, ws[-1])[:, 0]
        d = torch.ones(len(x), 1, device=x.device)  # df/d(output pre-activation)
        signals = [d]
        for w, mask in zip(reversed(ws[1:]), reversed(masks), strict=True):
            d = (d @ w.T) * mask
            signals.append(d)
        signals.reverse()
        g_id = None
        if self.z_id is not None:
            g_id = signals[0] @ ws[0][x.shape[1] :].T  # df/d(table[id]) = d_1 @ W_1[p:]^T
            g_id = g_id * g_id
        return out, [(a * a, d * d) for a, d in zip(acts, signals, strict=True)], g_id

    def _chunks(self, x: np.ndarray, ids: np.ndarray | None) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        width = max(w.shape[1] + w.shape[2] for w in self.net.weights)
        step = max(1, _CHUNK_FLOATS // (width * len(self.net.weights)))
        for s in range(0, len(x), step):
            yield self.net.tensor(x[s : s + step]), self.net.id_tensor(None if ids is None else ids[s : s + step])

    def mean_var(self, x: np.ndarray, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Network outputs ``f(x)`` and ``lambda * sum_k g_k(x)^2 / Z_k`` of rows x [N, p]; each float64[N].

        ``ids`` int64[N] are the rows' item ids if the network reads ids. The variance term
        is 1 per unit ``||g||^2`` at the prior (``Z = lambda I``) scale, so the exploration
        width multiplies a quantity that starts at ``||g(x)||^2``.
        """
        self._grow()
        means, variances = [], []
        with torch.no_grad():
            inv_w = [1.0 / z for z in self.z_w]
            inv_b = [1.0 / z for z in self.z_b]
            for xc, ic in self._chunks(x, ids):
                out, terms, g_id = self._terms(xc, ic)
                var = torch.zeros_like(out)
                for (a2, d2), iw, ib in zip(terms, inv_w, inv_b, strict=True):
                    var += ((a2 @ iw) * d2).sum(dim=1) + d2 @ ib
                if g_id is not None and self.z_id is not None:
                    var += (g_id / self.z_id[ic]).sum(dim=1)
                means.append(out.double().cpu().numpy())
                variances.append((self.ridge * var).double().cpu().numpy())
        return np.concatenate(means), np.concatenate(variances)

    def add(self, x: np.ndarray, ids: np.ndarray | None = None) -> None:
        """``Z += g(x)^2`` for every row of x [B, p] with ids int64[B] (the chosen candidates)."""
        self._grow()
        with torch.no_grad():
            for xc, ic in self._chunks(x, ids):
                _, terms, g_id = self._terms(xc, ic)
                for (a2, d2), zw, zb in zip(terms, self.z_w, self.z_b, strict=True):
                    zw += a2.T @ d2
                    zb += d2.sum(dim=0)
                if g_id is not None and self.z_id is not None and ic is not None:
                    self.z_id.index_add_(0, ic, g_id)
