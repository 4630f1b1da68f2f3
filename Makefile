.PHONY: run test bench
run:  ## Run the service (embedded default unless configured)
	./scripts/run.sh
test:  ## Run every check and the whole test suite
	./scripts/test.sh
