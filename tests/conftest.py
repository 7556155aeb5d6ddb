"""Shared fixtures for the core and cross-plugin tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Tests run in parallel (pytest-xdist) on few cores: one torch thread per test process, and the same
# for the subprocesses tests start, so that nothing oversubscribes the machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
# The Ray clusters the tests start stay on the loopback address (127.0.0.1), with their workers and the
# subprocesses that join them: with this 0, Ray takes 127.0.0.1 as the node's address (as it does on macOS
# and Windows) instead of the address of the interface that routes outwards. Ray reads it when it is
# imported, so it is set here, before any test imports Ray.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def pytest_configure(config):
    import torch

    torch.set_num_threads(1)


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m forwardkit ARGS`` in a fresh interpreter (what a user's shell does)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "forwardkit", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture
def cli():
    return run_cli


def run_cli_here(*args: str) -> subprocess.CompletedProcess:
    """``forwardkit ARGS`` in this process (seconds faster than a fresh interpreter): a CompletedProcess
    with the exit status and the captured output; an exception the CLI did not handle is raised."""
    from click.testing import CliRunner

    from forwardkit.cli.main import cli as command

    result = CliRunner().invoke(command, list(args), catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def cli_here():
    return run_cli_here
