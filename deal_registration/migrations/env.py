from deal_registration.adapters.tables import metadata
from services.migrations import run_env

run_env(metadata)
