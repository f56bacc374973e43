"""The gateway's security settings: TLS, authentication, tenants and permissions.

They come from the `tls:` and `auth:` blocks of the broker's YAML file (`--config`), from
`PROPOLIS_TLS_*` / `PROPOLIS_AUTH_*` environment variables and from flags, in the usual order
(flags, environment, file, defaults):

    tls:
      certificate: /etc/propolis/gateway.pem     # PEM chain: the server's certificate first
      private_key: /etc/propolis/gateway.key
      client_ca: /etc/propolis/clients-ca.pem    # optional: mutual TLS, clients need a cert from it
    auth:
      enabled: true
      issuer: propolis                           # the `iss` every token must carry
      audience: zeebe-api                        # the `aud` every token must carry
      signing_key: a-long-random-secret          # HS256 key of the built-in token endpoint
      token_ttl_s: 3600
      token_port: 8081                           # the token endpoint (HTTPS when TLS is on)
      jwks_url: https://idp.example/jwks.json    # optional: also accept an identity provider's tokens
      keys:                                      # optional: more keys that tokens may be signed with
        - {algorithm: RS256, public_key: /etc/propolis/idp.pub.pem}
      clients:
        team-a-worker:
          secret: s3cret
          tenants: [team-a]
          permissions: [work]

With auth on, multi-tenancy is on: every request is checked against the tenants of its caller.
Secrets never appear in reprs or logs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from propolis.records import DEFAULT_TENANT

PERMISSIONS = ("deploy", "start", "work", "operate")
ALGORITHMS = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "PS256")
TENANT_ID_CHARS_MAX = 31
DEFAULT_TOKEN_PORT = 8081


class SecurityConfigError(ValueError):
    """A wrong `tls:` or `auth:` setting; the message names the field."""


@dataclass(frozen=True)
class TlsConfig:
    certificate: Path | None = None
    private_key: Path | None = None
    client_ca: Path | None = None  # set: mutual TLS, a client certificate signed by it is required

    @property
    def enabled(self) -> bool:
        return self.certificate is not None

    def read(self) -> tuple[bytes, bytes, bytes | None]:
        """(certificate chain, private key, client CA or None), read from their files."""
        assert self.certificate is not None and self.private_key is not None
        try:
            return (
                self.certificate.read_bytes(),
                self.private_key.read_bytes(),
                self.client_ca.read_bytes() if self.client_ca is not None else None,
            )
        except OSError as error:
            raise SecurityConfigError(f"tls: cannot read {error.filename}: {error.strerror}") from None


@dataclass(frozen=True)
class ClientSpec:
    """One identity of the token endpoint: its secret, tenants and permissions."""

    client_id: str
    secret: str = field(repr=False)
    tenants: tuple[str, ...] = (DEFAULT_TENANT,)
    permissions: frozenset[str] = frozenset(PERMISSIONS)


@dataclass(frozen=True)
class VerificationKey:
    """A key that tokens may be signed with: a shared secret (HS*) or a public key (RS*, ES*)."""

    algorithm: str
    key: Any = field(repr=False)
    kid: str | None = None


@dataclass(frozen=True)
class AuthConfig:
    enabled: bool = False
    issuer: str = "propolis"
    audience: str = "zeebe-api"
    signing_key: str | None = field(default=None, repr=False)  # None: a random one per start
    token_ttl_s: int = 3_600
    token_host: str = "0.0.0.0"
    token_port: int | None = DEFAULT_TOKEN_PORT  # None: no token endpoint
    jwks_url: str | None = None
    keys: tuple[VerificationKey, ...] = ()
    clients: dict[str, ClientSpec] = field(default_factory=dict)
    # Clocks of issuers and gateways differ a little; `exp` and `nbf` get this much slack.
    clock_leeway_s: int = 30


@dataclass(frozen=True)
class SecurityConfig:
    tls: TlsConfig = TlsConfig()
    auth: AuthConfig = AuthConfig()


def load_security_config(
    document: dict[str, Any] | None,
    env: dict[str, str] | None = None,
    *,
    tls_certificate: str | None = None,
    tls_private_key: str | None = None,
    tls_client_ca: str | None = None,
    token_port: int | None = None,
) -> SecurityConfig:
    """The settings of the YAML file's top-level mapping `document` (its `tls` and `auth`
    blocks), overridden by the environment and then by flags (None: not given)."""
    env = os.environ if env is None else env
    document = document or {}
    tls_block = _mapping(document.get("tls"), "tls")
    auth_block = _mapping(document.get("auth"), "auth")
    for name in ("certificate", "private_key", "client_ca"):
        raw = env.get(f"PROPOLIS_TLS_{name.upper()}")
        if raw:
            tls_block[name] = raw
    for name in ("enabled", "issuer", "audience", "signing_key", "token_ttl_s", "token_port", "jwks_url"):
        raw = env.get(f"PROPOLIS_AUTH_{name.upper()}")
        if raw:
            auth_block[name] = raw
    flags = {"certificate": tls_certificate, "private_key": tls_private_key, "client_ca": tls_client_ca}
    tls_block.update({k: v for k, v in flags.items() if v is not None})
    if token_port is not None:
        auth_block["token_port"] = token_port
    return SecurityConfig(_tls(tls_block), _auth(auth_block))


def _mapping(raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SecurityConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
    return dict(raw)


def _unknown(block: dict[str, Any], known: tuple[str, ...], where: str) -> None:
    for name in block:
        if name not in known:
            raise SecurityConfigError(f"{where}: unknown setting {name!r}; known: {', '.join(known)}")


def _tls(block: dict[str, Any]) -> TlsConfig:
    _unknown(block, ("certificate", "private_key", "client_ca"), "tls")
    paths = {name: Path(str(block[name])) if block.get(name) else None for name in ("certificate", "private_key", "client_ca")}
    if (paths["certificate"] is None) != (paths["private_key"] is None):
        raise SecurityConfigError("tls: certificate and private_key go together: give both or neither")
    if paths["client_ca"] is not None and paths["certificate"] is None:
        raise SecurityConfigError("tls.client_ca: mutual TLS needs the server's certificate and private_key too")
    return TlsConfig(**paths)


def _bool(raw: Any, where: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
        return raw.lower() in ("true", "1", "yes", "on")
    raise SecurityConfigError(f"{where}: expected true or false, got {raw!r}")


def _int(raw: Any, where: str, minimum: int) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise SecurityConfigError(f"{where}: expected a whole number, got {raw!r}") from None
    if value < minimum or isinstance(raw, bool):
        raise SecurityConfigError(f"{where}: expected a whole number >= {minimum}, got {raw!r}")
    return value


def _auth(block: dict[str, Any]) -> AuthConfig:
    known = ("enabled", "issuer", "audience", "signing_key", "token_ttl_s", "token_host", "token_port",
             "jwks_url", "keys", "clients", "clock_leeway_s")
    _unknown(block, known, "auth")
    values: dict[str, Any] = {}
    if "enabled" in block:
        values["enabled"] = _bool(block["enabled"], "auth.enabled")
    for name in ("issuer", "audience", "signing_key", "token_host", "jwks_url"):
        if block.get(name) is not None:
            if not isinstance(block[name], str) or not block[name]:
                raise SecurityConfigError(f"auth.{name}: expected a non-empty string")
            values[name] = block[name]
    if "signing_key" in values and len(values["signing_key"]) < 32:
        raise SecurityConfigError("auth.signing_key: expected at least 32 characters (it signs every token)")
    if "token_ttl_s" in block:
        values["token_ttl_s"] = _int(block["token_ttl_s"], "auth.token_ttl_s", 1)
    if "clock_leeway_s" in block:
        values["clock_leeway_s"] = _int(block["clock_leeway_s"], "auth.clock_leeway_s", 0)
    if "token_port" in block:
        raw = block["token_port"]
        values["token_port"] = None if raw in (None, "off", False) else _int(raw, "auth.token_port", 0)
    values["keys"] = tuple(_key(raw, f"auth.keys[{i}]") for i, raw in enumerate(block.get("keys") or []))
    clients = _mapping(block.get("clients"), "auth.clients")
    values["clients"] = {str(cid): _client(str(cid), raw) for cid, raw in clients.items()}
    return AuthConfig(**values)


def _key(raw: Any, where: str) -> VerificationKey:
    block = _mapping(raw, where)
    _unknown(block, ("algorithm", "secret", "public_key", "kid"), where)
    algorithm = block.get("algorithm")
    if algorithm not in ALGORITHMS:
        raise SecurityConfigError(f"{where}.algorithm: expected one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    if algorithm.startswith("HS"):
        secret = block.get("secret")
        if not isinstance(secret, str) or not secret:
            raise SecurityConfigError(f"{where}.secret: an {algorithm} key needs a secret")
        key: Any = secret.encode()
    else:
        path = block.get("public_key")
        if not isinstance(path, str):
            raise SecurityConfigError(f"{where}.public_key: an {algorithm} key needs the path of a PEM public key")
        try:
            key = Path(path).read_bytes()
        except OSError as error:
            raise SecurityConfigError(f"{where}.public_key: cannot read {path}: {error.strerror}") from None
    return VerificationKey(algorithm, key, block.get("kid"))


def _client(client_id: str, raw: Any) -> ClientSpec:
    where = f"auth.clients.{client_id}"
    block = _mapping(raw, where)
    _unknown(block, ("secret", "tenants", "permissions"), where)
    secret = block.get("secret")
    if not isinstance(secret, str) or not secret:
        raise SecurityConfigError(f"{where}.secret: expected a non-empty string")
    tenants = block.get("tenants", [DEFAULT_TENANT])
    if not isinstance(tenants, list) or not all(isinstance(t, str) for t in tenants):
        raise SecurityConfigError(f"{where}.tenants: expected a list of tenant ids")
    for tenant in tenants:
        check_tenant_id(tenant, f"{where}.tenants")
    permissions = block.get("permissions", list(PERMISSIONS))
    if not isinstance(permissions, list):
        raise SecurityConfigError(f"{where}.permissions: expected a list out of {', '.join(PERMISSIONS)}")
    for permission in permissions:
        if permission not in PERMISSIONS:
            raise SecurityConfigError(
                f"{where}.permissions: unknown permission {permission!r}; expected some of {', '.join(PERMISSIONS)}"
            )
    return ClientSpec(client_id, secret, tuple(tenants), frozenset(permissions))


def check_tenant_id(tenant: str, where: str) -> None:
    """Zeebe's rule for tenant ids: at most 31 characters of letters, digits, `_`, `-`, `.`
    (or the default tenant)."""
    if tenant == DEFAULT_TENANT:
        return
    if not tenant or len(tenant) > TENANT_ID_CHARS_MAX or not all(c.isascii() and (c.isalnum() or c in "_-.") for c in tenant):
        raise SecurityConfigError(
            f"{where}: tenant id {tenant!r} must be 1 to {TENANT_ID_CHARS_MAX} letters, digits, '_', '-' or '.'"
        )
