"""Compute accounting: FLOPs, wall seconds, peak memory and GPU seconds of a piece of work.

A :class:`ComputeMeter` wraps one unit of work (an ``encode`` call, a fine-tuning epoch, a
fit) and produces a :class:`ComputeRecord`; a :class:`CostAccumulator` sums records over
calls. ``ComputeRecord.to_dict()`` is what goes into a result file's ``cost`` field.

What each number means:

- ``seconds``: wall-clock seconds between entering and leaving the meter
  (``time.perf_counter``), including tokenisation, cache look-ups and host/device copies.
- ``flops``: floating-point operations of the model forward passes, as counted by
  ``torch.utils.flop_counter.FlopCounterMode`` (matrix products and attention; elementwise
  ops such as GELU, LayerNorm and softmax are not counted, which is < 1% for a BERT). A
  multiply-add counts as 2 FLOPs. Work served from a cache counts 0 FLOPs.
  ``flops_method`` says how they were obtained (see :data:`FLOPS_METHODS`).
- ``peak_rss_bytes``: the process's resident-set high-water mark at the end of the work
  (``resource.getrusage(RUSAGE_SELF).ru_maxrss``); it is monotone over the life of the
  process, so it bounds the work's own peak from above. ``rss_growth_bytes`` is how much the
  work raised that high-water mark (0 when an earlier peak was higher).
- ``peak_gpu_bytes``: ``torch.cuda.max_memory_allocated`` over the work (the peak statistics
  are reset on entry), ``None`` off the GPU.
- ``gpu_seconds``: elapsed time between two CUDA events recorded on the current stream at
  entry and exit (after a synchronise), ``None`` off the GPU.
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

FLOPS_METHODS = {
    "none": "no FLOPs were counted (no model call, or counting disabled)",
    "exact": "FlopCounterMode on every forward pass",
    "per-shape": (
        "FlopCounterMode on the first forward pass of each distinct input shape, reused for later passes "
        "of the same shape (exact for models whose FLOPs depend on the input shape only, such as BERT)"
    ),
    "mixed": "a sum of records obtained with different methods",
}


def _rss_high_water_bytes() -> int:
    """The process's peak resident set size in bytes (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


