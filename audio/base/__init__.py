"""Shared primitives: clock, errors, event hub, stream registry."""
