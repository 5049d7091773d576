"""A service process's threads share two malloc arenas instead of one each (glibc)."""

from __future__ import annotations

import os
import subprocess
import sys

from services.malloc_arenas import ARENAS

# Six threads alive at once, each allocating from the C heap (objects over 512 bytes bypass
# Python's small-object allocator), as six pooled SQLite connections' threads would; then
# glibc's own report of its arenas, on stderr.
_THREADS = """
import ctypes, threading
from services.malloc_arenas import limit_malloc_arenas
limit_malloc_arenas()
barrier = threading.Barrier(7)
def work():
    held = [bytes(4096) for _ in range(64)]
    barrier.wait()
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(6)]
for thread in threads:
    thread.start()
barrier.wait()
ctypes.CDLL(None).malloc_stats()
barrier.wait()
"""


def arenas_in_use(environment: dict[str, str]) -> int:
    result = subprocess.run(
        [sys.executable, "-c", _THREADS],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return sum(line.startswith("Arena ") for line in result.stderr.splitlines())


def test_a_service_process_keeps_to_two_malloc_arenas() -> None:
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert arenas_in_use(environment) <= ARENAS


def test_an_operators_own_arena_limit_is_left_alone() -> None:
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert arenas_in_use({**environment, "MALLOC_ARENA_MAX": "4"}) == 4
