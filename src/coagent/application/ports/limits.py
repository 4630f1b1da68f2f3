"""Rate limits on actions (sends, LLM calls), shared by every process when Redis is set."""

from typing import Protocol


class RateLimiter(Protocol):
    async def hit(self, key: str, *, limit: int, window_seconds: float) -> float:
        """Count one action under `key` unless `limit` were reached within the last
        `window_seconds`: returns 0.0 when counted (allowed), else the seconds until one
        is allowed again (nothing counted). Checked and counted atomically.
        """
        ...
