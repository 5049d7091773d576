"""conflict_resolver's database: claims, live protections, outbox and inbox."""
