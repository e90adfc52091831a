"""Keeps the local S3's buckets in a folder, so a restarted ``imagegen serve`` still has them.

moto (5.2.5) has no persistence setting: its maintainers point to pickling its backends
(getmoto/moto#1069, #2882), and its S3 objects are picklable for that (``FakeKey.__getstate__``
reads the value out of its buffer). So moto stays the S3, and this middleware saves moto's own
objects after each request that may change them: one file per key (all its versions), one per
bucket (its settings), each replaced atomically, so a write costs the size of what it wrote and a
killed server loses nothing it answered. ``load`` puts them back before the server takes requests.

A pickle runs code when it is read, and a data dir may come from elsewhere (a cloned project's
``.imagegen``, a shared folder). So every file is sealed with an HMAC-SHA256 under a key of the
user's own (``~/.config/imagegen/data-dir.key``, 0600, made on first use) and unpickled only when
its seal matches: a file this user's imagegen did not write is never run. An object file that
is damaged, foreign or from a moto whose classes no longer fit is set aside (renamed
``*.unreadable``, with a warning naming it), so it costs one object, not the folder. A save that
fails (a full disk, a removed folder) is a warning, and is tried again on the next write.
Tags live outside the bucket in moto (its tagging service) and are not kept: the service uses
none.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import os
import pickle
import shutil
import threading
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moto.s3.models import FakeBucket, FakeDeleteMarker, FakeKey, MultipartDict, s3_backends
from moto.s3.utils import _VersionedKeyStore

from devstack.data_dir import private_secret

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger("imagegen.local")
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORMAT = 2  # 2: sealed files
_SEAL_BYTES = hashlib.sha256().digest_size


class UnreadableData(Exception):
    """The folder holds buckets this stack cannot use; the message says what to do."""


class Unsealed(Exception):
    """A file that is not what this user's imagegen wrote, or no longer loads."""


def signing_key() -> bytes:
    """The user's key for sealing data dirs, made (0600) on first use."""
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return bytes.fromhex(private_secret(config / "imagegen" / "data-dir.key"))


class Seal:
    """Pickles sealed with the user's key; ``load`` refuses any other."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def dump(self, value: Any) -> bytes:
        return self.seal(pickle.dumps(value))

    def seal(self, data: bytes) -> bytes:
        """``data`` (a pickle) with its seal in front."""
        return hmac.new(self._key, data, hashlib.sha256).digest() + data

    def load(self, sealed: bytes, expected: type | tuple[type, ...]) -> Any:
        seal, data = sealed[:_SEAL_BYTES], sealed[_SEAL_BYTES:]
        if not hmac.compare_digest(seal, hmac.new(self._key, data, hashlib.sha256).digest()):
            raise Unsealed("not written by this user's imagegen (its seal does not match)")
        try:
            value = pickle.loads(data)
        except Exception as exc:  # a class moto has since changed: any error unpickling can raise
            raise Unsealed(f"this moto cannot load it ({type(exc).__name__}: {exc})") from None
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(item, expected) for item in items):
            raise Unsealed(f"it holds {type(value).__name__}, not what this stack saves")
        return value


class PersistentBuckets:
    """moto's S3 application, with every bucket it holds mirrored in ``directory/buckets``."""

    def __init__(self, app: WSGIApplication, directory: Path) -> None:
        self._app = app
        self._root = directory / "buckets"
        self._lock = threading.Lock()
        self._saved: dict[str, _SavedBucket] = {}
        self._seal = Seal(signing_key())

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        answer = self._app(environ, start_response)  # moto has acted when this returns
        if environ["REQUEST_METHOD"] not in READ_ONLY_METHODS:
            self.save()
        return answer

    def load(self) -> None:
        """Put the saved buckets into moto (none of them may exist in this process yet)."""
        try:
            self._root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise UnreadableData(f"cannot keep buckets in {self._root}: {exc.strerror}") from None
        _check_format(self._root)
        with self._lock:
            for folder in sorted(p for p in self._root.iterdir() if p.is_dir()):
                saved = _SavedBucket(folder, self._seal)
                bucket = saved.read()
                if bucket.name in s3_backends.bucket_accounts:
                    raise UnreadableData(f"bucket {bucket.name} already exists in this process")
                s3_backends[bucket.account_id][bucket.partition].buckets[bucket.name] = bucket
                s3_backends.bucket_accounts[bucket.name] = (bucket.partition, bucket.account_id)
                self._saved[bucket.name] = saved

    def save(self) -> None:
        """Write what changed since the last save: buckets, then keys; forget what is gone."""
        with self._lock:
            buckets = _buckets()
            for name in self._saved.keys() - buckets.keys():
                self._saved.pop(name).remove()
            for name, bucket in buckets.items():
                if name not in self._saved:  # bucket names are DNS labels: safe folder names
                    self._saved[name] = _SavedBucket(self._root / name, self._seal)
                try:
                    self._saved[name].update(bucket)
                except OSError as exc:  # what was not written is written on the next save
                    logger.warning("could not keep bucket %s in %s: %s", name, self._root, exc)


