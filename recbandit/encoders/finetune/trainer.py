"""The training loop of a fit (:class:`Trainer`): steps, validation, early stopping, FLOPs.

The item tower runs the encoder with gradients (top-k, LoRA) on every mini-batch; the
history and profile features are computed with the encoder in eval mode at the start of
every epoch (no gradient through them). ``negatives`` adds sampled negatives per row:
items drawn uniformly from the trained rows' items, skipping those the user liked.

With ``probe_epochs`` the heads are first fitted alone on every fit-period row (cheap:
the frozen vectors are computed once), then the mode's own training starts from them
("linear probing, then fine-tuning", Kumar et al., ICLR 2022); a fine-tuned encoder then
has to beat a well-fitted frozen one on validation, or the best state stays the probed
one. Mini-batches of shuffled fit rows, AdamW (separate learning rates for the encoder and
the heads), gradient clipping, and early stopping with ``patience`` on the validation log
loss; the best state is restored at the end.

Compute accounting: the whole fit is one :class:`~recbandit.encoders.accounting.ComputeRecord`
(``what="fine-tune"``): wall seconds, peak RSS, device, CUDA-event seconds and peak GPU
memory on a GPU. FLOPs are counted with ``FlopCounterMode`` (``flops_method="per-shape"``):
the forward and the backward pass of the first training step of each distinct shape
(rows, distinct items, longest text) are counted, and every later step of the same shape
adds the same count; the same for the no-gradient passes (feature refreshes, validation).
For BERT-like models, whose FLOPs depend on the input shapes only, this equals counting
every step (which the counter would slow down several-fold on small models).
``FitReport.flops`` splits the total into training forward, training backward and
no-gradient passes. An encoder built with ``count_flops=False`` counts nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
import torch

from recbandit._stats import log_loss, roc_auc
from recbandit._torch import seeded_torch_rng
from recbandit.data.logged import LoggedData
from recbandit.encoders.accounting import ComputeMeter, count_flops
from recbandit.encoders.finetune.config import FineTuneConfig
from recbandit.encoders.finetune.features import UserFeatures
from recbandit.encoders.finetune.plan import FitPlan
from recbandit.encoders.finetune.report import FitReport
from recbandit.encoders.finetune.tuned import TunedTextEncoder


class Trainer:
    """One fit: the loop, validation, early stopping and bookkeeping."""

    def __init__(
        self,
        enc: TunedTextEncoder,
        data: LoggedData,
        plan: FitPlan,
        cfg: FineTuneConfig,
        rng: np.random.Generator,
        meter: ComputeMeter,
    ) -> None:
        self.enc, self.data, self.plan, self.cfg, self.rng, self.meter = enc, data, plan, cfg, rng, meter
        self.trainable = enc.mode != "frozen"
        inter = data.interactions
        self.flops = {"train_forward": 0, "train_backward": 0, "no_grad": 0}
        self.memo: dict[tuple[Any, ...], int] = {}
        # Texts the fit reads: items of fit and validation rows, history items, negatives' pool.
        items = [plan.fit_items, inter.item[plan.val_rows], inter.item[plan.history_rows]]
        self.items = np.unique(np.concatenate(items))
        # Fit rows' items (negatives are drawn from them too); none when the encoder is frozen.
        self.items_trained = np.unique(inter.item[plan.fit_rows]) if self.trainable else plan.fit_items[:0]
        users = np.unique(np.concatenate([inter.user[plan.trained_rows], inter.user[plan.val_rows]]))
        self.features = UserFeatures(enc, enc.heads, data, plan.history_rows, users)
        self.ids: dict[int, list[int]] = dict(
            zip(self.items.tolist(), enc.tokenize([data.items.text[i] for i in self.items]), strict=True)
        )
        self.profile_ids: list[list[int]] = []
        if self.features.use_text:
            assert data.users.text is not None
            self.profile_ids = enc.tokenize([data.users.text[u] for u in self.features.users])
        meter.count(items=len(self.items) + len(self.profile_ids))
        self.in_history = np.zeros(len(inter), dtype=bool)
        self.in_history[plan.history_rows] = True
        # (user, item) keys of the likes in the fit period: sampled negatives skip them.
        self.n_items = len(data.items)
        fit_period_likes = plan.fit_rows[plan.labels[plan.fit_rows] == 1]
        self.liked_keys = np.unique(
            np.concatenate(
                [inter.user[r] * self.n_items + inter.item[r] for r in (plan.history_rows, fit_period_likes)]
            )
        )
        params = [p for _, p in enc.trainable_parameters()]
        groups: list[dict[str, Any]] = [{"params": list(enc.heads.parameters()), "lr": cfg.head_lr}]
        if params:
            groups.append({"params": params, "lr": cfg.lr})
        self.opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
        self.params = [p for g in groups for p in g["params"]]

    # ------------------------------------------------------------------ pieces

    def counted(self, kind: str, key: tuple[int, ...], fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``, adding its FLOPs to ``self.flops[kind]``: counted on the first call per (kind, key).

        ``key`` holds every shape the FLOPs depend on, so later calls with the same key reuse
        the count (the ``"per-shape"`` method); nothing is counted when the encoder's
        ``count_flops`` is off.
        """
        if not self.enc.count_flops:
            return fn(*args)
        known = self.memo.get((kind, *key))
        if known is not None:
            self.flops[kind] += known
            return fn(*args)
        out, n = count_flops(fn, *args)
        self.memo[(kind, *key)] = n
        self.flops[kind] += n
        return out

    def embed(self, ids: Sequence[Sequence[int]]) -> torch.Tensor:
        """Pooled vectors float32[n, dim] of token-id lists: eval mode, no gradient, length-sorted batches."""
        enc = self.enc
        out = torch.empty((len(ids), enc.dim), dtype=torch.float32, device=enc.device)
        if not ids:
            return out
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(-lengths, kind="stable")
        was_training = enc.model.training
        enc.model.eval()
        with torch.no_grad():
            for start in range(0, len(ids), enc.batch_size):
                rows = order[start : start + enc.batch_size]
                key = (len(rows), int(lengths[rows].max()))
                vec = self.counted("no_grad", key, enc._pooled, [ids[r] for r in rows])
                out[torch.from_numpy(rows).to(enc.device)] = vec
                self.meter.count(forward_calls=1, tokens=int(lengths[rows].sum()), padded_tokens=key[0] * key[1])
        enc.model.train(was_training)
        return out

    def refresh(self) -> None:
        """Recompute the stale item and profile tables with the current encoder (eval, no grad)."""
        vectors = self.embed([self.ids[i] for i in self.items.tolist()])
        profile = self.embed(self.profile_ids) if self.features.use_text else None
        heads = self.enc.heads
        heads.item_center.copy_(vectors.mean(dim=0))
        if profile is not None and len(profile):
            heads.profile_center.copy_(profile.mean(dim=0))
        self.features.set_tables(self.items, vectors, profile)

    def batch_logits(self, users: np.ndarray, items: np.ndarray, in_hist: np.ndarray, *, grad: bool) -> torch.Tensor:
        """Logits of a batch; item vectors from the encoder with gradients (trained modes) or the table."""
        enc = self.enc
        if grad and self.trainable:
            uniq, inv = np.unique(items, return_inverse=True)
            ids = [self.ids[i] for i in uniq.tolist()]
            width = max(len(x) for x in ids)
            self.meter.count(tokens=sum(len(x) for x in ids), padded_tokens=len(ids) * width, forward_calls=1)
            item_vectors = enc._pooled(ids)[torch.from_numpy(inv).to(enc.device)]
        else:
            item_vectors = self.features.E[torch.from_numpy(self.features.item_pos[items]).to(enc.device)]
        return self.features.logits(enc.heads, item_vectors, users, items, in_hist)

    def item_batch_shape(self, items: np.ndarray) -> tuple[int, int]:
        """(distinct items, longest token count) of a training batch; (0, 0) when the encoder is frozen."""
        if not self.trainable:
            return (0, 0)
        uniq = np.unique(items)
        return len(uniq), max(len(self.ids[i]) for i in uniq.tolist())

    def loss(
        self, users: np.ndarray, items: np.ndarray, in_hist: np.ndarray, target: torch.Tensor, tune: bool
    ) -> torch.Tensor:
        """Mean binary cross-entropy of a training batch (encoder forward with gradients when ``tune``)."""
        logits = self.batch_logits(users, items, in_hist, grad=tune)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, target)

    def validate(self) -> tuple[float | None, float | None]:
        """Validation log loss and AUC with the current weights (fresh item vectors, stale history)."""
        rows = self.plan.val_rows
        if not len(rows):
            return None, None
        inter = self.data.interactions
        if self.trainable:  # item vectors of the current weights
            uniq = np.unique(inter.item[rows])
            fresh = self.embed([self.ids[i] for i in uniq.tolist()])
            saved_e, saved_pos = self.features.E, self.features.item_pos.copy()
            table = saved_e.clone()
            table[torch.from_numpy(saved_pos[uniq]).to(self.enc.device)] = fresh
            self.features.E = table
        self.enc.heads.eval()
        probs = []
        with torch.no_grad():
            for start in range(0, len(rows), 4096):
                r = rows[start : start + 4096]
                args = (inter.user[r], inter.item[r], self.in_history[r])
                logits = self.counted("no_grad", (len(r),), partial(self.batch_logits, grad=False), *args)
                probs.append(torch.sigmoid(logits).double().cpu().numpy())
        if self.trainable:
            self.features.E = saved_e
        p = np.concatenate(probs)
        y = self.plan.labels[rows]
        return log_loss(y, p), roc_auc(y, p)

    def state(self) -> list[torch.Tensor]:
        """Everything the best state holds: trained parameters and the heads' centres."""
        return [*self.params, self.enc.heads.item_center, self.enc.heads.profile_center]

    def snapshot(self) -> list[torch.Tensor]:
        """Detached copies of :meth:`state` (the best state so far)."""
        return [t.detach().clone() for t in self.state()]

    def restore(self, saved: list[torch.Tensor]) -> None:
        """Copy a :meth:`snapshot` back into the trained tensors."""
        with torch.no_grad():
            for t, s in zip(self.state(), saved, strict=True):
                t.copy_(s)

    # ------------------------------------------------------------------ the loop

    def batch(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(users, items, labels, in_history) of fit rows plus their sampled negatives."""
        cfg, plan, inter = self.cfg, self.plan, self.data.interactions
        users, items = inter.user[rows], inter.item[rows]
        labels, in_hist = plan.labels[rows], self.in_history[rows]
        if cfg.negatives:
            neg = plan.fit_items[self.rng.integers(len(plan.fit_items), size=len(rows) * cfg.negatives)]
            neg_users = np.repeat(users, cfg.negatives)
            keep = ~np.isin(neg_users * self.n_items + neg, self.liked_keys)
            users = np.concatenate([users, neg_users[keep]])
            items = np.concatenate([items, neg[keep]])
            labels = np.concatenate([labels, np.zeros(int(keep.sum()))])
            in_hist = np.concatenate([in_hist, np.zeros(int(keep.sum()), dtype=bool)])
        return users, items, labels, in_hist

    def step(self, rows: np.ndarray, *, tune: bool) -> float:
        """One AdamW step on ``rows``; the encoder gets gradients when ``tune`` (else heads only)."""
        enc, cfg = self.enc, self.cfg
        users, items, labels, in_hist = self.batch(rows)
        enc.model.train(tune)
        enc.heads.train()
        self.opt.zero_grad(set_to_none=True)
        target = torch.from_numpy(labels.astype(np.float32)).to(enc.device)
        # The step's FLOPs depend on the item batch's shape (when tuning) and the row count.
        key = (len(users), *(self.item_batch_shape(items) if tune else (0, 0)))
        loss = self.counted("train_forward", key, self.loss, users, items, in_hist, target, tune)
        self.counted("train_backward", key, loss.backward)
        if cfg.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm)
        self.opt.step()
        return float(loss.detach())

    def run(self, dropout_seed: int) -> FitReport:
        """Train (probe phase, then the mode's own), restore the best state and report.

        Args:
            dropout_seed: seed of torch's global generator for the steps (dropout), restored after.
        """
        cfg, plan, enc, rng = self.cfg, self.plan, self.enc, self.rng
        self.refresh()
        val_loss, val_auc = self.validate()
        curve = [
            {"step": 0, "epoch": 0, "phase": "start", "train_loss": None, "val_loss": val_loss, "val_auc": val_auc}
        ]
        initial = {"val_loss": val_loss, "val_auc": val_auc}
        best = dict(initial)
        best_loss = math.inf if val_loss is None else val_loss
        best_state, best_step, stopped, step, epochs = self.snapshot(), 0, False, 0, 0
        # Phase 1 (probe_epochs): heads only, on every fit-period row. Phase 2: the mode's
        # training (heads, plus the encoder when it is tuned) on the fit rows.
        phases = [("probe", cfg.probe_epochs, plan.probe_rows, cfg.probe_batch_size, False)]
        phases.append(("tune", cfg.epochs, plan.fit_rows, cfg.batch_size, self.trainable))
        with seeded_torch_rng(dropout_seed, enc.device):
            for phase, n_epochs, fit, batch_size, tune in phases:
                head_lr = cfg.probe_lr if phase == "probe" and cfg.probe_lr is not None else cfg.head_lr
                self.opt.param_groups[0]["lr"] = head_lr
                bad = 0
                losses: list[float] = []
                every = cfg.eval_every if phase == "tune" else None
                steps_per_epoch = math.ceil(len(fit) / batch_size)
                for epoch in range(1, n_epochs + 1):
                    epochs += 1
                    if epoch > 1 and tune:
                        self.refresh()
                    order = fit[rng.permutation(len(fit))]
                    for b in range(steps_per_epoch):
                        losses.append(self.step(order[b * batch_size : (b + 1) * batch_size], tune=tune))
                        step += 1
                        last = b == steps_per_epoch - 1
                        final = last and epoch == n_epochs
                        if not ((every is not None and step % every == 0) or (every is None and last) or final):
                            continue
                        val_loss, val_auc = self.validate()
                        point = {"step": step, "epoch": epoch, "phase": phase, "train_loss": float(np.mean(losses))}
                        curve.append({**point, "val_loss": val_loss, "val_auc": val_auc})
                        losses = []
                        if val_loss is None or val_loss < best_loss:
                            best_loss = math.inf if val_loss is None else val_loss
                            best_state, best_step, bad = self.snapshot(), step, 0
                            best = {"val_loss": val_loss, "val_auc": val_auc}
                        else:
                            bad += 1
                        if bad >= cfg.patience and not final:
                            stopped = phase == "tune"
                            break
                    else:
                        continue
                    break  # patience ran out: end this phase
        self.restore(best_state)
        method = "per-shape" if enc.count_flops else "none"
        self.meter.add_flops(sum(self.flops.values()), method)
        n_enc = sum(p.numel() for p in enc.model.parameters())
        return FitReport(
            mode=enc.mode,
            seed=enc.seed,
            config=cfg.to_dict(),
            split_time=enc.split_time,
            data={k: v for k, v in enc.data_info.items() if k != "item_text_sha256"}
            | {"rows": len(self.data.interactions)},
            train_rows=plan.trained_rows,
            validation_rows=np.sort(plan.val_rows),
            history_rows=plan.history_rows,
            max_timestamp_seen=plan.max_ts,
            items_encoded=self.items,
            items_trained=self.items_trained,
            users_encoded=self.features.users,
            steps=step,
            epochs=epochs,
            best_step=best_step,
            stopped_early=stopped,
            curve=curve,
            initial=initial,
            best=best,
            parameters={
                "encoder_total": int(n_enc),
                "encoder_trained": int(sum(p.numel() for _, p in enc.trainable_parameters())),
                "heads": int(sum(p.numel() for p in enc.heads.parameters())),
            },
            flops={**self.flops, "method": method, "distinct_shapes": len(self.memo)},
        )
