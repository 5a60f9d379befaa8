"""Use cases: one reconcile tick, applying, rolling back, drift, and the read-only queries."""
