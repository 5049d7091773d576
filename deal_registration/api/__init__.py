"""deal_registration's HTTP API (the contract in API.md)."""
