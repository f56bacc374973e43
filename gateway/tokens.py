"""JSON Web Tokens: the ones the built-in token endpoint issues, and checking any token a
client presents (issuer, audience, expiry, signature) against the configured keys: the token
endpoint's own, keys from the configuration file, and a JWKS URL's.

A verified token becomes an `Identity`: a client defined in the configuration gets its tenants
and permissions from there (so a change of the file applies to tokens already issued); any
other subject gets what its token's `tenants` and `permissions` claims say, which is how an
external identity provider grants them.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt
from propolis.gateway.security_config import PERMISSIONS, AuthConfig, ClientSpec

OWN_KEY_ID = "propolis"
OWN_ALGORITHM = "HS256"
# A token longer than this is refused unread: a bound on what one header makes us parse.
TOKEN_CHARS_MAX = 16 << 10
# Verified tokens are remembered (a client sends the same token for an hour): verifying a
# signature on every call costs more than the call. At most this many, each until its expiry.
VERIFIED_TOKENS_MAX = 10_000


class InvalidTokenError(Exception):
    """The token cannot be trusted; the message says why, never what the token holds."""


@dataclass(frozen=True)
class Identity:
    """Who made a request: a client id (or an external subject), its tenants and permissions."""

    name: str
    tenants: tuple[str, ...]
    permissions: frozenset[str]


def identity_of_client(client: ClientSpec) -> Identity:
    return Identity(client.client_id, client.tenants, client.permissions)


class TokenAuthority:
    """Issues tokens for configured clients and verifies presented ones."""

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        # Without a configured key, tokens are valid until the process stops: fine for dev.
        self._own_key = (config.signing_key or secrets.token_urlsafe(48)).encode()
        self._jwks = jwt.PyJWKClient(config.jwks_url, cache_keys=True, lifespan=300) if config.jwks_url else None
        self._verified: dict[str, tuple[float, dict[str, Any]]] = {}  # token -> (expiry, claims)
        self._verified_lock = threading.Lock()

    # -- issuing ---------------------------------------------------------------------------
    def client(self, client_id: str, secret: str) -> ClientSpec | None:
        """The configured client whose id and secret these are; None otherwise (in constant
        time for the secret)."""
        spec = self.config.clients.get(client_id)
        if spec is None:
            secrets.compare_digest(secret.encode(), b"not a client secret")
            return None
        return spec if secrets.compare_digest(secret.encode(), spec.secret.encode()) else None

    def issue(self, client: ClientSpec, now_s: float | None = None) -> tuple[str, int]:
        """(access token, seconds it is valid) for `client`."""
        now = int(now_s if now_s is not None else time.time())
        ttl = self.config.token_ttl_s
        claims = {
            "iss": self.config.issuer,
            "aud": self.config.audience,
            "sub": client.client_id,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": secrets.token_hex(8),
            "tenants": list(client.tenants),
            "permissions": sorted(client.permissions),
        }
        return jwt.encode(claims, self._own_key, OWN_ALGORITHM, headers={"kid": OWN_KEY_ID}), ttl

    # -- verifying -------------------------------------------------------------------------
    def verify(self, token: str) -> Identity:
        with self._verified_lock:
            known = self._verified.get(token)
        if known is not None:
            if time.time() < known[0] + self.config.clock_leeway_s:
                return self._identity(known[1])
            with self._verified_lock:
                self._verified.pop(token, None)
        claims = self._verified_claims(token)
        with self._verified_lock:
            if len(self._verified) >= VERIFIED_TOKENS_MAX:
                self._verified.clear()  # simple and bounded; the busy tokens come back at once
            self._verified[token] = (float(claims["exp"]), claims)
        return self._identity(claims)

    def _verified_claims(self, token: str) -> dict[str, Any]:
        if len(token) > TOKEN_CHARS_MAX:
            raise InvalidTokenError(f"the token is longer than {TOKEN_CHARS_MAX} characters")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidTokenError("the token is not a well-formed JWT") from None
        algorithm = header.get("alg")
        kid = header.get("kid")
        candidates = self._keys_for(algorithm, kid)
        if not candidates:
            raise InvalidTokenError(f"no configured key verifies tokens signed with {algorithm!r}"
                                    + (f" and key id {kid!r}" if kid else ""))
        last: Exception | None = None
        for key in candidates:
            try:
                claims = jwt.decode(
                    token, key, algorithms=[algorithm], audience=self.config.audience,
                    issuer=self.config.issuer, leeway=self.config.clock_leeway_s,
                    options={"require": ["exp", "iss", "aud", "sub"]},
                )
            except jwt.InvalidSignatureError as error:
                last = error
                continue
            except jwt.ExpiredSignatureError:
                raise InvalidTokenError("the token has expired") from None
            except jwt.InvalidAudienceError:
                raise InvalidTokenError(f"the token is not meant for audience '{self.config.audience}'") from None
            except jwt.InvalidIssuerError:
                raise InvalidTokenError(f"the token was not issued by '{self.config.issuer}'") from None
            except jwt.MissingRequiredClaimError as error:
                raise InvalidTokenError(f"the token lacks the '{error.claim}' claim") from None
            except jwt.ImmatureSignatureError:
                raise InvalidTokenError("the token is not valid yet") from None
            except jwt.PyJWTError as error:
                raise InvalidTokenError(f"the token is invalid ({type(error).__name__})") from None
            if key is self._own_key and str(claims["sub"]) not in self.config.clients:
                # Our own tokens name a configured client; one removed from the file is out.
                raise InvalidTokenError(f"client '{claims['sub']}' is not configured (any more)")
            return claims
        assert last is not None
        raise InvalidTokenError("the token's signature does not match any configured key")

    def _keys_for(self, algorithm: Any, kid: Any) -> list[Any]:
        if not isinstance(algorithm, str) or algorithm == "none":
            return []
        keys: list[Any] = []
        if algorithm == OWN_ALGORITHM and kid in (None, OWN_KEY_ID):
            keys.append(self._own_key)
        keys.extend(k.key for k in self.config.keys if k.algorithm == algorithm and (kid is None or k.kid in (None, kid)))
        if self._jwks is not None and not algorithm.startswith("HS"):
            try:
                if kid is not None:
                    keys.append(self._jwks.get_signing_key(kid).key)
                else:
                    keys.extend(k.key for k in self._jwks.get_signing_keys())
            except jwt.PyJWKClientError:
                pass  # no such key at the URL (or it is unreachable): other keys may still do
        return keys

    def _identity(self, claims: dict[str, Any]) -> Identity:
        subject = str(claims["sub"])
        client = self.config.clients.get(subject)
        if client is not None:
            return identity_of_client(client)
        tenants = claims.get("tenants")
        permissions = claims.get("permissions")
        return Identity(
            subject,
            tuple(t for t in tenants if isinstance(t, str)) if isinstance(tenants, list) else (),
            frozenset(p for p in permissions if p in PERMISSIONS) if isinstance(permissions, list) else frozenset(),
        )
