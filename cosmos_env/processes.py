"""Worker processes that die with their parent: a pool's workers outlive a SIGKILLed parent
otherwise (they are re-parented and keep running, then hang on a dead queue)."""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent(parent: int, poll_seconds: float = 0.5) -> None:
    """Call in a worker (e.g. a pool ``initializer``) with the parent's pid, taken in the
    parent (a worker may start after its parent died): a daemon thread ends the process as
    soon as the parent is gone (POSIX: the parent pid changes when it dies)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
