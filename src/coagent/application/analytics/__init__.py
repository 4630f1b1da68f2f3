"""Discussion analytics: report generation as background jobs, and reading the reports."""
