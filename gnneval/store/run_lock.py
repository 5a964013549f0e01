"""One writer per run folder: an advisory lock held for the whole run.

Two ``gnneval evaluate`` runs into the same ``--out`` would each rewrite ``run.h5`` and one run's variants
would vanish; the second run stops at once, in one line, instead.  The lock is the operating system's
(``fcntl.flock``): it is released when the process ends, however it ends, so a killed run never leaves
a stale lock behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from gnneval.core.errors import UsageError

LOCK_NAME = ".gnneval.lock"


class RunFolderLock:
    """``with RunFolderLock(out_dir): ...`` — raises UsageError if another process holds the folder."""

    def __init__(self, out_dir: Path) -> None:
        self.path = Path(out_dir) / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> RunFolderLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise UsageError(
                f"run folder {self.path.parent} is being written by another gnneval ({holder}); wait "
                "for it to finish or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        self._fd = fd
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None
