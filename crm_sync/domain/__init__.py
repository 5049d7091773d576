"""crm_sync's pure core: field ownership, echo and ordering rules, stage tables, signatures.

Nothing here does I/O or reads a clock; connectors and handlers call these functions.
"""
