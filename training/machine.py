"""What machine a figure was measured on: one helper for the reports and the benchmarks."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

__all__ = ["cpu_name", "describe", "machine_info"]


def cpu_name() -> str:
    """The CPU model as /proc/cpuinfo names it (else what `platform` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """CPU, cores, accelerator, OS and the versions that matter for timings."""
    import numpy as np
    import torch

    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "system": f"{platform.system()} {platform.machine()}",
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }


def describe(info: dict[str, Any] | None = None) -> str:
    """One line: system, cores, GPU or not, Python, torch, torch threads."""
    m = info if info is not None else machine_info()
    gpu = m["gpu"] or "no GPU"
    return (
        f"{m['system']}, {m['cores']} CPU cores, {gpu}; Python {m['python']}, torch {m['torch']}, "
        f"{m['torch_threads']} torch threads"
    )
