"""The demo context: the demo course seeded on an embedded first start."""

from coagent.application.accounts.create_user import AccountFactory
from coagent.application.demo.seed_demo import SeedDemo
from coagent.main.compose.infra import Infrastructure


def seed_demo(infra: Infrastructure) -> SeedDemo:
    accounts = AccountFactory(hasher=infra.hasher, clock=infra.clock, ids=infra.ids)
    return SeedDemo(uow=infra.uow, accounts=accounts, clock=infra.clock, ids=infra.ids)
