"""Handing the demo accounts to the operator, once."""

import logging
import os
from pathlib import Path

from coagent.application.demo.seed_demo import DemoSeed

logger = logging.getLogger("coagent.demo")
CREDENTIALS_FILE = "demo-credentials.txt"


def credentials_text(seed: DemoSeed) -> str:
    lines = [
        "CoAgent Studio demo accounts (created once; change or delete them as you like).",
        f"Course: {seed.course.title}   Room: {seed.room.name}",
        "",
    ]
    lines += [
        f"{account.role.value:8} {account.email:24} username {account.username:14} "
        f"password {account.password}"
        for account in seed.accounts
    ]
    return "\n".join(lines) + "\n"


def keep_credentials(data_dir: Path, seed: DemoSeed) -> Path:
    """Write the credentials to a file only the service's user can read, and say where.

    The passwords themselves never go to the log (logs must not hold secrets).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / CREDENTIALS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(credentials_text(seed))
    logger.warning(
        "demo course seeded; sign in with the accounts listed in the credentials file",
        extra={"file": str(path), "accounts": [account.email for account in seed.accounts]},
    )
    return path
