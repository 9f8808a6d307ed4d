"""Who may call: CDS Hooks client authentication with signed JSON web tokens.

CDS Hooks (2.0, "Trusting CDS Clients") has the client sign a JWT for every call and
send it as ``Authorization: Bearer``. The service checks, with PyJWT:

* the header: an asymmetric algorithm the site allows (never ``none``, never HMAC), a
  ``kid`` naming a key of the issuer's JWK Set, and ``jku`` (when sent) on the issuer's
  allow list (keys are configured out of band; a ``jku`` is never fetched);
* the claims: ``iss`` a configured issuer, ``aud`` this endpoint's public URL, ``exp``
  not passed, ``iat`` present and not too far in the past, ``jti`` present and not seen
  before from that issuer until the token expires (replay).

The configuration is a JSON file (``sequencer serve --auth FILE``)::

    {"public_url": "https://cds.example.org",
     "issuers": {"https://ehr.example.com/": {"jwks": {"keys": [...]},
                                              "jku": ["https://ehr.example.com/jwks"]}},
     "algorithms": ["ES384", "RS384"], "max_age_seconds": 300, "leeway_seconds": 30}

``jwks`` may be given as ``jwks_file`` (a path, relative to the configuration file).
"""

from __future__ import annotations

import heapq
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import jwt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sequencer.errors import UsageError

__all__ = ["ASYMMETRIC", "AuthConfig", "Caller", "TokenRejected", "Verifier", "load_auth"]

ASYMMETRIC = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}
)
"""The signing algorithms a site may allow: public-key ones only (CDS Hooks forbids
``none`` and every symmetric algorithm)."""


class Issuer(BaseModel):
    """One trusted CDS client (or identity provider): its public keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    jwks: dict[str, Any] | None = None
    jwks_file: str | None = None
    jku: list[str] = Field(default=[], description="the jku URLs this issuer may name")

    @model_validator(mode="after")
    def _one_key_source(self) -> Issuer:
        if (self.jwks is None) == (self.jwks_file is None):
            raise ValueError("give exactly one of jwks and jwks_file")
        return self


class AuthConfig(BaseModel):
    """The site's authentication settings (see the module's documentation)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    public_url: Annotated[str, Field(pattern=r"^https?://[^/?#]+(/[^?#]*)?$")]
    issuers: Annotated[dict[str, Issuer], Field(min_length=1)]
    algorithms: Annotated[list[str], Field(min_length=1)] = ["ES384", "RS384"]
    max_age_seconds: Annotated[int, Field(ge=1, le=3600)] = 300
    leeway_seconds: Annotated[int, Field(ge=0, le=300)] = 30

    @model_validator(mode="after")
    def _public_key_algorithms(self) -> AuthConfig:
        unsafe = [a for a in self.algorithms if a not in ASYMMETRIC]
        if unsafe:
            raise ValueError(
                f"algorithms {unsafe} are not allowed: only public-key algorithms "
                f"({', '.join(sorted(ASYMMETRIC))})"
            )
        return self


class TokenRejected(Exception):
    """A request's bearer token was missing or did not verify (answered with a 401)."""


@dataclass(frozen=True)
class Caller:
    """Who called, as the verified token says: issuer, subject and tenant."""

    issuer: str
    subject: str | None
    tenant: str | None

    def __str__(self) -> str:
        return self.issuer if self.subject is None else f"{self.issuer} ({self.subject})"


def load_auth(path: Path | str) -> AuthConfig:
    """Read and check an authentication file; returns an ``AuthConfig`` whose issuers
    hold their JWK Sets. Raises ``UsageError`` naming the file and every fault."""
    where = Path(path)
    try:
        raw = json.loads(where.read_text(encoding="utf-8"))
        config = AuthConfig.model_validate(raw)
    except OSError as error:
        raise UsageError(f"{where}: cannot read the authentication file ({error})") from None
    except json.JSONDecodeError as error:
        raise UsageError(f"{where}: not JSON ({error})") from None
    except ValidationError as error:
        faults = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<file>'}: {e['msg']}"
            for e in error.errors(include_url=False)
        )
        raise UsageError(f"{where}: {faults}") from None
    issuers: dict[str, Issuer] = {}
    for name, issuer in config.issuers.items():
        if issuer.jwks_file is not None:
            file = where.parent / issuer.jwks_file
            try:
                keys = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as error:
                raise UsageError(f"{file}: the JWK Set of {name} is unreadable ({error})") from None
            issuer = Issuer(jwks=keys, jku=issuer.jku)
        issuers[name] = issuer
    verified = config.model_copy(update={"issuers": issuers})
    Verifier(verified)  # every key must load now, not at the first call
    return verified


