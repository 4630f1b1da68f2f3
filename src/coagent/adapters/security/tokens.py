"""JWT access and refresh tokens (HS256 only; typ, iss, aud, jti checked)."""

import secrets
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

import jwt

from coagent.adapters.system import SystemClock
from coagent.application.ports.clock import Clock
from coagent.application.ports.security import AccessClaims, RefreshClaims
from coagent.domain.accounts.roles import Role
from coagent.domain.errors import NotAuthenticated

ALGORITHM = "HS256"
_REQUIRED = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "typ", "sid"]


class JwtTokenCodec:
    def __init__(
        self,
        *,
        secret: str,
        issuer: str,
        audience: str,
        leeway: int = 5,
        cache_size: int = 8192,
        clock: Clock | None = None,
    ) -> None:
        self._clock: Clock = clock or SystemClock()
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        # Verifying a signature costs more than the rest of a cheap request; a token that
        # verified once is the same token next time (only its expiry needs checking again).
        # Failures are not cached, so a forged token pays the full price every time.
        self._verified_access = lru_cache(maxsize=cache_size)(self._decode_access)

    def encode_access(self, claims: AccessClaims, issued_at: datetime) -> str:
        payload: dict[str, Any] = {
            **self._base("access", claims.user_id, claims.session_id, issued_at),
            "exp": claims.expires_at,
            "jti": secrets.token_urlsafe(12),
            "role": claims.role.value,
        }
        if claims.impersonator_id is not None:
            payload["act"] = {"sub": str(claims.impersonator_id)}
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def encode_refresh(self, claims: RefreshClaims, issued_at: datetime) -> str:
        payload = {
            **self._base("refresh", claims.user_id, claims.session_id, issued_at),
            "exp": claims.expires_at,
            "jti": claims.jti,
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def decode_access(self, token: str) -> AccessClaims:
        claims = self._verified_access(token)
        if claims.expires_at.timestamp() + self._leeway < self._clock.now().timestamp():
            raise NotAuthenticated("Token has expired")
        return claims

    def _decode_access(self, token: str) -> AccessClaims:
        payload = self._decode(token, "access")
        try:
            actor = payload.get("act")
            return AccessClaims(
                user_id=UUID(payload["sub"]),
                session_id=UUID(payload["sid"]),
                role=Role(payload["role"]),
                expires_at=datetime.fromtimestamp(payload["exp"], UTC),
                impersonator_id=UUID(actor["sub"]) if isinstance(actor, dict) else None,
            )
        except (KeyError, ValueError, TypeError) as error:
            raise NotAuthenticated("Invalid token") from error

    def decode_refresh(self, token: str) -> RefreshClaims:
        payload = self._decode(token, "refresh")
        try:
            return RefreshClaims(
                user_id=UUID(payload["sub"]),
                session_id=UUID(payload["sid"]),
                jti=str(payload["jti"]),
                expires_at=datetime.fromtimestamp(payload["exp"], UTC),
            )
        except (KeyError, ValueError, TypeError) as error:
            raise NotAuthenticated("Invalid token") from error

    def _base(
        self, typ: str, user_id: UUID, session_id: UUID, issued_at: datetime
    ) -> dict[str, Any]:
        return {
            "typ": typ,
            "sub": str(user_id),
            "sid": str(session_id),
            "iss": self._issuer,
            "aud": self._audience,
            "iat": issued_at,
            "nbf": issued_at,
        }

    def _decode(self, token: str, typ: str) -> dict[str, Any]:
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": _REQUIRED},
            )
        except jwt.ExpiredSignatureError as error:
            raise NotAuthenticated("Token has expired") from error
        except jwt.PyJWTError as error:
            raise NotAuthenticated("Invalid token") from error
        if payload.get("typ") != typ:
            raise NotAuthenticated(
                f"Not an {typ} token" if typ == "access" else "Not a refresh token"
            )
        return payload
