.PHONY: run test bench
run:  ## Run the service (embedded default unless configured)
	./scripts/run.sh
test:  ## Run every check and the whole test suite
	./scripts/test.sh
bench:  ## HTTP load benchmark (needs PostgreSQL, Redis and wrk); see docs/benchmarks.md
	./scripts/bootstrap.sh && uv run --frozen --no-sync python bench/http_load.py
