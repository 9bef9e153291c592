"""The environment report: versions, CPU and threads, GPU (or why none), memory.

Everything here reads package metadata and /proc, so it never imports TensorFlow or torch; a number
recorded in the ledger carries these facts with it.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "labkit",
    "numpy",
    "scikit-learn",
    "tensorflow",
    "tf-keras",
    "tensorflow-model-optimization",
    "ai-edge-litert",
    "torch",
    "torchao",
    "torch-pruning",
    "papermill",
    "nbval",
    "matplotlib",
)


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution, None when it is not installed."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or what `platform` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """Instruction-set flags (avx2, avx512_vnni, ...) that explain int8 speed later in the series."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return set()
    for line in cpuinfo.read_text(errors="replace").splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


# What each /proc/cpuinfo flag means for inference: the vector width, and int8 or bfloat16 dot products.
INSTRUCTION_SETS = {
    "avx2": "AVX2 (256-bit vectors)",
    "avx512f": "AVX-512 (512-bit vectors)",
    "avx512_vnni": "AVX-512 VNNI (int8 dot products)",
    "avx_vnni": "AVX-VNNI (int8 dot products, 256-bit)",
    "avx512_bf16": "AVX-512 BF16 (bfloat16 dot products)",
    "amx_int8": "AMX-INT8 (int8 tile matrix multiply)",
    "amx_bf16": "AMX-BF16 (bfloat16 tile matrix multiply)",
    "asimddp": "ARM dot product (int8)",
}


def instruction_sets() -> dict[str, bool]:
    """Which of the instruction sets that decide int8 and bfloat16 speed this CPU has."""
    flags = cpu_flags()
    return {name: name in flags for name in INSTRUCTION_SETS}


def hardware() -> dict[str, Any]:
    """The facts a timing depends on, carried by every ledger record: CPU, usable CPUs, instruction sets."""
    return {
        "cpu": cpu_model(),
        "usable_cpus": usable_cpus(),
        "instruction_sets": sorted(name for name, present in instruction_sets().items() if present),
    }


def usable_cpus() -> int:
    """CPUs this process may run on (affinity), which is what thread pools should use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _nvidia_smi() -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.startswith("GPU")]


def gpus() -> list[str]:
    """Names of the NVIDIA GPUs the driver exposes (empty when there are none)."""
    return _nvidia_smi()


def gpu_available() -> bool:
    """True when a GPU is visible, checked without importing a framework."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return bool(gpus())


def gpu_summary() -> str:
    """One line: the GPUs, or the reason there are none."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return "GPUs hidden by CUDA_VISIBLE_DEVICES"
    found = gpus()
    if found:
        return "; ".join(found)
    if shutil.which("nvidia-smi") is None:
        return "no GPU: no NVIDIA driver (nvidia-smi not found)"
    return "no GPU: nvidia-smi lists none"


def memory_gb() -> dict[str, float]:
    """Total and available memory in GiB."""
    import psutil

    vm = psutil.virtual_memory()
    return {"total_gb": round(vm.total / 2**30, 2), "available_gb": round(vm.available / 2**30, 2)}


def thread_settings() -> dict[str, str | None]:
    """Thread-count variables that change benchmark numbers."""
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")
    return {name: os.environ.get(name) for name in names}


@functools.cache
def git_commit() -> str:
    """The commit of labkit's checkout (with "-dirty" when it has uncommitted changes), or "unknown"."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", "labkit"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):  # no git, or a hung file system
        return "unknown"
    return head.stdout.strip()[:12] + ("-dirty" if dirty else "")


def report() -> dict[str, Any]:
    """The whole environment report as a JSON-serialisable dict."""
    flags = cpu_flags()
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "int8_dot_product": sorted(flags & {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp"}),
        "avx2": "avx2" in flags,
        "instruction_sets": instruction_sets(),
        "threads": thread_settings(),
        "gpu": gpu_summary(),
        "memory": memory_gb(),
        "packages": package_versions(),
        "git_commit": git_commit(),
    }


def short_line() -> str:
    """A one-line summary printed at the top of every notebook."""
    mem = memory_gb()
    return (
        f"Python {sys.version.split()[0]} | {cpu_model()} | {usable_cpus()} CPUs | "
        f"{mem['available_gb']:.1f}/{mem['total_gb']:.1f} GiB free | {gpu_summary()}"
    )
