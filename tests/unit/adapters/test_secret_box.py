import pytest
from cryptography.fernet import Fernet

from coagent.adapters.security.secret_box import FernetSecretBox
from coagent.domain.errors import InvalidInput

SECRET = "sk-live-provider-key-0123456789"


def new_key() -> str:
    return Fernet.generate_key().decode()


def test_round_trip_hides_the_plaintext() -> None:
    box = FernetSecretBox([new_key()])

    ciphertext = box.encrypt(SECRET)

    assert SECRET not in ciphertext
    assert box.decrypt(ciphertext) == SECRET
    assert box.encrypt(SECRET) != ciphertext  # fresh IV every time


def test_key_rotation() -> None:
    old, new = new_key(), new_key()
    stored = FernetSecretBox([old]).encrypt(SECRET)
    during = FernetSecretBox([new, old])

    assert during.decrypt(stored) == SECRET
    rotated = during.rotate(stored)

    assert FernetSecretBox([new]).decrypt(rotated) == SECRET
    with pytest.raises(InvalidInput):
        FernetSecretBox([old]).decrypt(rotated)
    # Encryption always uses the first key.
    assert FernetSecretBox([new]).decrypt(during.encrypt(SECRET)) == SECRET


@pytest.mark.parametrize("operation", ["decrypt", "rotate"])
def test_the_wrong_key_fails_without_echoing_the_ciphertext(operation: str) -> None:
    ciphertext = FernetSecretBox([new_key()]).encrypt(SECRET)
    stranger = FernetSecretBox([new_key()])

    with pytest.raises(InvalidInput) as error:
        getattr(stranger, operation)(ciphertext)

    message = f"{error.value} {error.value.detail} {error.value!r}"
    assert ciphertext not in message
    assert ciphertext[:16] not in message
    assert SECRET not in message


@pytest.mark.parametrize("garbage", ["", "not a token", "gAAAAABtruncated"])
def test_garbage_is_invalid_input(garbage: str) -> None:
    with pytest.raises(InvalidInput, match="cannot be decrypted"):
        FernetSecretBox([new_key()]).decrypt(garbage)


def test_at_least_one_key_is_required() -> None:
    with pytest.raises(ValueError, match="key"):
        FernetSecretBox([])
