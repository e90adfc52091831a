"""The folder ``imagegen serve`` keeps its images in, and how other commands find that serve.

One serve holds a folder at a time, by an exclusive ``flock`` on ``serve.lock`` that the kernel
drops when the process ends, however it ends; while it holds it, ``serve.json`` says where it
listens. So a command without ``--api`` uses a running serve and is never sent to a dead one.
Standard library only: the CLI reads this before it knows it needs the local stack.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import suppress
from pathlib import Path
from typing import IO

DEFAULT_DATA_DIR = Path(".imagegen")  # under the project, git-ignored
DATA_DIR_VARIABLE = "IMAGEGEN_DATA_DIR"


class DataDirInUse(Exception):
    """Another serve holds the folder; the message names its URL."""


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_VARIABLE) or DEFAULT_DATA_DIR)


class ServeClaim:
    """The running serve's hold on a data dir (a context manager): ``publish`` its URL."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory = directory
        self._lock: IO[str] | None = _locked(directory)
        if self._lock is None:
            url = running_serve(directory) or "an address it has not published yet"
            raise DataDirInUse(f"{directory} is in use by another imagegen serve ({url})")

    def publish(self, url: str) -> None:
        info = self.directory / "serve.json"
        partial = info.with_suffix(".partial")
        partial.write_text(json.dumps({"url": url, "pid": os.getpid()}))
        os.replace(partial, info)

    def __enter__(self) -> ServeClaim:
        return self

    def withdraw(self) -> None:
        """Stop sending commands here (the serve is stopping), before the folder is released."""
        (self.directory / "serve.json").unlink(missing_ok=True)

    def __exit__(self, *exc: object) -> None:
        """Release the folder (closing the lock file drops the lock)."""
        self.withdraw()
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def running_serve(directory: Path) -> str | None:
    """The URL of the serve that holds ``directory``, or None when none does."""
    lock = _locked(directory)
    if lock is not None:  # nobody holds it: any serve.json is a leftover
        lock.close()
        return None
    with suppress(OSError, ValueError, KeyError, TypeError):
        return str(json.loads((directory / "serve.json").read_text())["url"])
    return None


def _locked(directory: Path) -> IO[str] | None:
    """The lock file, locked by this process; None if another process holds it (or there is no
    folder)."""
    try:
        lock = (directory / "serve.lock").open("a")
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return lock
