"""Argon2PasswordHasher with real argon2id, at the smallest cost that still exercises it."""

from collections.abc import Iterator

import pytest

from coagent.adapters.security.passwords import Argon2PasswordHasher

pytestmark = pytest.mark.anyio
PASSWORD = "correct horse battery staple"


@pytest.fixture
def hasher() -> Iterator[Argon2PasswordHasher]:
    hasher = Argon2PasswordHasher(memory_cost=64, time_cost=1)
    yield hasher
    hasher.close()


@pytest.fixture
def stronger() -> Iterator[Argon2PasswordHasher]:
    hasher = Argon2PasswordHasher(memory_cost=128, time_cost=2)
    yield hasher
    hasher.close()


async def test_hash_and_verify(hasher: Argon2PasswordHasher) -> None:
    hashed = await hasher.hash(PASSWORD)

    assert hashed.startswith("$argon2id$")
    assert "m=64,t=1,p=1" in hashed
    assert PASSWORD not in hashed
    assert await hasher.verify(hashed, PASSWORD)
    assert await hasher.hash(PASSWORD) != hashed  # salted


@pytest.mark.parametrize("attempt", ["wrong password", "", PASSWORD.upper(), PASSWORD + " "])
async def test_a_wrong_password_does_not_verify(hasher: Argon2PasswordHasher, attempt: str) -> None:
    assert not await hasher.verify(await hasher.hash(PASSWORD), attempt)


@pytest.mark.parametrize(
    "attempt", [PASSWORD, "dummy password for timing equalisation"], ids=["any", "the-dummy"]
)
async def test_no_hash_never_verifies(hasher: Argon2PasswordHasher, attempt: str) -> None:
    assert not await hasher.verify(None, attempt)


@pytest.mark.parametrize("stored", ["", "not a hash", "$argon2id$v=19$garbage"])
async def test_a_corrupt_hash_does_not_verify(hasher: Argon2PasswordHasher, stored: str) -> None:
    assert not await hasher.verify(stored, PASSWORD)
    assert hasher.needs_rehash(stored)


async def test_needs_rehash_when_the_parameters_change(
    hasher: Argon2PasswordHasher, stronger: Argon2PasswordHasher
) -> None:
    weak = await hasher.hash(PASSWORD)
    strong = await stronger.hash(PASSWORD)

    assert not hasher.needs_rehash(weak)
    assert stronger.needs_rehash(weak)
    assert hasher.needs_rehash(strong)
    assert not stronger.needs_rehash(strong)
    # Old hashes keep working after an upgrade: parameters are read from the hash.
    assert await stronger.verify(weak, PASSWORD)


async def test_long_passphrases_are_supported(hasher: Argon2PasswordHasher) -> None:
    passphrase = "word " * 200

    hashed = await hasher.hash(passphrase)

    assert await hasher.verify(hashed, passphrase)
    assert not await hasher.verify(hashed, passphrase[:-1])
