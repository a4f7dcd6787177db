"""After a hang-up or SIGTERM, once the app has closed everything, the process ends within a bounded time.

``voxflow run`` calls :func:`end_within` only when the app quit on a signal or
a lost terminal: it ends the whole process, which a caller of the command (a
test) must not see otherwise. When ``VoxflowApp.run`` returns, sessions are
closed, devices released and files completed; what is left is the
interpreter's own teardown: joining threads, atexit handlers (the in-process local server's speech worker) and
freeing every module. On a busy machine that took 1.5 to 2.5 s after a hang-up
(``tests/benchmarks/bench_hangup_exit.py``), most of it the final garbage
collections over the ~125,000 objects a session leaves, so a closed tmux
window outlived its 2 s budget. Two measures:

- ``gc.freeze()``: those collections skip every object that exists now. Nothing
  of ours waits on them: every file was closed explicitly, and objects still
  referenced are freed as their modules are cleared, as before.
- a daemon thread ends the process with ``os._exit`` at the deadline, should a
  thread join or an atexit handler hang.
"""

from __future__ import annotations

import gc
import os
import threading
import time

TEARDOWN_DEADLINE = 0.5
"""How long the interpreter's teardown may take once the app has closed everything (seconds)."""


def end_within(seconds: float = TEARDOWN_DEADLINE, status: int = 0) -> None:
    """Call when the app's own cleanup is done: the process exits with ``status`` within ``seconds`` at most.

    The watchdog says nothing when it fires: the terminal may be gone, and a write to a stalled one would block it.
    """
    gc.freeze()

    def watchdog() -> None:
        time.sleep(seconds)
        os._exit(status)

    threading.Thread(target=watchdog, name="exit deadline", daemon=True).start()
