"""The durable store: deployments, history, drift findings and events in one SQLite file."""
