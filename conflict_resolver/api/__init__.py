"""conflict_resolver's HTTP routes (policy, house accounts, what-if)."""
