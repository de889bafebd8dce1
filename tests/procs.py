"""Server processes that tests start on 127.0.0.1: stop them politely, then firmly."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest


def stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    """Terminate ``proc``; kill it when it has not exited after ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_until(check, what: str, proc: subprocess.Popen, timeout: float, log: Path | None = None) -> None:
    """Call ``check`` until it stops raising; fail the test (with the tail of ``log``) when ``proc`` exits or
    ``timeout`` seconds pass first."""
    deadline = time.time() + timeout
    while True:
        try:
            check()
            return
        except Exception:  # not up yet
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                tail = log.read_text()[-3000:] if log and log.is_file() else ""
                pytest.fail(f"{what} did not start (exit {proc.poll()}):\n{tail}")
            time.sleep(0.2)
