"""/api/v1/analytics and /api/v1/jobs."""