def _keys(issuer: str, jwks: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    """The issuer's public keys by ``kid``. Raises ``UsageError`` for a key without a
    ``kid`` or an ``alg`` (without one, PyJWT would assume RS256 for an RSA key)."""
    listed = jwks.get("keys")
    if not isinstance(listed, list):
        raise UsageError(f"the JWK Set of {issuer} has no keys list")
    keys: dict[str, jwt.PyJWK] = {}
    for raw in listed:
        if not isinstance(raw, Mapping) or not raw.get("kid") or not raw.get("alg"):
            raise UsageError(f"every key of {issuer} needs a kid and an alg (ES384, RS384, ...)")
        try:
            keys[str(raw["kid"])] = jwt.PyJWK.from_dict(dict(raw))
        except jwt.PyJWTError as error:
            raise UsageError(f"the key {raw['kid']} of {issuer} is not usable ({error})") from None
    return keys


class Verifier:
    """Checks bearer tokens against an ``AuthConfig``; remembers token ids (``jti``)
    until they expire, so that a token is accepted once."""

    def __init__(
        self,
        config: AuthConfig,
        claim: Callable[[str, str, float, float], bool] | None = None,
    ) -> None:
        """``claim(issuer, jti, expires, now)`` records a token id where every worker and
        replica sees it and returns False for one already recorded (the audit database);
        without it, token ids are remembered in this process only."""
        self.config = config
        self._claim = claim
        self._keys = {
            name: _keys(name, issuer.jwks or {}) for name, issuer in config.issuers.items()
        }
        self._seen: set[tuple[str, str]] = set()
        self._expiry: list[tuple[float, tuple[str, str]]] = []  # a heap, soonest first
        self._lock = threading.Lock()

    def audience(self, path: str) -> str:
        """The ``aud`` a token must carry to call ``path`` (the endpoint's public URL)."""
        return self.config.public_url.rstrip("/") + path

    def verify(self, authorization: str | None, path: str) -> Caller:
        """Return the verified caller of ``path`` from the ``Authorization`` header.

        Raises ``TokenRejected`` saying why (no token, unknown issuer or key, a
        forbidden algorithm, bad signature, wrong audience, expired, replayed).
        """
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():  # RFC 7235: scheme case-insensitive
            raise TokenRejected("a bearer token is required (Authorization: Bearer JWT)")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            raise TokenRejected(f"not a JSON web token ({error})") from None
        algorithm = header.get("alg")
        if algorithm not in self.config.algorithms:
            raise TokenRejected(f"algorithm {algorithm!r} is not accepted")
        if header.get("typ") != "JWT":
            raise TokenRejected("the header must say typ JWT")
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or issuer not in self._keys:
            raise TokenRejected("the issuer is not trusted here")
        jku = header.get("jku")
        if jku is not None and jku not in self.config.issuers[issuer].jku:
            raise TokenRejected("the jku is not on the issuer's allow list")
        key = self._keys[issuer].get(str(header.get("kid")))
        if key is None:
            raise TokenRejected("no key of the issuer has this kid")
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=self.audience(path),
                issuer=issuer,
                leeway=self.config.leeway_seconds,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise TokenRejected(f"the token is not for {self.audience(path)}") from None
        except jwt.PyJWTError as error:
            raise TokenRejected(f"the token does not verify ({error})") from None
        now = time.time()
        longest = self.config.max_age_seconds + self.config.leeway_seconds
        if float(claims["iat"]) < now - longest:
            raise TokenRejected("the token was issued too long ago")
        if float(claims["exp"]) > float(claims["iat"]) + longest:
            raise TokenRejected(f"the token lives longer than {self.config.max_age_seconds} s")
        self._once(issuer, str(claims["jti"]), float(claims["exp"]), now)
        subject = claims.get("sub")
        tenant = claims.get("tenant")
        return Caller(
            issuer,
            subject if isinstance(subject, str) else None,
            tenant if isinstance(tenant, str) else None,
        )

    def _once(self, issuer: str, jti: str, expires: float, now: float) -> None:
        if self._claim is not None:
            if not self._claim(issuer, jti, expires, now - self.config.leeway_seconds):
                raise TokenRejected("the token was already used (jti seen before)")
            return
        with self._lock:
            while self._expiry and self._expiry[0][0] < now - self.config.leeway_seconds:
                self._seen.discard(heapq.heappop(self._expiry)[1])
            if (issuer, jti) in self._seen:
                raise TokenRejected("the token was already used (jti seen before)")
            self._seen.add((issuer, jti))
            heapq.heappush(self._expiry, (expires, (issuer, jti)))
