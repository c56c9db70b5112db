"""What ran this: git commit, package versions, device. Recorded in config.json, checkpoints,
the report summary and the bench table, so a number can be traced to the code that made it."""

import os
import platform
import subprocess

import numpy as np
import torch

from proofgpt import paths


def _git(*args) -> str:
    try:
        return subprocess.run(["git", "-C", str(paths.ROOT), *args], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def git_commit() -> str | None:
    """'<sha>' or '<sha>-dirty' (tracked files changed) of the checkout; None outside git."""
    sha = _git("rev-parse", "HEAD")
    if not sha:
        return None
    return sha + ("-dirty" if _git("status", "--porcelain", "--untracked-files=no") else "")


def device_name(device: str = "cpu") -> str:
    """'NVIDIA H100 ...' for a CUDA device, else the CPU's model name (or 'cpu')."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name()
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "cpu"


def environment(device: str = "cpu", dtype: str = "fp32", world_size: int = 1) -> dict:
    """Versions, device, threads and git commit (no hostname)."""
    commit = git_commit()
    return {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "device": device,
        "device_name": device_name(device),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "dtype": dtype,
        "world_size": world_size,
        "git_commit": commit.removesuffix("-dirty") if commit else None,
        "git_dirty": commit.endswith("-dirty") if commit else None,
    }
