"""Run a worker script under ``mpirun -n N`` and return its exit code and output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

WORKERS = Path(__file__).parent / "workers"


def mpirun_path() -> str | None:
    exe = shutil.which("mpirun") or shutil.which("mpiexec")
    if exe:
        return exe
    for name in ("mpirun", "mpiexec"):
        cand = Path(sys.executable).parent / name
        if cand.exists():
            return str(cand)
    return None


def require_mpi() -> str:
    exe = mpirun_path()
    if exe is None:
        pytest.skip("mpirun not found (pip install mpi4py mpich)")
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        pytest.skip("mpi4py not installed (pip install mpi4py mpich)")
    return exe


def _is_hydra(exe: str) -> bool:
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return "HYDRA" in out.stdout


def run(script: str, *args: str, n: int = 2, timeout: float = 60, keep_going: bool = False,
        env: dict | None = None) -> subprocess.CompletedProcess:
    """``mpirun -n n python workers/<script> args``; ``keep_going`` keeps survivors alive."""
    exe = require_mpi()
    cmd = [exe]
    if keep_going:  # survivors of a dead rank keep running (MPICH; Open MPI does by default)
        cmd += (["-disable-auto-cleanup"] if _is_hydra(exe)
                else ["--mca", "orte_abort_on_non_zero_status", "0"])
    cmd += ["-n", str(n), sys.executable, str(WORKERS / script), *args]
    full_env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                    PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    full_env.update(env or {})
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env)