class _SavedBucket:
    """One bucket's folder: ``bucket.pickle`` (settings) and ``keys/<sha256>.pickle``."""

    def __init__(self, folder: Path, seal: Seal) -> None:
        self.folder = folder
        self._seal = seal
        self._settings = b""
        self._keys: dict[str, tuple[Any, ...]] = {}  # key -> what its saved versions were

    def read(self) -> FakeBucket:
        settings = self.folder / "bucket.pickle"
        try:
            bucket = self._seal.load(settings.read_bytes(), FakeBucket)
        except (OSError, Unsealed) as exc:
            raise UnreadableData(
                f"cannot read the saved bucket {settings} ({exc}); move {self.folder} away to"
                " start without that bucket"
            ) from None
        for path in sorted((self.folder / "keys").glob("*.pickle")):
            try:
                versions = self._seal.load(path.read_bytes(), (FakeKey, FakeDeleteMarker))
            except (OSError, Unsealed) as exc:
                aside = path.with_suffix(".unreadable")
                os.replace(path, aside)
                logger.warning("set aside a saved object that cannot be read (%s): %s", exc, aside)
                continue
            bucket.keys.setlist(versions[0].name, versions)
            self._keys[versions[0].name] = _fingerprint(versions)
        self._settings = _settings_bytes(bucket)
        return bucket

    def update(self, bucket: FakeBucket) -> None:
        if not (self.folder / "keys").is_dir():  # new, or removed under the running server
            (self.folder / "keys").mkdir(mode=0o700, parents=True, exist_ok=True)
            self._settings, self._keys = b"", {}  # write everything again
        settings = _settings_bytes(bucket)
        if settings != self._settings:
            _replace(self.folder / "bucket.pickle", self._seal.seal(settings))
            self._settings = settings
        current = dict(bucket.keys.iterlists())
        for name in self._keys.keys() - current.keys():
            (self.folder / "keys" / _file_name(name)).unlink(missing_ok=True)
            del self._keys[name]
        for name, versions in current.items():
            fingerprint = _fingerprint(versions)
            if versions and self._keys.get(name) != fingerprint:
                _replace(self.folder / "keys" / _file_name(name), self._seal.dump(versions))
                self._keys[name] = fingerprint

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _buckets() -> dict[str, FakeBucket]:
    return {
        name: s3_backends[account_id][partition].buckets[name]
        for name, (partition, account_id) in list(s3_backends.bucket_accounts.items())
        if name in s3_backends[account_id][partition].buckets
    }


def _settings_bytes(bucket: FakeBucket) -> bytes:
    """The bucket's settings, pickled: without its objects and unfinished multipart uploads."""
    settings = copy.copy(bucket)
    settings.keys = _VersionedKeyStore()
    settings.multiparts = MultipartDict()
    return pickle.dumps(settings)


def _fingerprint(versions: list[Any]) -> tuple[Any, ...]:
    """Changes when a version is added, replaced or removed (moto makes a new object for each
    write, with its own ETag and time). Changes moto makes in place (an ACL, a retention) are
    not seen: the service makes none."""
    return tuple(
        (id(v), getattr(v, "etag", None), getattr(v, "last_modified", None)) for v in versions
    )


def _file_name(name: str) -> str:
    """Object keys may hold any character: the file is named by the key's SHA-256."""
    return hashlib.sha256(name.encode()).hexdigest() + ".pickle"


def _replace(path: Path, data: bytes) -> None:
    """Write beside, then rename: a reader (or a restart after a kill) sees old or new, whole."""
    partial = path.with_suffix(".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _check_format(root: Path) -> None:
    """Refuse another format; warn when another moto wrote the folder (its objects load if
    moto's classes still fit, else they are set aside)."""
    marker = root / "format.json"
    written = {"format": FORMAT, "moto": metadata.version("moto")}
    if not marker.exists():
        marker.write_text(json.dumps(written))
        return
    try:
        found = json.loads(marker.read_text())
    except (OSError, ValueError) as exc:
        raise UnreadableData(f"cannot read {marker} ({exc}); move {root} away") from None
    if not isinstance(found, dict) or found.get("format") != FORMAT:
        found = found if isinstance(found, dict) else {}
        raise UnreadableData(
            f"{root} was written in format {found.get('format')} (moto {found.get('moto')}); this"
            f" version reads format {FORMAT}: move the folder away to start without it"
        )
    if found.get("moto") != written["moto"]:
        logger.warning(
            "%s was written with moto %s, this is moto %s: objects that no longer load are set"
            " aside",
            root,
            found.get("moto"),
            written["moto"],
        )
        marker.write_text(json.dumps(written))
