"""Event sinks: where domain events go after they are stored."""
