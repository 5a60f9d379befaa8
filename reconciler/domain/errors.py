"""Errors the domain raises when asked to do something its rules forbid."""

from __future__ import annotations


class DomainError(Exception):
    """Base class of every rule the domain refuses to break."""


class InvalidTransitionError(DomainError):
    """A deployment was asked to move between two phases the transition table does not link."""

    def __init__(self, name: str, source: str, target: str) -> None:
        super().__init__(f"deployment {name!r} cannot go from {source} to {target}")
        self.name = name
        self.source = source
        self.target = target


class InvalidValueError(DomainError, ValueError):
    """A value object was built from input that breaks its invariant."""


class NothingToRollBackError(DomainError):
    """A rollback was asked for a deployment with no earlier applied revision."""
