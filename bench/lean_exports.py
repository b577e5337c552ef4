#!/usr/bin/env python3
"""Writes a copy of a .wasm without the proxy-wasm callbacks jwtgate does not implement.

proxy-wasm-cpp-host (Envoy) calls into the VM only for callbacks the module exports; the Rust SDK
exports all of them, so Envoy calls response headers, log and done for every request although
jwtgate's are the SDK's defaults. Removing those exports (the functions stay, unreferenced) makes
Envoy skip the calls. ngx_wasm_module calls the same callbacks without checking that they exist,
so the result is for Envoy only: `bench/` measures it (issue 25), the filter ships with every
export.

Usage: bench/lean_exports.py IN.wasm OUT.wasm
"""

from __future__ import annotations

import sys
from pathlib import Path

# The SDK's defaults for these answer Continue / true / nothing: the host's own behaviour when the
# callback is absent. proxy_on_delete stays: it drops the request's context (and gives back its
# fetch lease).
UNUSED = frozenset({
    "proxy_on_request_body",
    "proxy_on_request_trailers",
    "proxy_on_request_metadata",
    "proxy_on_response_headers",
    "proxy_on_response_body",
    "proxy_on_response_trailers",
    "proxy_on_response_metadata",
    "proxy_on_log",
    "proxy_on_done",
})

EXPORT_SECTION = 7


def read_leb(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos


def leb(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        out.append(b | (0x80 if value else 0))
        if not value:
            return bytes(out)


def strip(module: bytes, unused: frozenset[str] = UNUSED) -> tuple[bytes, list[str]]:
    """The module without the exports named in `unused`, and the names removed."""
    if module[:4] != b"\0asm":
        raise ValueError("not a wasm module")
    out = bytearray(module[:8])
    removed: list[str] = []
    pos = 8
    while pos < len(module):
        sid = module[pos]
        size, body = read_leb(module, pos + 1)
        end = body + size
        if sid != EXPORT_SECTION:
            out += module[pos:end]
            pos = end
            continue
        count, p = read_leb(module, body)
        kept = []
        for _ in range(count):
            start = p
            name_len, p = read_leb(module, p)
            name = module[p:p + name_len].decode()
            p += name_len + 1  # the kind octet
            _, p = read_leb(module, p)
            if name in unused:
                removed.append(name)
            else:
                kept.append(module[start:p])
        if p != end:
            raise ValueError("export section size mismatch")
        content = leb(len(kept)) + b"".join(kept)
        out += bytes([EXPORT_SECTION]) + leb(len(content)) + content
        pos = end
    return bytes(out), removed


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    lean, removed = strip(Path(sys.argv[1]).read_bytes())
    Path(sys.argv[2]).write_bytes(lean)
    print(f"removed {len(removed)} exports: {', '.join(sorted(removed))}")


if __name__ == "__main__":
    main()
