"""HTTP routers: jobs, catalog, health (one per responsibility)."""
