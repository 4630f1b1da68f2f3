"""Agent configurations: use cases, one per module."""
