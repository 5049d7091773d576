"""HTTP adapters shared by the services: problem+json errors, health, metrics, bearer tokens."""
