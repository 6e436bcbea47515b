"""One training process per run directory: an advisory lock that names its holder.

Two processes writing checkpoints and `log.csv` into one folder would interleave their steps silently. The
lock is an `flock` on a small file in the run directory holding the owner's PID: the operating system
releases it when the owner exits, however it exits (`kill -9` included), so a lock is never stale in
effect; a file naming a process that no longer runs is taken over with a note. Each task of a
multi-worker cluster (`TF_CONFIG`) takes its own lock file, so the workers of one run share the folder
while a second run is refused.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os

__all__ = ["RunDirLockedError", "RunDirLock"]


class RunDirLockedError(RuntimeError):
    """Another process holds the run directory's lock; the message names its PID."""


def _lock_name() -> str:
    """`.lock`, or `.lock-<task type>-<index>` for a task of a `TF_CONFIG` cluster."""
    try:
        task = json.loads(os.environ.get("TF_CONFIG", "") or "{}").get("task") or {}
    except (json.JSONDecodeError, AttributeError):
        task = {}
    if isinstance(task, dict) and "type" in task:
        return f".lock-{task['type']}-{task.get('index', 0)}"
    return ".lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class RunDirLock:
    """An exclusive lock on a run directory for the life of one process (or until `release`).

    Args:
        run_dir: The run directory (created if needed).

    Attributes:
        path: The lock file.
        stale_pid: The PID a previous, no longer running holder left in the file (None if none).

    Raises:
        RunDirLockedError: if a running process holds the lock, naming its PID.
        OSError: if the folder or the lock file cannot be created (e.g. a read-only folder).

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> lock = RunDirLock(folder)
        >>> try:
        ...     RunDirLock(folder)
        ... except RunDirLockedError as err:
        ...     print(f"(PID {os.getpid()};" in str(err))
        True
        >>> lock.release()
    """

    def __init__(self, run_dir: str):
        os.makedirs(run_dir, exist_ok=True)
        self.path = os.path.join(run_dir, _lock_name())
        self.stale_pid: int | None = None
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = self._holder()
            os.close(self._fd)
            self._fd = None
            if err.errno not in (errno.EWOULDBLOCK, errno.EACCES, errno.EAGAIN):
                raise
            who = f"PID {holder}" if holder else "a process that has not written its PID yet"
            raise RunDirLockedError(
                f"{run_dir} is in use by another training process ({who}; lock file {self.path}). Wait for it "
                f"to finish{f' or stop it (kill {holder})' if holder else ''}, or pass another --run-dir."
            ) from None
        holder = self._holder()
        if holder and holder != os.getpid() and not _alive(holder):
            self.stale_pid = holder
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def _holder(self) -> int | None:
        try:
            text = os.pread(self._fd, 64, 0).decode(errors="replace").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def release(self) -> None:
        """Clears the PID and releases the lock (also done by the operating system at exit)."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        except OSError:
            pass
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "RunDirLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()
