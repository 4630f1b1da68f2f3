"""JwtTokenCodec. pyjwt checks exp/nbf against the wall clock, so tokens are issued around
the real current time; no assertion depends on how long the test takes.
"""

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import jwt
import pytest

from coagent.adapters.security.tokens import JwtTokenCodec
from coagent.application.ports.security import AccessClaims, RefreshClaims
from coagent.domain.accounts.roles import Role
from coagent.domain.errors import NotAuthenticated

SECRET = "unit-test-secret-long-enough-for-hs512-too-".ljust(64, "x")
USER = UUID("00000000-0000-7000-8000-000000000001")
SESSION = UUID("00000000-0000-7000-8000-000000000002")
ADMIN = UUID("00000000-0000-7000-8000-000000000003")


class MovableClock:
    """The Clock port, at a time the test sets."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def codec(**overrides: Any) -> JwtTokenCodec:
    settings = {"secret": SECRET, "issuer": "coagent", "audience": "coagent-api", **overrides}
    return JwtTokenCodec(**settings)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def access(
    *, issued_at: datetime | None = None, ttl: timedelta = timedelta(minutes=10), **kwargs: Any
) -> str:
    issued_at = issued_at or now()
    claims = AccessClaims(
        user_id=USER,
        session_id=SESSION,
        role=Role.TEACHER,
        expires_at=issued_at + ttl,
        impersonator_id=kwargs.pop("impersonator_id", None),
    )
    return codec(**kwargs).encode_access(claims, issued_at)


def refresh(*, jti: str = "refresh-jti", **kwargs: Any) -> str:
    issued_at = now()
    claims = RefreshClaims(
        user_id=USER, session_id=SESSION, jti=jti, expires_at=issued_at + timedelta(days=1)
    )
    return codec(**kwargs).encode_refresh(claims, issued_at)


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # type: ignore[no-any-return]


def test_access_tokens_round_trip() -> None:
    issued_at = now()
    token = access(issued_at=issued_at, impersonator_id=ADMIN)

    claims = codec().decode_access(token)

    assert claims == AccessClaims(
        user_id=USER,
        session_id=SESSION,
        role=Role.TEACHER,
        expires_at=issued_at + timedelta(minutes=10),
        impersonator_id=ADMIN,
    )
    payload = _payload(token)
    assert payload["typ"] == "access"
    assert payload["act"] == {"sub": str(ADMIN)}
    assert set(payload) >= {"sub", "exp", "iat", "nbf", "iss", "aud", "jti", "typ"}


def test_each_access_token_has_its_own_jti() -> None:
    issued_at = now()
    assert (
        _payload(access(issued_at=issued_at))["jti"] != _payload(access(issued_at=issued_at))["jti"]
    )


def test_refresh_tokens_round_trip_with_their_jti() -> None:
    claims = codec().decode_refresh(refresh(jti="family-7"))

    assert (claims.user_id, claims.session_id, claims.jti) == (USER, SESSION, "family-7")


def test_an_access_token_is_not_a_refresh_token() -> None:
    with pytest.raises(NotAuthenticated, match="Not a refresh token"):
        codec().decode_refresh(access())


def test_a_refresh_token_is_not_an_access_token() -> None:
    with pytest.raises(NotAuthenticated, match="Not an access token"):
        codec().decode_access(refresh())


def test_an_expired_token_is_refused() -> None:
    token = access(issued_at=now() - timedelta(hours=1), ttl=timedelta(minutes=10))

    with pytest.raises(NotAuthenticated, match="expired"):
        codec().decode_access(token)


def test_a_token_from_the_future_is_refused() -> None:
    with pytest.raises(NotAuthenticated, match="Invalid token"):
        codec().decode_access(access(issued_at=now() + timedelta(hours=1)))


@pytest.mark.parametrize(
    "decoder",
    [
        {"audience": "another-api"},
        {"issuer": "someone-else"},
        {"secret": "another-secret-that-is-also-32-bytes-or-more"},
    ],
    ids=["audience", "issuer", "secret"],
)
def test_tokens_for_another_service_are_refused(decoder: dict[str, str]) -> None:
    with pytest.raises(NotAuthenticated, match="Invalid token"):
        codec(**decoder).decode_access(access())
    with pytest.raises(NotAuthenticated, match="Invalid token"):
        codec(**decoder).decode_refresh(refresh())


def test_an_unsigned_alg_none_token_is_refused() -> None:
    payload = _payload(access())
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(payload)}."

    with pytest.raises(NotAuthenticated, match="Invalid token"):
        codec().decode_access(token)


def test_another_hmac_algorithm_is_refused() -> None:
    token = jwt.encode(_payload(access()), SECRET, algorithm="HS512")

    with pytest.raises(NotAuthenticated, match="Invalid token"):
        codec().decode_access(token)


def test_a_tampered_payload_is_refused() -> None:
    header, payload, signature = access().split(".")
    claims = _payload(f"{header}.{payload}.{signature}")
    forged = f"{header}.{_b64({**claims, 'role': 'super_admin'})}.{signature}"

    with pytest.raises(NotAuthenticated, match="Invalid token"):
        codec().decode_access(forged)


@pytest.mark.parametrize("claim", ["sid", "jti", "typ", "sub", "aud", "iss", "nbf", "iat"])
def test_a_token_missing_a_required_claim_is_refused(claim: str) -> None:
    payload = _payload(access())
    del payload[claim]
    token = jwt.encode(payload, SECRET, algorithm="HS256")

    with pytest.raises(NotAuthenticated):
        codec().decode_access(token)


@pytest.mark.parametrize(
    "change",
    [{"role": "owner"}, {"sub": "not-a-uuid"}, {"act": {"sub": "nope"}}],
    ids=["unknown-role", "bad-subject", "bad-actor"],
)
def test_a_signed_token_with_malformed_claims_is_refused(change: dict[str, Any]) -> None:
    token = jwt.encode({**_payload(access()), **change}, SECRET, algorithm="HS256")

    with pytest.raises(NotAuthenticated, match="Invalid token"):
        codec().decode_access(token)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30."])
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(NotAuthenticated):
        codec().decode_access(garbage)


def test_a_verified_token_is_not_verified_again_but_still_expires(monkeypatch):
    clock = MovableClock(now())
    shared = codec(clock=clock)
    token = access(ttl=timedelta(minutes=1))
    first = shared.decode_access(token)
    calls = []
    monkeypatch.setattr(jwt, "decode", lambda *a, **k: calls.append(1))  # would break decoding
    assert shared.decode_access(token) == first
    assert calls == []
    clock.at = first.expires_at + timedelta(seconds=60)
    with pytest.raises(NotAuthenticated, match="expired"):
        shared.decode_access(token)


def test_failed_verifications_are_not_remembered():
    shared = codec()
    forged = access(secret="another-secret-entirely-".ljust(64, "y"))
    for _ in range(2):
        with pytest.raises(NotAuthenticated):
            shared.decode_access(forged)
