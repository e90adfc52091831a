"""Command-line pieces shared by ``imagegen`` and ``imagegen-mcp``: one-line usage errors, option
types that refuse what no option can mean, the version, the service settings read from the
environment, and the local stack imported only when used. Standard library and ``service``'s
settings and catalogue only (the base install, which has no boto3), so neither command loads the
local stack or the AWS SDK to parse its options.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from service import config
from service.catalogue import default_catalogue

if TYPE_CHECKING:
    from devstack.stack import LocalStack

EXIT_INTERRUPTED = 130  # the shell's convention for a process stopped by Ctrl-C (128 + SIGINT)
# The variables the service reads (service/config.py names each one), not the clients' own
# IMAGEGEN_API_URL / IMAGEGEN_API_KEY / IMAGEGEN_MCP_*; the local stack makes its own bucket.
SERVICE_SETTINGS = frozenset(
    v for v in vars(config).values() if isinstance(v, str) and v.startswith("IMAGEGEN_")
) - {config.BUCKET}


class Parser(argparse.ArgumentParser):
    """Usage mistakes get one line on stderr and exit status 1, like every other CLI error (also
    the parser of ``imagegen-mcp``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def port_number(text: str) -> int:
    """A ``--port`` value: 0-65535, checked here so a bad one is a usage error, not a traceback
    from bind()."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (0-65535; 0 picks a free one)")
    return port


def finite_number(text: str, unit: str = "") -> float:
    """A number option: float() also reads 'nan' and 'inf', which no option can mean."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number{unit}")
    return value


def latency_seconds(text: str) -> float:
    seconds = finite_number(text, " of seconds")
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"must be 0 seconds or more, not {text}")
    return seconds


def timeout_seconds(text: str) -> float:
    """A ``--timeout`` value (also ``imagegen-mcp``'s): waiting 0 seconds would never work."""
    seconds = finite_number(text, " of seconds")
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text}")
    return seconds


def prepare_output_directory(path: Path) -> str | None:
    """Create ``path`` now, so a file in the way or a read-only parent is reported before any
    image is paid for; returns what is wrong, or None."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return f"{path} exists and is not a directory"
    except OSError as exc:
        return f"cannot create the directory {path}: {exc.strerror}"
    return None


def package_version() -> str:
    try:
        return metadata.version("imagegen")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


class MissingExtra(Exception):
    """A part of imagegen was asked for whose extra is not installed; the message says which
    extra, and the command that installs it."""


@contextmanager
def extra_needed(what: str, extra: str, install: str) -> Iterator[None]:
    """Imports in the block that fail for want of a whole distribution raise ``MissingExtra``
    (``{what} needs the '{extra}' extra: {install}``): one line for the user instead of a
    traceback naming a module they never asked for. A module missing from a package that is
    there (ours, or a broken install) is a bug, and stays a traceback."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if not exc.name or importlib.util.find_spec(exc.name.partition(".")[0]) is not None:
            raise
        raise MissingExtra(f"{what} needs the '{extra}' extra: {install}") from exc


def local_stack(install: str = 'pip install "imagegen[local]"') -> type[LocalStack]:
    """The local stack, imported when a command uses it: moto, Pillow, PyYAML and jsonschema come
    with the 'local' extra, which a user of a deployed API need not install."""
    with extra_needed("the local stack", "local", install):
        from devstack.stack import LocalStack
    return LocalStack


def service_env(serve_retired: bool = False) -> dict[str, str]:
    """The service's settings from the environment, as the Lambda reads them.

    ``--serve-retired`` emulates an account that still reaches retired models, which a
    deployment only uses once it enables them: every retired model, unless the environment
    lists its own.
    """
    env = {k: v for k, v in os.environ.items() if k in SERVICE_SETTINGS}
    if serve_retired:
        today = datetime.now(UTC).date()
        retired = [m.alias for m in default_catalogue().models if m.is_retired(today)]
        env.setdefault(config.ENABLED_RETIRED_MODELS, ",".join(retired))
    return env


def add_listen_options(parser: argparse.ArgumentParser, default_port: int, label: str = "") -> None:
    """``--host`` (loopback unless told otherwise) and a checked ``--port``, as both servers take
    them; ``label`` prefixes the help (e.g. "HTTP: ")."""
    parser.add_argument(
        "--host", default="127.0.0.1", help=f"{label}address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=port_number,
        default=default_port,
        help=f"{label}TCP port, 0 picks a free one (default: %(default)s)",
    )
