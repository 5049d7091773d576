import conflict_resolver.queue.tables  # noqa: F401 - registers the queue's tables
from conflict_resolver.adapters.tables import metadata
from services.migrations import run_env

run_env(metadata)
