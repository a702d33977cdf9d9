"""Stopping a run cleanly: a flag the training loop checks every step.

The flag is set by Ctrl+C (SIGINT), SIGTERM (what the studio sends its
training child process), a line "stop" on stdin (`watch_stdin`), the
studio's Stop button in-process, or a test. The loop then saves a checkpoint
and finishes with reason "stopped". A second Ctrl+C while saving really
interrupts, for the impatient.
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager


class StopFlag:
    def __init__(self) -> None:
        self.requested = False
        self.reason = "stopped"

    def set(self, reason: str = "stopped") -> None:
        if not self.requested:
            self.reason = reason
        self.requested = True


@contextmanager
def stop_on_signals(flag: StopFlag):
    """While active, SIGINT and SIGTERM set the flag instead of killing the process (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if flag.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl+C: the user really wants out
        flag.set("stopped")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def watch_stdin(flag: StopFlag, stream=None) -> threading.Thread:
    """Set the flag when a line reading "stop" arrives on stdin (a daemon thread; EOF just ends it)."""
    stream = stream or sys.stdin

    def read() -> None:
        try:
            for line in stream:
                if line.strip().lower() == "stop":
                    flag.set("stopped")
                    return
        except (OSError, ValueError):
            return

    thread = threading.Thread(target=read, name="deepwire-stdin-stop", daemon=True)
    thread.start()
    return thread
