"""``python -m rmdbench.executors.worker``: one process of the ``local`` executor.

It reads its settings, then one pack of run specs at a time (``rmdbench.executors.pack``;
a pack of one is one run), from stdin, and answers one report per run on stdout
(the original stdout; anything else printing to fd 1 lands in the worker's log). Lines are
base64-encoded pickles, so specs keep their exact Python types and hash. A worker exits
when stdin closes, and within a second of its parent's death (even by SIGKILL), so an
orphan never keeps a run locked.
"""

from __future__ import annotations

import base64
import os
import pickle
import signal
import sys
import threading
import time
from typing import IO, Any

EXIT_PARENT_GONE = 3
PARENT_PID_VARIABLE = "RMDBENCH_PARENT_PID"


def encode(message: Any) -> bytes:
    return base64.b64encode(pickle.dumps(message)) + b"\n"


def decode(line: bytes) -> Any:
    return pickle.loads(base64.b64decode(line))


class Channel:
    """The line protocol back to the parent; a vanished parent ends this process at once
    (the run's lock goes with it, its staging directory is cleaned by the next sweep)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def send(self, message: Any) -> None:
        try:
            with self.lock:
                self.stream.write(encode(message))
                self.stream.flush()
        except OSError:  # BrokenPipeError: the parent is gone
            os._exit(EXIT_PARENT_GONE)


def watch_parent(parent_pid: int, interval: float = 0.5) -> None:
    """Exit when re-parented: the sweep that started this worker has died."""
    while True:
        time.sleep(interval)
        if os.getppid() != parent_pid:
            os._exit(EXIT_PARENT_GONE)


def main() -> int:
    # Ctrl-C reaches the whole process group: the parent decides, and stops us with SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = Channel(os.fdopen(os.dup(1), "wb"))
    os.dup2(2, 1)
    parent_pid = int(os.environ.get(PARENT_PID_VARIABLE, os.getppid()))
    threading.Thread(target=watch_parent, args=(parent_pid,), daemon=True).start()

    import torch

    from rmdbench.errors import UserError
    from rmdbench.executors.base import DatasetCache
    from rmdbench.executors.pack import run_pack
    from rmdbench.plugins import load_plugins
    from rmdbench.profiles import torch_threads, training_threads

    stdin = sys.stdin.buffer
    settings = decode(stdin.readline())
    if settings.threads:
        torch.set_num_threads(settings.threads)
    try:
        load_plugins(list(settings.plugins))
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    datasets = DatasetCache(settings.cache_dir)
    channel.send(("ready", os.getpid()))
    for line in stdin:
        pack = list(decode(line))
        # on the CPU the runs' own thread count (results depend on it), else the pool's
        profile = pack[0].profile  # one profile per pack
        with torch_threads(training_threads(profile, settings.device, settings.threads)):
            reports = run_pack(
                pack, settings, datasets, lambda event: channel.send(("event", event))
            )
        for report in reports:
            channel.send(("report", report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
