"""The folder ``imagegen serve`` keeps its images in, and how other commands find that serve.

One serve holds a folder at a time, by an exclusive ``flock`` on ``serve.lock`` that the kernel
drops when the process ends, however it ends; while it holds it, ``serve.json`` says where it
listens. Other commands only try a shared lock, which fails exactly
while a serve holds the folder (and never blocks another command looking at the same time), so a
command without ``--api`` uses a running serve and is never sent to a dead one. Standard library
only: the CLI and the MCP server read this before they know they need the local stack. Windows
has no ``flock``: there a serve holds its folder without a lock, and commands do not look for it.
"""

from __future__ import annotations

import json
import os
import secrets
from contextlib import suppress
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

DEFAULT_DATA_DIR = Path(".imagegen")  # under the project, git-ignored
DATA_DIR_VARIABLE = "IMAGEGEN_DATA_DIR"


class DataDirError(Exception):
    """The folder cannot be the serve's data dir; the message says why."""


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_VARIABLE) or DEFAULT_DATA_DIR)


class ServeClaim:
    """The running serve's hold on a data dir (a context manager): ``publish`` its URL."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.absolute()
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._lock: IO[str] | None = (self.directory / "serve.lock").open("a")
        except OSError as exc:
            reason = "it is a file" if isinstance(exc, FileExistsError) else exc.strerror
            raise DataDirError(f"cannot keep data in {directory}: {reason}") from None
        if fcntl is None:
            return
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            url = _published(self.directory) or "an address it has not published yet"
            raise DataDirError(f"{directory} is in use by another imagegen serve ({url})") from None
        self.withdraw()  # a killed serve's address: never to be handed out again

    def publish(self, url: str) -> None:
        info = self.directory / "serve.json"
        partial = info.with_suffix(".partial")
        partial.write_text(json.dumps({"url": url}))
        os.replace(partial, info)

    def withdraw(self) -> None:
        """Stop sending commands here (the serve is stopping), before the folder is released."""
        (self.directory / "serve.json").unlink(missing_ok=True)

    def __enter__(self) -> ServeClaim:
        return self

    def __exit__(self, *exc: object) -> None:
        """Release the folder (closing the lock file drops the lock)."""
        self.withdraw()
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def running_serve(directory: Path) -> str | None:
    """The URL of the serve that holds ``directory``, or None when none does (also when the
    folder or its lock cannot be read: no serve could have used it)."""
    if fcntl is None:
        return None
    try:
        lock = (directory / "serve.lock").open("r")
    except OSError:
        return None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # a serve holds it
            return _published(directory)
        return None  # nobody holds it: any serve.json is a leftover


def _published(directory: Path) -> str | None:
    with suppress(OSError, ValueError, KeyError, TypeError):
        return str(json.loads((directory / "serve.json").read_text())["url"])
    return None


def private_secret(path: Path) -> str:
    """A random secret (64 hex digits) kept in ``path``, made on first use readable by this
    user only (0600, in a 0700 folder); whoever makes it first, every caller reads the same."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_hex(32))
    return path.read_text().strip()
