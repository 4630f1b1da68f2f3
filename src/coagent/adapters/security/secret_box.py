"""Secrets at rest: Fernet with a rotatable key list (the first key encrypts)."""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from coagent.domain.errors import InvalidInput


class FernetSecretBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("At least one encryption key is required")
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as error:
            # Never echo the ciphertext or anything derived from it.
            raise InvalidInput(
                "Stored secret cannot be decrypted with the configured keys"
            ) from error

    def rotate(self, ciphertext: str) -> str:
        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except InvalidToken as error:
            raise InvalidInput(
                "Stored secret cannot be decrypted with the configured keys"
            ) from error
