"""A throwaway PostgreSQL cluster in a temp dir, for tests and the benchmark.

``initdb``/``pg_ctl`` from ``/usr/lib/postgresql/*/bin`` (the highest
version), run as the ``postgres`` user when we are root, listening on
127.0.0.1 at a free port with ``fsync=off``. :func:`postgres_bin` returns
None when PostgreSQL is not installed (``apt-get install postgresql``).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

INSTALL_HINT = "apt-get install postgresql"


def postgres_bin() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def throwaway_cluster(bin_dir: Path) -> Iterator[str]:
    """Yields ``postgresql://postgres@127.0.0.1:PORT/postgres``; stops and deletes the cluster after."""
    root = Path(tempfile.mkdtemp(prefix="voxflow-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data = root / "data"

    def run(*args: str) -> None:
        subprocess.run([*as_postgres, *args], check=True, capture_output=True, timeout=120)

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        for attempt in range(3):
            # the free port can be taken before the server binds it (parallel test workers): try another
            port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {port} -c fsync=off -c full_page_writes=off "
                f"-c synchronous_commit=off -c unix_socket_directories={root} -c max_connections=200"
            )
            try:
                run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", options, "-w", "-t", "60", "start")
                break
            except subprocess.CalledProcessError:
                if attempt == 2:
                    raise
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
