"""Composition per context: `infra` builds what every context shares (database, clock, ids,
hasher, tokens, limiters, LLM providers, queues, the real-time hub); each other module builds
one context's use cases from it, and imports no other context (an import-linter contract).
`coagent.main.container` assembles them on demand, so a process builds only what it runs.
"""
