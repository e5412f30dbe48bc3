"""Fitting a tuned encoder: :func:`fine_tune`.

Which rows are used: see :mod:`~recbandit.encoders.finetune.plan` (nothing at or after
``split_time`` is read). The :class:`FitReport` lists the rows (fit, validation, history),
the largest timestamp read, and every item and user text that went through the encoder;
items that appear only after the split are never encoded during the fit (they may of
course be encoded later, for the evaluation period).

Randomness: one ``np.random.Generator`` seeded by ``seed`` shuffles rows and samples
negatives, and seeds two ``torch.Generator`` s, for the heads' and for LoRA's initial
weights (so that every mode starts from the same heads and the same untrained model).
Dropout (the transformer's and LoRA's) takes no generator in torch, so the training steps
run under ``torch.random.fork_rng`` with the default generator seeded from the same
``np.random.Generator``; the caller's global torch RNG state is restored afterwards. The
same seed, data and settings give bit-identical weights on the same machine.
"""

from __future__ import annotations

import os
from dataclasses import fields, replace
from typing import Any

import numpy as np
import torch

from recbandit._torch import torch_generator, torch_threads
from recbandit._validation import check_choice, check_float, check_seed
from recbandit.data.logged import LoggedData
from recbandit.encoders.accounting import ComputeMeter
from recbandit.encoders.finetune.config import MODES, FineTuneConfig
from recbandit.encoders.finetune.features import data_summary
from recbandit.encoders.finetune.heads import TwoTowerHeads
from recbandit.encoders.finetune.plan import plan_rows
from recbandit.encoders.finetune.report import FitReport
from recbandit.encoders.finetune.trainer import Trainer
from recbandit.encoders.finetune.tuned import TunedTextEncoder
from recbandit.encoders.text import TextEncoder


def fine_tune(
    encoder: TextEncoder | str | os.PathLike[str] | None,
    data: LoggedData,
    *,
    mode: str,
    split_time: float,
    config: FineTuneConfig | None = None,
    seed: int = 0,
    **overrides: Any,
) -> tuple[TunedTextEncoder, FitReport]:
    """Fine-tune a text encoder on the training period (``timestamp < split_time``) of a log.

    Args:
        encoder: a frozen :class:`TextEncoder` (not modified: its model is copied), or a
            model folder / hub id / ``None`` (all-MiniLM-L6-v2) to build one with default
            settings. Its dtype must be float32.
        data: the log; item texts are the item tower's input, rewards the labels.
        mode: a key of :data:`MODES`.
        split_time: end of the training period (Unix seconds); rows at or after it are
            never read.
        config: hyper-parameters (default ``FineTuneConfig()``).
        seed: seed of every random draw of the fit.
        **overrides: :class:`FineTuneConfig` fields replacing those of ``config``.

    Returns:
        ``(tuned encoder, report)``: the encoder encodes with the tuned weights and scores
        pairs with :meth:`TunedTextEncoder.predict`; the report says which rows and texts
        the fit read, how validation went and what it cost.

    Raises:
        ValueError: unknown mode or config field, a setting out of range (``top_k`` above
            the layer count, unknown LoRA target modules), an empty training period, rewards
            that are not 0/1 (or a rating log without threshold), or a non-float32 encoder.
    """
    mode = check_choice("mode", mode, MODES)
    seed = check_seed("seed", seed)
    if config is None:
        config = FineTuneConfig()
    elif not isinstance(config, FineTuneConfig):
        raise ValueError(f"config must be a FineTuneConfig, got {type(config).__name__}")
    unknown = set(overrides) - {f.name for f in fields(FineTuneConfig)}
    if unknown:
        raise ValueError(f"unknown fine-tuning setting(s) {sorted(unknown)}; see FineTuneConfig")
    cfg = replace(config, **overrides) if overrides else config
    if not isinstance(data, LoggedData):
        raise ValueError(f"data must be a LoggedData, got {type(data).__name__}")
    split_time = check_float("split_time", split_time)
    if isinstance(encoder, TunedTextEncoder):
        raise ValueError("the encoder is already fine-tuned; start from a frozen TextEncoder or a model name")
    base = encoder if isinstance(encoder, TextEncoder) else TextEncoder(encoder)
    if base.dtype != "float32":
        raise ValueError(f"fine-tuning needs a float32 encoder, got dtype {base.dtype!r}")
    rng = np.random.default_rng(seed)
    plan = plan_rows(data, split_time, cfg, rng)
    # Separate streams, so that every mode starts from the same heads (LoRA's B is zero, so
    # the untrained model is the same in every mode) and the row order is the same too.
    heads_gen = torch_generator(int(rng.integers(2**63 - 1)))
    adapter_gen = torch_generator(int(rng.integers(2**63 - 1)))
    dropout_seed = int(rng.integers(2**63 - 1))
    heads = TwoTowerHeads(
        base.dim,
        cfg.projection_dim,
        len(data.users),
        len(data.items),
        user_text=cfg.user_text and data.users.text is not None,
        user_history=cfg.user_history,
        user_id=cfg.user_id,
        item_bias=cfg.item_bias,
        user_bias=cfg.user_bias,
        generator=heads_gen,
    )
    inter = data.interactions
    heads.user_known[torch.from_numpy(np.unique(inter.user[plan.trained_rows]))] = True
    heads.item_known[torch.from_numpy(plan.fit_items)] = True
    enc = TunedTextEncoder(
        base,
        mode=mode,
        config=cfg,
        seed=seed,
        heads=heads.to(base.device),
        split_time=split_time,
        data_info=data_summary(data),
        copy_model=True,
    )
    with torch_threads(enc.num_threads), ComputeMeter("fine-tune", enc.device) as meter:
        enc._setup(adapter_gen)
        report = Trainer(enc, data, plan, cfg, rng, meter).run(dropout_seed)
    enc._finish()
    enc.heads.eval().requires_grad_(False)
    assert meter.record is not None
    report.cost = meter.record
    report.adapter_fingerprint = enc.adapter_fingerprint()
    enc.report = report
    return enc, report
