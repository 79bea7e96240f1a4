"""Where and in what precision the arithmetic runs: the device, float32 or bfloat16, and the record of both.

bf16 runs under `torch.autocast`: the weights, the optimizer and the sums stay float32, while matrix products, the
CPU's oneDNN LSTM, and attention run in bfloat16. Whether that pays depends on the CPU: issue 33 measured a BiLSTM
training step 1.6x faster on a Xeon with AMX, but on a 2-core Xeon with AVX512-BF16 and no AMX the self-attention
model trained 1.3x and the multi-head model 2.1x slower than in float32, and AVX2-only CPUs emulate it
(docs/performance.md). So `auto` picks bf16 on CPUs with AMX and on CUDA GPUs that compute it, float32 elsewhere.
Training and inference (the test scores, evaluate's attention, predict, the served model) run in the same precision.
"""

from __future__ import annotations

import contextlib
import platform
from functools import cache

import torch

from pipeline.errors import PipelineError

FAST_BF16_CPU_FLAG = "amx_bf16"  # /proc/cpuinfo's name for AMX's bf16 matrix instructions


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise PipelineError("train.device=cuda but no CUDA GPU is visible; set train.device to auto or cpu")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_precision(name: str, device: torch.device) -> str:
    """'bf16' or 'fp32' for train.precision `name` on `device`: auto is bf16 where the device computes it fast."""
    if name != "auto":
        return name
    return "bf16" if fast_bf16(device) else "fp32"


def fast_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return FAST_BF16_CPU_FLAG in cpu_flags()


@cache
def cpu_flags() -> frozenset[str]:
    """The instruction set flags of this machine's CPU, as Linux lists them (empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return frozenset(next(line.split(":", 1)[1].split() for line in cpuinfo if line.startswith("flags")))
    except (OSError, StopIteration):
        return frozenset()


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The context a forward pass (and its loss) runs in for `precision` ('bf16' or 'fp32')."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def compute_used(device: torch.device, precision: str) -> dict[str, str | int]:
    """What the arithmetic ran on. Same params and seed give the same numbers only on the same kernels, precision and
    thread count: torch picks its CPU kernels (AVX512, AVX2, ...) from the processor, and splits sums across threads."""
    if device.type == "cuda":
        return {"device": "cuda", "processor": torch.cuda.get_device_name(device), "precision": precision}
    return {"device": "cpu", "processor": processor_name(), "kernels": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads(), "precision": precision}


def processor_name() -> str:
    """The CPU's model name, as lscpu shows it."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()
