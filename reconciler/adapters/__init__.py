"""Adapters: the only code that talks to the outside world (Git, Pulumi, HTTP, processes)."""
