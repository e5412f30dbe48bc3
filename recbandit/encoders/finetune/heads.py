"""The two-tower heads fitted around the text encoder (:class:`TwoTowerHeads`).

The model, trained with binary cross-entropy on the log's binary reward (the click for
binary logs, ``rating >= rating_threshold`` for rating logs)::

    item vector   z_i = W_item (e_i - c)         e_i = pooled (normalised) encoder output of item i's text
    user vector   u   = E_user[u]                learned id embedding (users with training rows)
                      + W_hist mean(e_j - c : j liked by u in the fit period, the row's own item left out)
                      + W_text (t_u - c_t)       t_u = encoded profile text (when the log has user text)
    P(like)           = sigmoid(<u, z_i> + w.(e_i - c) + b_i + b_u + b)
                                                 w: appeal read from the text (cold items, new users)
                                                 b_i, b_u: learned per item / user seen in training

(``c`` and ``c_t`` are the mean item and profile vectors of the training texts.)
"""

from __future__ import annotations

import math

import torch


class TwoTowerHeads(torch.nn.Module):
    """The trainable parts of the two-tower model around the text encoder.

    Args:
        dim: encoder output size ``d``.
        projection_dim: tower output size ``p``.
        n_users: users of the log (ids index the id embedding).
        n_items: items of the log (ids index the item bias).
        user_text: whether a profile-text projection exists.
        user_history: whether a history projection exists.
        user_id: whether a user id embedding exists.
        item_bias: whether a per-item bias exists.
        user_bias: whether a per-user bias exists.
        generator: draws the initial projections (see :meth:`reset_parameters`); ``None``
            leaves every weight zero (for loading saved weights). Nothing is drawn from
            torch's global RNG.

    Buffers ``user_known`` / ``item_known`` (bool) mark the users and items that had fit
    rows; the id embedding and the biases of the others count as zero. Buffers
    ``item_center`` / ``profile_center`` (float32[d]) are the mean item and profile vectors
    of the training texts (set at every feature refresh): the towers see centred vectors, as
    sentence embeddings share a large common component that would otherwise swamp the
    differences between texts at the start of training.
    """

    # Buffers (registered in __init__), declared for the type checker: Module.__getattr__
    # would type them as ``Tensor | Module``.
    user_known: torch.Tensor
    item_known: torch.Tensor
    item_center: torch.Tensor
    profile_center: torch.Tensor

    def __init__(
        self,
        dim: int,
        projection_dim: int,
        n_users: int,
        n_items: int,
        *,
        user_text: bool,
        user_history: bool,
        user_id: bool,
        item_bias: bool,
        user_bias: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        p = projection_dim

        def linear() -> torch.nn.Linear:
            # skip_init: nn.Linear's own initialisation would draw from the global RNG.
            lin = torch.nn.utils.skip_init(torch.nn.Linear, dim, p, bias=False)
            torch.nn.init.zeros_(lin.weight)
            return lin

        self.item_proj = linear()
        # A user-independent appeal read from the text: carries popularity to cold items and new users.
        self.item_text_bias = torch.nn.utils.skip_init(torch.nn.Linear, dim, 1, bias=False)
        torch.nn.init.zeros_(self.item_text_bias.weight)
        self.history_proj = linear() if user_history else None
        self.text_proj = linear() if user_text else None
        self.user_embedding = torch.nn.Parameter(torch.zeros(n_users, p)) if user_id else None
        self.item_bias = torch.nn.Parameter(torch.zeros(n_items)) if item_bias else None
        self.user_bias = torch.nn.Parameter(torch.zeros(n_users)) if user_bias else None
        self.bias = torch.nn.Parameter(torch.zeros(()))
        self.register_buffer("user_known", torch.zeros(n_users, dtype=torch.bool))
        self.register_buffer("item_known", torch.zeros(n_items, dtype=torch.bool))
        self.register_buffer("item_center", torch.zeros(dim))
        self.register_buffer("profile_center", torch.zeros(dim))
        if generator is not None:
            self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Projections ~ N(0, 1/d) drawn from ``generator``; embeddings and biases zero."""
        with torch.no_grad():
            for lin in (self.item_proj, self.history_proj, self.text_proj):
                if lin is not None:
                    w = torch.randn(lin.weight.shape, generator=generator) / math.sqrt(lin.weight.shape[1])
                    lin.weight.copy_(w.to(lin.weight.device))
            for param in (self.user_embedding, self.item_bias, self.user_bias):
                if param is not None:
                    param.zero_()
            self.bias.zero_()

    def forward(
        self,
        item_vectors: torch.Tensor,
        users: torch.Tensor,
        items: torch.Tensor,
        history: torch.Tensor | None = None,
        profile: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Like logits.

        Args:
            item_vectors: float32[B, d] encoder vectors of the rows' items.
            users: int64[B] user indices.
            items: int64[B] item indices.
            history: float32[B, d] mean history vectors, already centred (zero rows for users
                without history); needed when the history tower exists.
            profile: float32[B, d] profile-text vectors (needed when the text tower exists).

        Returns:
            float32[B] logits.
        """
        centred = item_vectors - self.item_center
        z = self.item_proj(centred)
        u = torch.zeros_like(z)
        if self.user_embedding is not None:
            u = u + self.user_embedding[users] * self.user_known[users].unsqueeze(1)
        if self.history_proj is not None:
            if history is None:
                raise ValueError("history vectors are required: the heads have a history tower")
            u = u + self.history_proj(history)
        if self.text_proj is not None:
            if profile is None:
                raise ValueError("profile vectors are required: the heads have a profile-text tower")
            u = u + self.text_proj(profile - self.profile_center)
        logits = (u * z).sum(dim=1) + self.item_text_bias(centred).squeeze(1) + self.bias
        if self.item_bias is not None:
            logits = logits + self.item_bias[items] * self.item_known[items]
        if self.user_bias is not None:
            logits = logits + self.user_bias[users] * self.user_known[users]
        return logits
