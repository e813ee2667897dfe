"""What a benchmark ran on, for its results file.

The figures depend on the machine as much as on the code: the same commit has measured nearly
three times faster on one 2-core machine of this project than on another. A result names the
processor model and the target the compiler (numba, for the processor it runs on) chose,
beside the core count and the load.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any


def _cpuinfo(field: str) -> str | None:
    """The first value of ``field`` in ``/proc/cpuinfo`` (Linux), or None."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The processor's model name, or what ``platform`` knows."""
    return _cpuinfo("model name") or platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    return set((_cpuinfo("flags") or "").split())


def compile_target() -> str:
    """The processor LLVM (numba's compiler) generates code for, e.g. ``znver5``."""
    import llvmlite.binding

    return str(llvmlite.binding.get_host_cpu_name())


def commit() -> str | None:
    """The checkout's commit, ``+changes`` after it where the tree differs from it (a figure
    measured before a change to the code it measures says so), or None outside a git checkout."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short=12", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!*.json")
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+changes" if changed else "")


def describe(**extra: Any) -> dict[str, Any]:
    """The machine, with a benchmark's own entries (library versions, say) added."""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "compile_target": compile_target(),
        # The popcounts of the screen and the matcher, 8 words per instruction where present.
        "vector_popcount": "avx512_vpopcntdq" in cpu_flags(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "commit": commit(),
        **extra,
    }
