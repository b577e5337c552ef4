"""Signing keys, their JWKS, and JWT minting for the benchmark (Python `cryptography`).

One P-256 key (ES256, signature as raw r||s, 64 bytes) and one RSA-2048 key (RS256,
PKCS#1 v1.5 with SHA-256) are generated per run. Tokens carry iss/aud/sub/iat/exp with exp far
in the future; every token of a pool has its own `sub` and `jti`, so all are distinct. A DPoP
client key signs proofs (RFC 9449): a token bound to it carries `cnf.jkt`, its RFC 7638
thumbprint.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

ISSUER = "https://issuer.bench.local/"
AUDIENCE = "bench-api"
LIFETIME_S = 365 * 24 * 3600


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(n: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (n.bit_length() + 7) // 8)
    return b64url(n.to_bytes(length, "big"))


def _compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


@dataclass
class SigningKey:
    """A private key with its algorithm, kid and public JWK."""

    alg: str
    kid: str
    key: Any

    @classmethod
    def generate(cls, alg: str) -> "SigningKey":
        """A fresh key for "ES256" (P-256) or "RS256" (RSA-2048, e = 65537)."""
        if alg == "ES256":
            return cls(alg, "bench-es256", ec.generate_private_key(ec.SECP256R1()))
        if alg == "RS256":
            return cls(alg, "bench-rs256", rsa.generate_private_key(65537, 2048))
        raise ValueError(f"unsupported algorithm {alg}")

    def jwk(self) -> dict[str, str]:
        """The public key as a JWK with kid, use and alg."""
        pub = self.key.public_key().public_numbers()
        base = {"kid": self.kid, "use": "sig", "alg": self.alg}
        if self.alg == "ES256":
            return {"kty": "EC", "crv": "P-256", "x": _uint(pub.x, 32), "y": _uint(pub.y, 32), **base}
        return {"kty": "RSA", "n": _uint(pub.n), "e": _uint(pub.e), **base}

    def jwks_json(self) -> str:
        """`{"keys": [<this key>]}` as a compact JSON string."""
        return json.dumps({"keys": [self.jwk()]}, separators=(",", ":"))

    def sign(self, signing_input: bytes) -> bytes:
        """The JWS signature bytes over `signing_input`."""
        if self.alg == "ES256":
            der = self.key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
            r, s = utils.decode_dss_signature(der)
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return self.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())

    def mint(self, sub: str, now: int | None = None, jkt: str | None = None) -> str:
        """A valid compact JWT for the benchmark's issuer and audience (bound to the DPoP key
        whose thumbprint is `jkt`, when given)."""
        now = int(time.time()) if now is None else now
        header = {"alg": self.alg, "typ": "JWT", "kid": self.kid}
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": sub,
            "jti": sub,
            "iat": now - 60,
            "exp": now + LIFETIME_S,
        }
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}
        signing_input = f"{b64url(_compact(header))}.{b64url(_compact(claims))}".encode()
        return f"{signing_input.decode()}.{b64url(self.sign(signing_input))}"

    def public_jwk(self) -> dict[str, str]:
        """The public key's required members only (what a DPoP proof's `jwk` carries)."""
        return {k: v for k, v in self.jwk().items() if k in ("kty", "crv", "x", "y", "n", "e")}

    def thumbprint(self) -> str:
        """The RFC 7638 SHA-256 thumbprint: the required members, sorted, no whitespace."""
        canonical = json.dumps(self.public_jwk(), sort_keys=True, separators=(",", ":")).encode()
        return b64url(hashlib.sha256(canonical).digest())

    def proofs(self, token: str, htm: str, htu: str, count: int, now: int | None = None) -> list[str]:
        """`count` DPoP proofs (RFC 9449 §4.2) of this key for `token` on `htm` `htu`, each with
        its own `jti`: a repeated token with a fresh proof per request."""
        now = int(time.time()) if now is None else now
        header = b64url(_compact({"typ": "dpop+jwt", "alg": self.alg, "jwk": self.public_jwk()}))
        ath = b64url(hashlib.sha256(token.encode()).digest())
        out = []
        for i in range(count):
            claims = {"jti": f"p{i:08d}-{now}", "htm": htm, "htu": htu, "iat": now, "ath": ath}
            signing_input = f"{header}.{b64url(_compact(claims))}".encode()
            out.append(f"{signing_input.decode()}.{b64url(self.sign(signing_input))}")
        return out

    def pool(self, count: int) -> list[str]:
        """`count` distinct valid tokens."""
        now = int(time.time())
        return [self.mint(f"user-{i:06d}", now) for i in range(count)]
