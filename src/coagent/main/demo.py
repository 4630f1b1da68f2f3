"""Handing the demo accounts to the operator, once."""

import logging
import os
from pathlib import Path

from coagent.application.demo.seed_demo import DemoAccount, DemoSeed

logger = logging.getLogger("coagent.demo")
CREDENTIALS_FILE = "demo-credentials.txt"


def credentials_text(seed: DemoSeed) -> str:
    lines = [
        "CoAgent Studio demo accounts (created once; change or delete them as you like).",
        f"Course: {seed.course.title}   Room: {seed.room.name}",
        "",
    ]
    return "\n".join(lines) + "\n" + _accounts_text(seed.accounts)


def _accounts_text(accounts: tuple[DemoAccount, ...]) -> str:
    return "".join(
        f"{account.role.value:8} {account.email:24} username {account.username:14} "
        f"password {account.password}\n"
        for account in accounts
    )


def reset_credentials_text(accounts: tuple[DemoAccount, ...]) -> str:
    return (
        "CoAgent Studio demo accounts (passwords reset; change or delete them as you like).\n\n"
        + _accounts_text(accounts)
    )


def keep_credentials(data_dir: Path, seed: DemoSeed) -> Path:
    """Write the credentials to a file only the service's user can read, and say where.

    The passwords themselves never go to the log (logs must not hold secrets).
    """
    path = write_credentials(data_dir, credentials_text(seed))
    logger.warning(
        "demo course seeded; sign in with the accounts listed in the credentials file",
        extra={"file": str(path), "accounts": [account.email for account in seed.accounts]},
    )
    return path


def write_credentials(data_dir: Path, text: str) -> Path:
    """Write the credentials file, readable by the service's user only (also when it was
    there before with wider permissions), and return its path.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / CREDENTIALS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path
