"""One worker subprocess of the local executor (``python -m harness.engine.worker``) seen from the
driver: started in its own session with its threads and GPU, fed one group per line, its protocol
lines read into a queue by a thread, killed or closed, and its death explained.

Why a class of its own: the executor's scheduling (memory gates, claims, splits, timeouts) reads
better without the pipes and signals.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any


class WorkerProcess:
    """One worker subprocess and a reader thread that turns its protocol lines into a queue."""

    def __init__(
        self, slot: int, device: str, threads: int, results: Path, log_dir: Path, visible_gpu: str | None = None
    ):
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"worker-{slot}.log"
        self.log = open(self.log_path, "ab")
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
        if visible_gpu is not None:  # the worker sees one GPU, as its cuda:0
            env["CUDA_VISIBLE_DEVICES"] = visible_gpu
            device = "cuda"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness.engine.worker",
                "--device",
                device,
                "--threads",
                str(threads),
                "--results",
                str(results),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            start_new_session=True,
            env=env,
            text=True,
            bufsize=1,
        )
        self.replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.replies.put(json.loads(line))
            except ValueError:
                continue
        self.replies.put(None)  # EOF: the worker is gone

    def wait_reply(self, timeout: float | None) -> dict[str, Any] | None | str:
        """The next reply, None if the worker died, or "timeout"."""
        try:
            return self.replies.get(timeout=timeout)
        except queue.Empty:
            return "timeout"

    def send(self, msg: dict[str, Any]) -> bool:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(msg) + "\n")
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
        self.log.close()

    def death(self) -> tuple[str, str]:
        """(status, cause) of a worker that died: ``oom`` when SIGKILL ended it, else ``error``."""
        code = self.proc.wait(timeout=10)
        status = "error"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            cause = f"worker process was killed by {name}"
            if -code == signal.SIGKILL:
                status = "oom"
                cause += " (the out-of-memory killer, or killed externally; rerun with --retry-failed)"
        else:
            cause = f"worker process exited with code {code}"
        tail = _tail(self.log_path)
        return status, f"{cause}{': ' + tail if tail else ''}"


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(t.strip() for t in text[-lines:])
