"""A real Redis server for tests: the ``redis_url`` fixture.

``JIDO_REDIS_URL`` from the environment if set; otherwise a ``redis-server`` started on a free
loopback port in a temporary directory, with the append-only file fsynced on every write (the
configuration :class:`~jido_interpreters.RedisStorage` documents for full durability), and
shut down after the session. The tests are skipped only when no ``redis-server`` binary
exists (CI installs one, so CI runs them for real).

Test modules import the fixture into their namespace, where pytest finds it. Under
``--import-mode=importlib`` pytest imports ``tests/`` as the namespace package ``tests`` (its
rootdir is the project root), and mypy resolves the same name from the project root::

    from tests.redis_server import redis_url
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

__all__ = ["free_port", "redis_url", "start_redis"]

#: How long a fresh server may take to answer PING.
START_TIMEOUT = 15.0
#: How many free ports to try (another process may take the one we picked).
PORT_ATTEMPTS = 5


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _answers(proc: subprocess.Popen[bytes], port: int) -> bool:
    """Wait (bounded) until the server on ``port`` answers PING; False if it exited."""
    import redis

    client = redis.Redis(port=port, socket_connect_timeout=1, socket_timeout=1)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if client.ping():
                    return True
            except redis.ConnectionError:
                pass
            if proc.poll() is not None:
                return False  # it exited: most likely the port was taken meanwhile
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server on port {port} did not answer PING in time")
            # Not a fixed sleep: a bounded wait that returns early if the server dies.
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.02)
    finally:
        client.close()


@contextlib.contextmanager
def start_redis(workdir: Path, port: int | None = None, extra: Sequence[str] = ()) -> Iterator[str]:
    """Run a ``redis-server`` on loopback with its data in ``workdir``; yields its URL.

    Args:
        port: the port to listen on (to restart a server where its clients expect it);
            a free one if not given.
        extra: more arguments for the server (``--rename-command CONFIG ""``, say).

    Raises:
        FileNotFoundError: no ``redis-server`` binary on ``PATH``.
        RuntimeError: it would not start (on ``port``, or on any of a few free ports).
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server")
    for _ in range(1 if port is not None else PORT_ATTEMPTS):
        chosen = port if port is not None else free_port()
        proc = subprocess.Popen(
            [
                binary,
                *("--port", str(chosen), "--bind", "127.0.0.1", "--save", ""),
                *("--appendonly", "yes", "--appendfsync", "always", "--dir", str(workdir)),
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            if _answers(proc, chosen):
                yield f"redis://127.0.0.1:{chosen}/0"
                return
        finally:
            _stop(proc)
    where = f"port {port}" if port is not None else f"any of {PORT_ATTEMPTS} free ports"
    raise RuntimeError(f"redis-server did not start on {where}")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis URL: ``JIDO_REDIS_URL`` if set, else a redis-server started for the session.

    Tests keep apart with their own key prefix (the server may be shared).
    """
    url = os.environ.get("JIDO_REDIS_URL")
    if url:
        yield url
        return
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    with start_redis(tmp_path_factory.mktemp("redis")) as started:
        yield started
