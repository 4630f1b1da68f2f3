"""Peer-agent proposals over HTTP (staff only)."""
