"""The peer agent's proposals: listing, staff and teacher-agent decisions, expiry (ADR 0012)."""
