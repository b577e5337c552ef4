"""Key generation, JWK/JWKS building and JWT minting for the e2e suite.

Everything is done with `cryptography`; signatures follow RFC 7515/7518:
ES256 is the raw 64-byte r||s concatenation, RS256 is PKCS#1 v1.5 with SHA-256.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
import uuid
from typing import Any, Iterable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64url(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _uint_bytes(value: int, length: int | None = None) -> bytes:
    if length is None:
        length = max(1, (value.bit_length() + 7) // 8)
    return value.to_bytes(length, "big")


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


_kid_counter = itertools.count(1)


class EcKey:
    """A P-256 key for ES256."""

    alg = "ES256"

    def __init__(self, kid: str | None = None):
        self.kid = kid or f"ec-{next(_kid_counter)}-{uuid.uuid4().hex[:6]}"
        self.private = ec.generate_private_key(ec.SECP256R1())

    def jwk(self, **overrides: Any) -> dict:
        nums = self.private.public_key().public_numbers()
        jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(_uint_bytes(nums.x, 32)),
            "y": b64url(_uint_bytes(nums.y, 32)),
            "kid": self.kid,
            "alg": "ES256",
            "use": "sig",
        }
        jwk.update(overrides)
        return {k: v for k, v in jwk.items() if v is not None}

    def sign(self, signing_input: bytes) -> bytes:
        der = self.private.sign(signing_input, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return _uint_bytes(r, 32) + _uint_bytes(s, 32)


class RsaKey:
    """An RSA key (2048 bits by default) for RS256."""

    alg = "RS256"

    def __init__(self, kid: str | None = None, bits: int = 2048):
        self.kid = kid or f"rsa-{next(_kid_counter)}-{uuid.uuid4().hex[:6]}"
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=bits)

    def jwk(self, **overrides: Any) -> dict:
        nums = self.private.public_key().public_numbers()
        jwk = {
            "kty": "RSA",
            "n": b64url(_uint_bytes(nums.n)),
            "e": b64url(_uint_bytes(nums.e)),
            "kid": self.kid,
            "alg": "RS256",
            "use": "sig",
        }
        jwk.update(overrides)
        return {k: v for k, v in jwk.items() if v is not None}

    def sign(self, signing_input: bytes) -> bytes:
        return self.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())


def jwks(*keys: Any) -> dict:
    """Build a JWKS document; entries may be key objects or ready JWK dicts."""
    out = []
    for key in keys:
        out.append(key if isinstance(key, dict) else key.jwk())
    return {"keys": out}


def sign_raw(key: Any, header: dict, payload: dict | bytes | str) -> str:
    """Sign arbitrary header/payload with `key` (header is used verbatim)."""
    h = b64url(_json_bytes(header))
    if isinstance(payload, dict):
        p = b64url(_json_bytes(payload))
    elif isinstance(payload, bytes):
        p = b64url(payload)
    else:
        p = payload
    signing_input = f"{h}.{p}".encode()
    return f"{h}.{p}.{b64url(key.sign(signing_input))}"


_UNSET = object()


def mint(
    key: Any,
    *,
    iss: str,
    aud: Any = _UNSET,
    sub: str = "user-1",
    ttl: int = 600,
    typ: Any = "JWT",
    kid: Any = _UNSET,
    alg: str | None = None,
    header_extra: dict | None = None,
    **claims: Any,
) -> str:
    """Mint a token with sensible defaults; pass a claim as None to drop it.

    Every token gets a fresh `jti`, so two calls never produce the same
    string (useful to defeat a verified-token cache).
    """
    now = int(time.time())
    header: dict = {"alg": alg or key.alg}
    if typ is not None:
        header["typ"] = typ
    kid_value = key.kid if kid is _UNSET else kid
    if kid_value is not None:
        header["kid"] = kid_value
    if header_extra:
        header.update(header_extra)
    payload: dict = {"iss": iss, "sub": sub, "iat": now, "exp": now + ttl, "jti": uuid.uuid4().hex}
    if aud is not _UNSET:
        payload["aud"] = aud
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return sign_raw(key, header, payload)


def split(token: str) -> tuple[dict, dict, bytes]:
    h, p, s = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p)), b64url_decode(s)


def tamper_signature(token: str) -> str:
    """Flip bits of the signature while keeping its length (bad_signature)."""
    h, p, s = token.split(".")
    raw = bytearray(b64url_decode(s))
    raw[len(raw) // 2] ^= 0x55
    raw[-1] ^= 0x01
    return f"{h}.{p}.{b64url(bytes(raw))}"


def jwks_json(keys: Iterable[Any]) -> str:
    return json.dumps(jwks(*keys))
