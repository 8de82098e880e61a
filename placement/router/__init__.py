"""The live router: ``select_cluster`` over HTTP, with atomic reservations in SQLite or PostgreSQL."""
