"""Fewer glibc malloc arenas per service process.

glibc gives each new thread that allocates an arena of its own, up to eight per core. A
service's threads are few but busy: every pooled SQLite connection runs in its own aiosqlite
thread, which builds each fetched row (and SQLite's page cache) in that thread's arena. Memory
freed later by the event loop goes back to the arena it came from, where it stays, fragmented,
for that thread's next peak: each arena keeps its own high-water mark. Under a sustained load
that showed as the resolver's resident memory creeping up long after warm-up
(docs/benchmarks.md, issue 12 goal 5). Two arenas (glibc's ``MALLOC_ARENA_MAX=2``, as commonly
set for threaded Python and JVM services) share the peaks instead; the threads mostly allocate
holding the GIL, so they seldom wait for an arena's lock.
"""

from __future__ import annotations

import ctypes
import os

ARENAS = 2
_M_ARENA_MAX = -8  # glibc's malloc.h


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap this process's malloc arenas at ``arenas``; True if the C library took it.

    Call it before the process starts threads: arenas already created stay. An operator's
    own ``MALLOC_ARENA_MAX`` (read by glibc at start) is left as it is. Elsewhere than glibc
    (macOS, musl) there is nothing to do.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))
