from conflict_resolver.adapters.tables import metadata
from services.migrations import run_env

run_env(metadata)
