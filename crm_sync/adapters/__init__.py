"""crm_sync's database."""
