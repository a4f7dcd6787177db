"""Benchmark: the token service's POST /api/realtime/session on loopback.

    python tests/benchmarks/bench_token_service.py [--requests 2000] [--concurrency 16]

A real uvicorn serves the app on 127.0.0.1 (in a child process, so the
load generator does not share its GIL); the OpenAI upstream is an in-process httpx mock, so the figures are the
service's own cost: JSON parsing and validation, the share-token lookup, two
atomic rate-limit upserts, opening the owner's AES-GCM key, the upstream call
and the execution-log insert. The limiter is set high so every request mints.

Prints requests/s and p50/p99 latency for owner-funded and user-key requests
against SQLite and PostgreSQL (``VOXFLOW_BENCH_DATABASE_URL``, else a
throwaway cluster when /usr/lib/postgresql is installed), and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import sys
import tempfile
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from audio.tokens import admin  # noqa: E402
from audio.tokens.app import create_app, uvicorn_config  # noqa: E402
from audio.tokens.config import ServiceSettings, open_store  # noqa: E402
from audio.tokens.crypto import Keyring  # noqa: E402
from audio.tokens.service import TokenService  # noqa: E402
from tests.token_service.pg_cluster import postgres_bin, throwaway_cluster  # noqa: E402

OWNER_KEY = "sk-bench" + "A" * 40
USER_KEY = "sk-user" + "B" * 40


def _upstream(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"value": "ek_" + secrets.token_urlsafe(24), "expires_at": int(time.time()) + 600})


async def serve(database_url: str, port_file: Path) -> None:
    """Child process: the token service on uvicorn, upstream mocked in-process; writes PORT TOKEN when ready."""
    import uvicorn

    keyring = Keyring({1: secrets.token_bytes(32)}, 1)
    pepper = secrets.token_hex(32).encode()
    settings = ServiceSettings(keyring=keyring, pepper=pepper, openai_base_url="http://upstream.bench", sessions_per_minute=10**9)
    service = TokenService(open_store(database_url), settings, upstream_transport=httpx.MockTransport(_upstream))
    await service.start()
    await admin.add_owner(service.store, "bench")
    await admin.set_owner_key(service.store, keyring, "bench", OWNER_KEY)
    _, token = await admin.create_share_token(service.store, pepper, "bench")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn_config(create_app(service), log_level="warning", access_log=False, lifespan="off"))
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    port_file.write_text(f"{sock.getsockname()[1]} {token}")
    await serving  # until SIGTERM/SIGINT
    await service.close()


@contextmanager
def served(database_url: str) -> Iterator[tuple[str, str]]:
    """Runs :func:`serve` in a child process (so client and server don't share a GIL); yields (base URL, share token)."""
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        child = subprocess.Popen([sys.executable, __file__, "--serve", database_url, "--port-file", str(port_file)])
        try:
            deadline = time.monotonic() + 60
            while not port_file.exists() or not port_file.read_text():
                if child.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the token service did not start")
                time.sleep(0.05)
            port, token = port_file.read_text().split()
            yield f"http://127.0.0.1:{port}", token
        finally:
            child.send_signal(signal.SIGINT)
            child.wait(60)


async def drive(base_url: str, body_for: object, requests: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(requests):
            queue.put_nowait(n)

        async def worker() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                started = time.perf_counter()
                answer = await client.post("/api/realtime/session", json=body_for(n))  # type: ignore[operator]
                latencies.append(time.perf_counter() - started)
                if answer.status_code != 200:
                    raise SystemExit(f"unexpected {answer.status_code}: {answer.text}")

        for n in range(min(50, requests)):  # warm-up
            await client.post("/api/realtime/session", json=body_for(n))  # type: ignore[operator]
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return requests / elapsed, latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@contextmanager
def postgres_database() -> Iterator[str | None]:
    external = os.environ.get("VOXFLOW_BENCH_DATABASE_URL")
    if external:
        yield external
        return
    bin_dir = postgres_bin()
    if bin_dir is None:
        print("PostgreSQL not installed (apt-get install postgresql) and VOXFLOW_BENCH_DATABASE_URL unset: skipping it")
        yield None
        return
    import psycopg

    with throwaway_cluster(bin_dir) as server_url:
        name = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        yield server_url.rsplit("/", 1)[0] + "/" + name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--serve", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--port-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        try:
            asyncio.run(serve(args.serve, args.port_file))
        except KeyboardInterrupt:
            pass
        return
    results: dict[tuple[str, str], tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, postgres_database() as pg_url:
        stores = {"sqlite": f"sqlite:///{tmp}/bench.db"}
        if pg_url:
            stores["postgres"] = pg_url
        for store_name, url in stores.items():
            with served(url) as (base_url, token):
                modes = {
                    "owner-funded": lambda n, token=token: {"shareToken": token, "runId": f"bench-{n}"},
                    "user-key": lambda n: {"apiKeys": {"openai": USER_KEY}},
                }
                for mode, body_for in modes.items():
                    rate, latencies = asyncio.run(drive(base_url, body_for, args.requests, args.concurrency))
                    results[(store_name, mode)] = (rate, percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000)
    print(f"token service on loopback: {args.requests} requests per run, concurrency {args.concurrency}, upstream mocked in-process")
    print(f"{'store':<10} {'mode':<14} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for (store_name, mode), (rate, p50, p99) in results.items():
        print(f"{store_name:<10} {mode:<14} {rate:>8.0f} {p50:>8.1f} {p99:>8.1f}")
    for mode in ("owner-funded", "user-key"):
        if ("postgres", mode) in results:
            ratio = results[("postgres", mode)][0] / results[("sqlite", mode)][0]
            print(f"{mode}: postgres/sqlite throughput ratio {ratio:.2f}")
    if ("sqlite", "user-key") in results:
        ratio = results[("sqlite", "owner-funded")][0] / results[("sqlite", "user-key")][0]
        print(f"sqlite: owner-funded/user-key throughput ratio {ratio:.2f} (cost of token lookup, key opening, execution log)")


if __name__ == "__main__":
    main()
