"""The transformer side of fine-tuning: finding its layers, adding LoRA adapters, padding, digests."""

from __future__ import annotations

import contextlib
import hashlib
import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from recbandit.encoders.finetune.config import FineTuneConfig

# Where the list of transformer layers sits in the architectures transformers ships.
LAYER_PATHS = ("encoder.layer", "transformer.layer", "encoder.layers", "layers", "layer")


def transformer_layers(model: torch.nn.Module) -> tuple[str, torch.nn.ModuleList]:
    """The list of transformer blocks of a transformers model and its dotted path.

    Raises:
        ValueError: no layer list at any of the known paths (``encoder.layer`` for BERT and
            RoBERTa, ``transformer.layer`` for DistilBERT, ...).
    """
    get_base_model = getattr(model, "get_base_model", None)  # a peft model wraps the transformer
    base = get_base_model() if get_base_model is not None else model
    for path in LAYER_PATHS:
        obj: Any = base
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, torch.nn.ModuleList) and len(obj) > 0:
            return path, obj
    raise ValueError(
        f"cannot find the transformer layers of {type(base).__name__}: looked for {', '.join(LAYER_PATHS)}"
    )


def add_lora(model: torch.nn.Module, config: FineTuneConfig, generator: torch.Generator) -> torch.nn.Module:
    """``model`` wrapped by peft with LoRA adapters as ``config`` says; A drawn from ``generator``, B zero.

    Raises:
        ValueError: none of ``config.lora_target_modules`` is in the model (the message lists
            the names of its linear modules).
    """
    from peft import LoraConfig, get_peft_model
    from peft.tuners.lora import LoraLayer

    lora = LoraConfig(
        r=config.lora_r,
        # peft annotates lora_alpha as int but only divides by it (scaling = lora_alpha / r): a float is fine.
        lora_alpha=config.lora_alpha,  # type: ignore[arg-type]
        lora_dropout=config.lora_dropout,
        target_modules=list(config.lora_target_modules),
        bias="none",
    )
    # peft draws the initial A matrices from the global RNG: fork it, then redraw below.
    try:
        with torch.random.fork_rng(devices=[]), quiet_peft():
            peft_model: torch.nn.Module = get_peft_model(model, lora)
    except ValueError as exc:
        names = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)})
        raise ValueError(
            f"lora_target_modules {list(config.lora_target_modules)} not found in the model ({exc}); "
            f"its linear modules are named {names}"
        ) from None
    with torch.no_grad():
        for module in peft_model.modules():
            if not isinstance(module, LoraLayer):
                continue
            for adapter in module.lora_A.values():
                w = adapter.get_parameter("weight")
                bound = 1.0 / math.sqrt(w.shape[1])  # kaiming_uniform(a=sqrt(5)), as peft and nn.Linear
                w.copy_((torch.rand(w.shape, generator=generator) * 2 - 1).mul_(bound).to(w.device))
            for adapter in module.lora_B.values():
                adapter.get_parameter("weight").zero_()
    return peft_model


def pad_ids(ids: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id lists -> (long[B, L] ids padded with ``pad_id``, long[B, L] attention mask)."""
    width = max(len(x) for x in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for j, row in enumerate(ids):
        input_ids[j, : len(row)] = row
        mask[j, : len(row)] = 1
    return torch.from_numpy(input_ids).to(device), torch.from_numpy(mask).to(device)


def tensor_digest(tensors: dict[str, torch.Tensor]) -> dict[str, str]:
    """Name -> ``dtype/shape/sha256`` of each tensor's bytes (on CPU, contiguous)."""
    out = {}
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        raw = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
        out[name] = f"{t.dtype}/{list(t.shape)}/{hashlib.sha256(raw).hexdigest()}"
    return out


@contextlib.contextmanager
def quiet_peft() -> Iterator[None]:
    """Silence peft's notes about base-model names (a local folder is not a hub id)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*base_model_name_or_path.*")
        warnings.filterwarnings("ignore", message=".*model card.*")
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield
