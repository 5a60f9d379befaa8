"""The pure core: deployments, their specs, status transitions and domain events.

Nothing here imports outside the standard library (an import-linter contract holds it so).
"""
