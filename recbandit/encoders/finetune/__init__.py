"""Fine-tuning a :class:`~recbandit.encoders.text.TextEncoder` on the training period of a log.

Three modes (:data:`MODES`):

- ``"frozen"``: the transformer is not changed; only the two-tower heads are fitted (the
  baseline every tuned encoder is compared with). Its vectors and cache key are those of
  the plain encoder.
- ``"top-k"``: the last ``top_k`` transformer layers are trained; the embeddings, the lower
  layers and the pooler stay frozen.
- ``"lora"``: low-rank adapters (``peft.LoraConfig``: rank ``lora_r``, ``lora_alpha``,
  ``lora_dropout`` on ``lora_target_modules``, by default the attention ``query`` and
  ``value`` projections) are trained; every base weight stays frozen.

The objective is a two-tower like model trained with binary cross-entropy on the log's
binary reward, only on rows before ``split_time``. The modules:

- :mod:`~recbandit.encoders.finetune.config`: :data:`MODES`, :class:`FineTuneConfig`.
- :mod:`~recbandit.encoders.finetune.heads`: :class:`TwoTowerHeads` (the model's formula).
- :mod:`~recbandit.encoders.finetune.features`: labels and the users' history / profile features.
- :mod:`~recbandit.encoders.finetune.plan`: which rows a fit reads.
- :mod:`~recbandit.encoders.finetune.training`: :func:`fine_tune` (randomness, what it reads).
- :mod:`~recbandit.encoders.finetune.trainer`: the loop (probing, early stopping, FLOPs).
- :mod:`~recbandit.encoders.finetune.tuned`: :class:`TunedTextEncoder` (scoring, the saved
  folder's format, the cache key).
- :mod:`~recbandit.encoders.finetune.report`: :class:`FitReport`.
- :mod:`~recbandit.encoders.finetune.modeling`: layer lookup and LoRA adapters.

Usage::

    from recbandit.data.movielens import load_movielens
    from recbandit.encoders.finetune import TunedTextEncoder, fine_tune

    data = load_movielens("ml-100k")
    split = data.time_quantile(0.8)
    enc, report = fine_tune(None, data, mode="lora", split_time=split, seed=0, max_length=32)
    vectors = enc.encode(data.items.text)                        # float32[n_items, 384]
    test = np.flatnonzero(data.interactions.timestamp >= split)
    print(enc.evaluate(data, test))                              # held-out AUC of the two-tower model
    enc.save("tuned-minilm"); same = TunedTextEncoder.load("tuned-minilm")
"""

from __future__ import annotations

from recbandit._stats import log_loss, roc_auc
from recbandit.encoders.finetune.config import MODES, FineTuneConfig
from recbandit.encoders.finetune.heads import TwoTowerHeads
from recbandit.encoders.finetune.modeling import transformer_layers
from recbandit.encoders.finetune.report import FitReport
from recbandit.encoders.finetune.training import fine_tune
from recbandit.encoders.finetune.tuned import MANIFEST_FORMAT, MANIFEST_KIND, TunedTextEncoder

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_KIND",
    "MODES",
    "FineTuneConfig",
    "FitReport",
    "TunedTextEncoder",
    "TwoTowerHeads",
    "fine_tune",
    "log_loss",
    "roc_auc",
    "transformer_layers",
]
