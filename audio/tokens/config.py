"""Where the service's settings come from: command-line options and environment.

``DATABASE_URL`` (or ``--database``) picks the store; without either, an
SQLite file under the user's data directory is shared by ``serve-tokens`` and
every admin command. Secrets (encryption keys, the token pepper) come only
from the environment and are checked before anything starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import platformdirs

from audio.base.errors import VoxflowError

from .client_ip import IpNetwork, parse_trusted
from .crypto import Keyring
from .share_tokens import load_pepper
from .store import Store

DATABASE_ENV = "DATABASE_URL"
BASE_URL_ENV = "OPENAI_BASE_URL"
DEFAULT_BASE_URL = "https://api.openai.com"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
SESSIONS_PER_MINUTE = 10


def default_database_path() -> Path:
    return Path(platformdirs.user_data_dir("voxflow")) / "token-service.sqlite3"


def resolve_database_url(option: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """``--database`` wins, then ``DATABASE_URL``, then the embedded default file."""
    env = os.environ if env is None else env
    return option or env.get(DATABASE_ENV) or f"sqlite:///{default_database_path()}"


def open_store(url: str) -> Store:
    """A store for ``url`` (not yet opened): ``sqlite:///abs/path``, ``sqlite:rel/path`` or ``postgresql://...``."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from .sqlite_store import SqliteStore

        parts = urlsplit(url)
        path = unquote(parts.path)
        if parts.netloc or not path:
            raise VoxflowError(
                "The SQLite database URL must look like sqlite:///absolute/path.db or sqlite:relative/path.db.",
                hint="Pass it with --database or DATABASE_URL.",
            )
        if path.startswith("/"):
            path = "/" + path.lstrip("/")  # sqlite:///abs and sqlite:////abs mean the same file
        return SqliteStore(Path(path))
    if scheme in {"postgresql", "postgres"}:
        from .postgres_store import PostgresStore

        return PostgresStore(url)
    raise VoxflowError(
        f"Unsupported database URL scheme {scheme!r}.",
        hint="Use sqlite:///path/to/file.db or postgresql://user:password@host:port/dbname.",
    )


@dataclass
class ServiceSettings:
    """Everything the session endpoint needs besides its store and clock."""

    keyring: Keyring
    pepper: bytes = field(repr=False)
    openai_base_url: str = DEFAULT_BASE_URL
    trusted_proxies: tuple[IpNetwork, ...] = ()
    sessions_per_minute: int = SESSIONS_PER_MINUTE
    upstream_timeout: float = 10.0
    secret_ttl_seconds: int = 600

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        trusted_proxies: Sequence[str] = (),
        **overrides: object,
    ) -> ServiceSettings:
        """Read keys, pepper and upstream URL; fail fast with a message saying what to set."""
        env = os.environ if env is None else env
        settings = cls(
            keyring=Keyring.from_env(env),
            pepper=load_pepper(env),
            openai_base_url=(env.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/"),
            trusted_proxies=parse_trusted(trusted_proxies),
        )
        for name, value in overrides.items():
            setattr(settings, name, value)
        return settings
