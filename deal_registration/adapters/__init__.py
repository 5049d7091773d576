"""deal_registration's database: tables and the queries its handlers need."""
