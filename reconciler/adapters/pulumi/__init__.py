"""Pulumi: the engine for `aws` and `azure` deployments, their programs and the code package."""
