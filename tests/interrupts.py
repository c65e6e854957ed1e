"""Real SIGINTs to child processes, with bounded waits (shared by the interrupt tests)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
#: Waits for a child to reach its long phase: first compilation of the engine (~15 s on 2 busy
#: cores) plus imports; only an upper bound, a healthy run takes a few seconds.
START_TIMEOUT = 300
#: SIGINT → exit took ~0.8 s here (it was ~14–21 s before the kernels polled an abort flag);
#: 10 s leaves room for a loaded machine while still failing on a run that keeps computing.
EXIT_TIMEOUT = 10


def start_child(args, tmp_path):
    return subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=tmp_path,
    )


def wait_for_line(stream, needle: str, process) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        line = stream.readline()
        if needle in line:
            return line
        if not line and process.poll() is not None:
            break
    process.kill()
    pytest.fail(f"child never printed {needle!r}: {process.communicate()}")


def interrupt(process) -> tuple:
    """SIGINT, then ``(seconds to exit, stdout, stderr)``; killed and failed if it lingers."""
    t0 = time.monotonic()
    process.send_signal(signal.SIGINT)
    try:
        out, err = process.communicate(timeout=EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"still running {EXIT_TIMEOUT} s after SIGINT; stderr: {err[-2000:]}")
    return time.monotonic() - t0, out, err
