"""Discussion analytics: jobs that write reports, and the figures a report holds."""
