.PHONY: run test bench
run:  ## Run the service (embedded default unless configured); options: make run ARGS="--port 9000"
	./scripts/run.sh $(ARGS)
test:  ## Run every check and the whole test suite
	./scripts/test.sh
bench:  ## HTTP load benchmark (needs PostgreSQL, Redis and wrk); see docs/benchmarks.md
	./scripts/bootstrap.sh && uv run --frozen --no-sync python bench/http_load.py
