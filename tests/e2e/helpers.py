"""Assertions and small utilities shared by the test modules."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from envoy import Envoy, Response, request, www_auth_params

HOST = "api.test"  # the :authority every test request carries, so realm="api.test"

CORP_ISS = "https://corp.example/"
ESONLY_ISS = "https://esonly.example/"
PARTNER_ISS = "https://partner.example/"


class Gateway:
    """Client for one Envoy: requests carry Host api.test; optional bearer token."""

    def __init__(self, envoy: Envoy):
        self.envoy = envoy

    def get(self, path: str = "/", token: str | None = None, headers=None, method: str = "GET",
            timeout: float = 15.0) -> Response:
        hdrs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        if token is not None:
            hdrs.append(("Authorization", f"Bearer {token}"))
        if not any(k.lower() == "host" for k, _ in hdrs):
            hdrs.append(("Host", HOST))
        return request(self.envoy.port, path, method=method, headers=hdrs, timeout=timeout)


def _body_json(resp: Response) -> dict:
    try:
        return json.loads(resp.body)
    except ValueError:
        raise AssertionError(f"body is not JSON: {resp}") from None


def assert_no_token_echo(resp: Response, token: str | None) -> None:
    if not token:
        return
    # Any long-enough piece of the token (e.g. its signature) must not appear.
    parts = [p for p in token.split(".") if len(p) >= 16] or [token]
    blob = resp.body.decode("latin-1") + "\n".join(f"{k}: {v}" for k, v in resp.headers)
    for p in parts:
        assert p not in blob, f"the response echoes the token: {resp}"


def assert_401_missing(resp: Response, realm: str = HOST) -> None:
    assert resp.status == 401, f"expected 401 token_missing, got {resp}"
    assert resp.header("www-authenticate") == f'Bearer realm="{realm}"', resp.header_all("www-authenticate")
    assert (resp.header("content-type") or "").startswith("application/json"), resp
    assert _body_json(resp) == {"error": "unauthorized", "reason": "token_missing"}


def assert_401_invalid(resp: Response, reason: str, token: str | None = None, realm: str = HOST) -> None:
    assert resp.status == 401, f"expected 401 {reason}, got {resp}"
    body = _body_json(resp)
    assert body == {"error": "invalid_token", "reason": reason}, f"expected reason {reason}, got {body}"
    www = resp.header_all("www-authenticate")
    assert len(www) == 1, www
    params = www_auth_params(www[0])
    assert params == {"realm": realm, "error": "invalid_token", "error_description": reason}, www[0]
    assert (resp.header("content-type") or "").startswith("application/json"), resp
    assert_no_token_echo(resp, token)


def assert_403(resp: Response, reason: str, scope: str | None = None, token: str | None = None,
               realm: str = HOST) -> None:
    assert resp.status == 403, f"expected 403 {reason}, got {resp}"
    assert _body_json(resp) == {"error": "insufficient_scope", "reason": reason}, resp
    www = resp.header_all("www-authenticate")
    assert len(www) == 1, www
    params = www_auth_params(www[0])
    expected = {"realm": realm, "error": "insufficient_scope"}
    if scope is not None:
        expected["scope"] = scope
    assert params == expected, www[0]
    assert (resp.header("content-type") or "").startswith("application/json"), resp
    assert_no_token_echo(resp, token)


def assert_503_unavailable(resp: Response) -> None:
    assert resp.status == 503, f"expected 503 jwks_unavailable, got {resp}"
    assert _body_json(resp) == {"error": "temporarily_unavailable", "reason": "jwks_unavailable"}, resp
    assert resp.header("www-authenticate") is None, resp
    assert (resp.header("content-type") or "").startswith("application/json"), resp


def poll_until(fn: Callable[[], Response], pred: Callable[[Response], bool], timeout: float,
               interval: float = 0.25) -> tuple[Response, list[Response]]:
    """Call fn until pred(resp) holds or `timeout` passes; returns (last, history)."""
    deadline = time.monotonic() + timeout
    history: list[Response] = []
    while True:
        resp = fn()
        history.append(resp)
        if pred(resp) or time.monotonic() >= deadline:
            return resp, history
        time.sleep(interval)


def summarize(results: list) -> dict:
    """{"200": n, "401 unknown_kid": m, "error ConnectionResetError": k, ...} for failure messages."""
    out: dict = {}
    for r in results:
        if isinstance(r, Exception):
            key = f"error {type(r).__name__}"
        else:
            key = str(r.status)
            if r.status != 200:
                try:
                    key += " " + str(json.loads(r.body).get("reason"))
                except ValueError:
                    pass
        out[key] = out.get(key, 0) + 1
    return out


def parallel(n: int, fn: Callable[[int], Response], workers: int | None = None) -> list:
    """Run fn(i) for i in range(n) concurrently; exceptions are returned, not raised."""
    def wrap(i):
        try:
            return fn(i)
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            return exc

    with ThreadPoolExecutor(max_workers=workers or n) as pool:
        return list(pool.map(wrap, range(n)))