@dataclass
class ComputeRecord:
    """Cost of one unit of work (or, after :meth:`merge`, of several).

    Attributes:
        what: label of the work (``"encode"``, ``"fit"``, ...).
        device: device the work ran on (``"cpu"``, ``"cuda:0"``; comma-joined after merging
            records from different devices).
        seconds: wall-clock seconds.
        flops: counted FLOPs (0 when nothing was counted; see ``flops_method``).
        flops_method: one of :data:`FLOPS_METHODS`.
        peak_rss_bytes: process RSS high-water mark at the end of the work.
        rss_growth_bytes: how much the work raised the RSS high-water mark.
        peak_gpu_bytes: peak ``torch.cuda`` allocated bytes during the work, ``None`` off the GPU.
        gpu_seconds: CUDA-event seconds, ``None`` off the GPU.
        calls: units of work summed in this record (1 for a single call).
        items: items processed (texts for an encoder), cache hits included.
        tokens: non-padding tokens sent through the model.
        padded_tokens: tokens sent through the model including padding (batch x length).
        forward_calls: model forward passes.
        cache_hits: items served from a cache.
        cache_misses: items looked up in a cache and not found (0 when no cache is attached).
    """

    what: str = "encode"
    device: str = "cpu"
    seconds: float = 0.0
    flops: int = 0
    flops_method: str = "none"
    peak_rss_bytes: int = 0
    rss_growth_bytes: int = 0
    peak_gpu_bytes: int | None = None
    gpu_seconds: float | None = None
    calls: int = 1
    items: int = 0
    tokens: int = 0
    padded_tokens: int = 0
    forward_calls: int = 0
    cache_hits: int = 0
    cache_misses: int = 0

    def __post_init__(self) -> None:
        if self.flops_method not in FLOPS_METHODS:
            raise ValueError(f"unknown flops_method {self.flops_method!r}; allowed values: {', '.join(FLOPS_METHODS)}")

    @property
    def cache_hit_rate(self) -> float | None:
        """Share of cache look-ups that hit, ``None`` when nothing was looked up."""
        total = self.cache_hits + self.cache_misses
        return None if total == 0 else self.cache_hits / total

    @property
    def flops_per_item(self) -> float | None:
        """Counted FLOPs per item, ``None`` when there were no items."""
        return None if self.items == 0 else self.flops / self.items

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (the ``cost`` field of a result record), with the hit rate added."""
        out = asdict(self)
        out["cache_hit_rate"] = self.cache_hit_rate
        return out

    def merge(self, other: ComputeRecord) -> ComputeRecord:
        """Sum of two records: times, FLOPs and counts add; peaks take the maximum."""
        if self.calls == 0:
            return ComputeRecord(**{f.name: getattr(other, f.name) for f in fields(other)})
        if other.calls == 0:
            return ComputeRecord(**{f.name: getattr(self, f.name) for f in fields(self)})
        devices = sorted(set(self.device.split(",")) | set(other.device.split(",")))
        methods = {self.flops_method, other.flops_method} - {"none"}
        method = "none" if not methods else methods.pop() if len(methods) == 1 else "mixed"
        return ComputeRecord(
            what=self.what if self.what == other.what else f"{self.what}+{other.what}",
            device=",".join(devices),
            seconds=self.seconds + other.seconds,
            flops=self.flops + other.flops,
            flops_method=method,
            peak_rss_bytes=max(self.peak_rss_bytes, other.peak_rss_bytes),
            rss_growth_bytes=self.rss_growth_bytes + other.rss_growth_bytes,
            peak_gpu_bytes=_max_optional(self.peak_gpu_bytes, other.peak_gpu_bytes),
            gpu_seconds=_sum_optional(self.gpu_seconds, other.gpu_seconds),
            calls=self.calls + other.calls,
            items=self.items + other.items,
            tokens=self.tokens + other.tokens,
            padded_tokens=self.padded_tokens + other.padded_tokens,
            forward_calls=self.forward_calls + other.forward_calls,
            cache_hits=self.cache_hits + other.cache_hits,
            cache_misses=self.cache_misses + other.cache_misses,
        )


def _max_optional(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _sum_optional(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else a + b


@dataclass
class CostAccumulator:
    """Running total of :class:`ComputeRecord` s (``encoder.cost``).

    Attributes:
        total: the sum of every record added so far (``calls == 0`` before the first).
    """

    total: ComputeRecord = field(default_factory=lambda: ComputeRecord(what="total", calls=0))

    def add(self, record: ComputeRecord) -> None:
        """Add one record to the total."""
        self.total = self.total.merge(record)

    def reset(self) -> None:
        """Forget every record."""
        self.total = ComputeRecord(what="total", calls=0)

    def to_dict(self) -> dict[str, Any]:
        """The total as a plain dict."""
        return self.total.to_dict()

    def __getattr__(self, name: str) -> Any:
        # Convenience: ``encoder.cost.flops`` reads the total's field.
        readable = name in ComputeRecord.__dataclass_fields__ or name in ("cache_hit_rate", "flops_per_item")
        if name != "total" and readable:
            return getattr(self.total, name)
        raise AttributeError(name)


class ComputeMeter:
    """Context manager that measures a unit of work and builds its :class:`ComputeRecord`.

    Usage::

        with ComputeMeter("encode", device) as meter:
            ...                           # the work
            meter.add_flops(n, "exact")   # FLOPs counted by the caller
            meter.count(items=32, forward_calls=1)
        record = meter.record

    On a CUDA device the meter resets the peak-memory statistics and records CUDA events on
    entry; on exit it synchronises the device and reads the elapsed GPU time and peak
    allocated bytes. This GPU path runs only when ``device`` is a CUDA device.

    Args:
        what: label of the work.
        device: ``torch.device`` or string the work runs on.
    """

    def __init__(self, what: str, device: Any = "cpu") -> None:
        self.what = what
        self.device = str(device)
        self._is_cuda = self.device.startswith("cuda")
        self._counts: dict[str, int] = {}
        self._flops = 0
        self._methods: set[str] = set()
        self.record: ComputeRecord | None = None

    def add_flops(self, flops: int, method: str) -> None:
        """Add counted FLOPs, obtained with ``method`` (a key of :data:`FLOPS_METHODS`)."""
        if method not in FLOPS_METHODS:
            raise ValueError(f"unknown flops method {method!r}; allowed values: {', '.join(FLOPS_METHODS)}")
        self._flops += int(flops)
        self._methods.add(method)

    def count(self, **counts: int) -> None:
        """Add to the record's counters (``items``, ``tokens``, ``forward_calls``, ``cache_hits``, ...)."""
        for key, value in counts.items():
            if key not in _COUNTERS:
                raise ValueError(f"unknown counter {key!r}; allowed values: {', '.join(_COUNTERS)}")
            self._counts[key] = self._counts.get(key, 0) + int(value)

    def __enter__(self) -> ComputeMeter:
        self._rss0 = _rss_high_water_bytes()
        self._start_event: Any = None
        if self._is_cuda:  # pragma: no cover - needs a GPU
            import torch

            dev = torch.device(self.device)
            torch.cuda.synchronize(dev)
            torch.cuda.reset_peak_memory_stats(dev)
            self._start_event = torch.cuda.Event(enable_timing=True)
            self._start_event.record(torch.cuda.current_stream(dev))
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        gpu_seconds = peak_gpu = None
        if self._is_cuda and self._start_event is not None:  # pragma: no cover - needs a GPU
            import torch

            dev = torch.device(self.device)
            end = torch.cuda.Event(enable_timing=True)
            end.record(torch.cuda.current_stream(dev))
            torch.cuda.synchronize(dev)
            gpu_seconds = self._start_event.elapsed_time(end) / 1000.0
            peak_gpu = int(torch.cuda.max_memory_allocated(dev))
        seconds = time.perf_counter() - self._t0
        rss = _rss_high_water_bytes()
        methods = self._methods - {"none"}
        method = "none" if not methods else methods.pop() if len(methods) == 1 else "mixed"
        self.record = ComputeRecord(
            what=self.what,
            device=self.device,
            seconds=seconds,
            flops=self._flops,
            flops_method=method,
            peak_rss_bytes=rss,
            rss_growth_bytes=max(0, rss - self._rss0),
            peak_gpu_bytes=peak_gpu,
            gpu_seconds=gpu_seconds,
            **self._counts,
        )


_COUNTERS = ("items", "tokens", "padded_tokens", "forward_calls", "cache_hits", "cache_misses")


def count_flops(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, int]:
    """Run ``fn(*args, **kwargs)`` under ``FlopCounterMode`` and return ``(result, flops)``.

    Besides PyTorch's own formulas, the CPU flash-attention kernel that
    ``scaled_dot_product_attention`` dispatches to on CPU
    (``aten._scaled_dot_product_flash_attention_for_cpu``, not in PyTorch's table) is counted
    with PyTorch's SDPA formula, so eager and SDPA attention count the same FLOPs.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

    def cpu_sdpa_flop(query_shape: Any, key_shape: Any, value_shape: Any, *args: Any, **kwargs: Any) -> int:
        # FlopCounterMode passes shapes (it wraps custom formulas with its shape_wrapper).
        return sdpa_flop_count(query_shape, key_shape, value_shape)

    custom: dict[Any, Any] = {}
    cpu_flash = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if cpu_flash is not None:
        custom[cpu_flash] = cpu_sdpa_flop
    counter = FlopCounterMode(display=False, custom_mapping=custom)
    with counter:
        out = fn(*args, **kwargs)
    return out, int(counter.get_total_flops())
