"""Every process a code skill starts ends with its node.

User code can fork, start ``sleep 1000`` or daemonise (double fork + ``setsid``). An
isolated worker (the one-task worker that runs code) therefore:

* leads a session and process group of its own (:func:`contain`), so one ``killpg``
  reaches every child that stayed in the group;
* is a *child subreaper* (Linux ``PR_SET_CHILD_SUBREAPER``): a grandchild whose parent
  exits is re-parented to the worker, not to PID 1, so even a daemon that left the group
  stays among the worker's descendants;
* stops all its descendants when its task ends, whatever the outcome, before it answers
  (:func:`stop_descendants`), and when its coordinator goes away.

When the pool kills such a worker itself (timeout, cancel), it stops the worker's
descendants first (:func:`kill_tree`), then the group, then the worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

import psutil

_PR_SET_CHILD_SUBREAPER = 36
_SWEEPS = 5


def contain() -> None:
    """Make this process a session/group leader and (on Linux) a child subreaper."""
    with contextlib.suppress(OSError):
        os.setsid()
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)  # libc is in the process already
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def kill_tree(pid: int, include_root: bool = True) -> int:
    """SIGKILL every descendant of ``pid`` (re-checked until none is left, so a fork
    racing the sweep is caught too), its process group, and ``pid`` itself if asked.
    Returns how many descendants were killed."""
    killed = 0
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return 0
    for _ in range(_SWEEPS):
        try:
            found = root.children(recursive=True)
        except psutil.NoSuchProcess:
            break
        found = [p for p in found if p.status() != psutil.STATUS_ZOMBIE]
        if not found:
            break
        for proc in found:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGKILL)
                killed += 1
        psutil.wait_procs(found, timeout=1)
    if include_root:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)   # the worker leads its group: the group's id is its pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return killed


def stop_descendants() -> int:
    """In an isolated worker: kill everything the task started and reap what was adopted."""
    killed = kill_tree(os.getpid(), include_root=False)
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
    return killed
