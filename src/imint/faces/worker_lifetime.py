"""An analysis worker ends when the process that started it ends, however that ended.

A ``ProcessPoolExecutor``'s queues are pickled into every worker with both of their pipe ends, so
when the parent is killed (``kill -9``, the OOM killer) no worker ever reads end-of-file: each one
waits for a task forever, holding its engine's memory (a killed ``imint serve`` left two such
workers behind in the test suite). A daemon thread in each worker waits on the parent's sentinel
instead and exits the worker when it fires.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import threading


def exit_with_parent() -> None:
    """Call in a worker's initializer: the worker exits (status 0) as soon as its parent is gone."""
    parent = multiprocessing.parent_process()
    if parent is None:  # not a multiprocessing child: nothing to watch
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)  # no clean-up to run: the parent, who owned the work, is gone

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
