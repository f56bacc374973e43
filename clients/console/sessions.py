"""Signing in to the console, and reaching the gateway as the signed-in user.

The console's users are the clients of the `auth:` configuration: one signs in with a client id
and secret and gets a session cookie that holds a token from the gateway's own authority (so
the session ends when the token expires, and no session store is needed). Actions reach the
gateway with that token, over TLS when the gateway speaks TLS: the console trusts the gateway's
certificate chain and, with mutual TLS, presents that certificate as its own client
certificate (so in that setup the gateway's certificate must be signed by the client CA).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from propolis.clients.client import PropolisClient

SESSION_COOKIE = "propolis_session"


@dataclass(frozen=True)
class Session:
    identity: Any  # propolis.gateway.tokens.Identity
    token: str


class ConsoleAuth:
    def __init__(self, security: Any, authority: Any) -> None:
        """`security`: the gateway's SecurityConfig (or None); `authority`: its TokenAuthority
        when auth is on (else None)."""
        self.security = security
        self.authority = authority

    @property
    def enabled(self) -> bool:
        return self.authority is not None

    def login(self, client_id: str, secret: str) -> str | None:
        """A token for the client with this id and secret; None if there is no such client."""
        if self.authority is None:
            return None
        client = self.authority.client(client_id, secret)
        if client is None:
            return None
        token, _ttl = self.authority.issue(client)
        return token

    def session(self, token: str | None) -> Session | None:
        if self.authority is None or not token:
            return None
        from propolis.gateway.tokens import InvalidTokenError

        try:
            return Session(self.authority.verify(token), token)
        except InvalidTokenError:
            return None

    def cookie(self, token: str) -> str:
        """The Set-Cookie value for a session with `token` ("" signs out)."""
        max_age = self.authority.config.token_ttl_s if token and self.authority is not None else 0
        return f"{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}"

    def gateway_client(self, address: str, session: Session | None) -> PropolisClient:
        credentials = None
        tls = getattr(self.security, "tls", None)
        if tls is not None and tls.enabled:
            chain, private_key, client_ca = tls.read()
            if client_ca is not None:
                credentials = grpc.ssl_channel_credentials(chain, private_key, chain)
            else:
                credentials = grpc.ssl_channel_credentials(chain)
        return PropolisClient(address, credentials=credentials, token=session.token if session else None)
