"""The node home: one directory holding everything a node is.

::

    DIR/                 mode 0700
      node.toml          configuration (node.config)
      identity.key       Ed25519 private key, PKCS#8 PEM, mode 0600
      admin-token        bearer token of the admin API, mode 0600
      store.sqlite       the SQLite store (WAL: also -wal and -shm files)
      run.lock           held (flock) by the running node; a second `confide run` is refused
      admin.url          written by the running node once its admin API listens; removed on exit

``create_home`` builds the whole home in a temporary sibling directory and renames it into
place, so a failed init leaves nothing behind and an existing home is never overwritten.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import tomli_w

from network.errors import KeyFileError
from network.identity import Identity
from node.config import NodeConfig, load_config
from node.errors import ConflictError, InvalidError, NotFoundError
from node.store import open_store

TOKEN_BYTES: Final = 32
MAX_TOKEN_FILE: Final = 256


class Home:
    """The paths of a node home and the small reads and writes on them."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).absolute()

    @property
    def config_path(self) -> Path:
        """``node.toml`` in this home."""
        return self.path / "node.toml"

    @property
    def identity_path(self) -> Path:
        """``identity.key`` in this home."""
        return self.path / "identity.key"

    @property
    def token_path(self) -> Path:
        """``admin-token`` in this home."""
        return self.path / "admin-token"

    @property
    def store_path(self) -> Path:
        """``store.sqlite`` in this home."""
        return self.path / "store.sqlite"

    @property
    def lock_path(self) -> Path:
        """``run.lock`` in this home."""
        return self.path / "run.lock"

    @property
    def admin_url_path(self) -> Path:
        """``admin.url`` in this home."""
        return self.path / "admin.url"

    def __repr__(self) -> str:
        return f"Home({str(self.path)!r})"

    def check(self) -> None:
        """Raise ``NotFoundError`` unless this looks like a node home."""
        if not self.config_path.is_file() or not self.identity_path.is_file():
            raise NotFoundError(
                "home_missing", "not a node home (no node.toml); run `confide init` first"
            )

    def config(self) -> NodeConfig:
        """The validated configuration."""
        self.check()
        return load_config(self.config_path)

    def identity(self) -> Identity:
        """The node's identity key."""
        try:
            return Identity.load(self.identity_path)
        except KeyFileError as error:
            raise InvalidError("identity_unusable", f"identity.key: {error.reason}") from None
        except OSError as error:
            raise InvalidError(
                "identity_unusable", f"identity.key: cannot read ({error.strerror})"
            ) from None

    def admin_token(self) -> str:
        """The admin API's bearer token (refused if group or others may read the file)."""
        return _read_private(self.token_path, "admin-token")

    def admin_url(self) -> str:
        """The running node's admin API address; ``NotFoundError`` if it is not running."""
        try:
            text = self.admin_url_path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            raise NotFoundError(
                "node_not_running", "the node is not running (no admin.url in its home)"
            ) from None
        if not text.startswith(("http://", "https://")):
            raise InvalidError("admin_url_invalid", "admin.url does not hold an http address")
        return text

    def write_admin_url(self, url: str) -> None:
        """Publish the admin API's address (atomically: a reader sees all or nothing)."""
        temporary = self.path / f".admin.url.{secrets.token_hex(4)}"
        temporary.write_text(url + "\n", encoding="ascii")
        os.replace(temporary, self.admin_url_path)

    def remove_admin_url(self) -> None:
        """Withdraw the admin address (the node is stopping)."""
        self.admin_url_path.unlink(missing_ok=True)

    @contextmanager
    def run_lock(self) -> Iterator[None]:
        """Hold the home's run lock for the block; ``ConflictError`` if a node holds it."""
        descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConflictError(
                    "node_running", "a node is already running from this home"
                ) from None
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"{os.getpid()}\n".encode("ascii"))
            yield
        finally:
            os.close(descriptor)  # closing releases the lock; the file stays (harmless)

    def is_running(self) -> bool:
        """Whether a node holds the run lock now."""
        try:
            descriptor = os.open(self.lock_path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(descriptor)
        return False


def _read_private(path: Path, name: str) -> str:
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        raise InvalidError("admin_token_unusable", f"{name}: cannot read the file") from None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode) or status.st_mode & 0o077:
            raise InvalidError(
                "admin_token_unsafe", f"{name} is readable by group or others; chmod 600"
            )
        data = os.read(descriptor, MAX_TOKEN_FILE)
    finally:
        os.close(descriptor)
    return data.decode("ascii", errors="replace").strip()


def _write_private(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def create_home(path: Path | str, config: NodeConfig) -> tuple[Home, Identity]:
    """Create a node home at ``path``: keys, token, ``node.toml``, the store.

    Refuses (``ConflictError`` ``home_exists``) if ``path`` exists and is not an empty
    directory. Everything is written to a temporary sibling first and renamed into place.
    """
    target = Path(path).absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConflictError("home_exists", "that directory exists and is not empty; not touched")
    if not target.parent.is_dir():
        raise NotFoundError("home_parent_missing", "the parent directory does not exist")
    staging = target.with_name(f".{target.name}.init-{secrets.token_hex(4)}")
    staging.mkdir(mode=0o700)
    try:
        identity = Identity.generate()
        identity.save(staging / "identity.key")
        _write_private(staging / "admin-token", secrets.token_urlsafe(TOKEN_BYTES).encode())
        with (staging / "node.toml").open("xb") as file:
            tomli_w.dump(config.to_toml(), file)
        open_store(staging / "store.sqlite").close()
        try:
            os.rename(staging, target)  # onto a missing or empty directory only
        except OSError:
            raise ConflictError(
                "home_exists", "that directory appeared meanwhile; not touched"
            ) from None
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
        raise
    os.chmod(target, 0o700)
    return Home(target), identity
