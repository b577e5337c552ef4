#!/usr/bin/env python3
"""Write the release .wasm as an OCI image layout that Istio's and Envoy Gateway's oci:// loaders
accept, without Docker. Python standard library only; the output is reproducible (same .wasm,
same tag -> the same bytes and digests).

Format: the Wasm image spec's *compat* variant with the standard OCI layer media type
(solo-io/wasm spec/spec-compat.md, the spec Istio follows):
  - one layer, `application/vnd.oci.image.layer.v1.tar+gzip`, a tar holding `plugin.wasm`;
  - the manifest annotation `module.wasm.image/variant: compat`;
  - an ordinary image config (`application/vnd.oci.image.config.v1+json`).
Istio's fetcher (istio/istio pkg/wasm/imagefetcher.go, extractOCIStandardImage) takes the last
layer, requires that media type, gunzips it and returns the tar member whose base name is
`plugin.wasm`. (It also accepts the Docker media type `application/vnd.docker.image.rootfs.diff.tar.gzip`,
which is what `docker build` with ../deploy/oci/Dockerfile produces, and the *oci* variant with
`application/vnd.module.wasm.content.layer.v1+wasm`; the compat/OCI form is the one every
registry and tool - skopeo, oras, crane, docker - handles without custom media types.)

Layout written (OCI image-layout spec 1.0): DIR/oci-layout, DIR/index.json (one manifest, tagged
by the annotation org.opencontainers.image.ref.name), DIR/blobs/sha256/<hex>.

Usage: scripts/oci.py --wasm target/wasm32-wasip1/release/jwtgate.wasm --out target/oci --tag 0.1.0
Then:  skopeo copy oci:target/oci:0.1.0 docker://registry.example.com/jwtgate:0.1.0
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
from pathlib import Path

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
WASM_NAME = "plugin.wasm"  # the member name the compat variant requires


def _json(obj) -> bytes:
    """Canonical JSON (sorted keys, no spaces): the digest depends only on the content."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def layer_tar(wasm: bytes, mtime: int) -> bytes:
    """A tar with one member plugin.wasm: fixed mtime, owner 0:0, mode 0644, no user names."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(WASM_NAME)
        info.size = len(wasm)
        info.mtime = mtime
        info.mode = 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.type = tarfile.REGTYPE
        tar.addfile(info, io.BytesIO(wasm))
    return buf.getvalue()


def gzip_bytes(data: bytes, mtime: int) -> bytes:
    """gzip with a fixed header: no file name, fixed mtime, fixed level."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=mtime, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def descriptor(media_type: str, blob: bytes, annotations: dict | None = None) -> dict:
    d = {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(blob).hexdigest(), "size": len(blob)}
    if annotations:
        d["annotations"] = annotations
    return d


def build(wasm: bytes, tag: str, mtime: int = 0) -> dict[str, bytes]:
    """Every file of the layout, by relative path."""
    tar = layer_tar(wasm, mtime)
    layer = gzip_bytes(tar, mtime)
    created = "1970-01-01T00:00:00Z" if mtime == 0 else _rfc3339(mtime)
    config = _json({
        # GOARCH/GOOS of WebAssembly (the OCI image spec takes Go's values); no loader checks them
        "architecture": "wasm",
        "os": "wasip1",
        "created": created,
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]},
        "history": [{"created": created, "created_by": "scripts/oci.py (jwtgate)"}],
    })
    manifest = _json({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": descriptor(CONFIG_MEDIA_TYPE, config),
        "layers": [descriptor(LAYER_MEDIA_TYPE, layer)],
        "annotations": {
            "module.wasm.image/variant": "compat",
            "org.opencontainers.image.title": "jwtgate",
            "org.opencontainers.image.version": tag,
            "org.opencontainers.image.created": created,
        },
    })
    index = _json({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [descriptor(MANIFEST_MEDIA_TYPE, manifest, {"org.opencontainers.image.ref.name": tag})],
    })
    files = {"oci-layout": _json({"imageLayoutVersion": "1.0.0"}), "index.json": index}
    for blob in (layer, config, manifest):
        files["blobs/sha256/" + hashlib.sha256(blob).hexdigest()] = blob
    return files


def _rfc3339(ts: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write(out: Path, files: dict[str, bytes]) -> None:
    """Replace `out` with exactly these files (only a previous layout or an empty dir is replaced)."""
    if out.exists():
        if not (out / "oci-layout").is_file() and any(out.iterdir()):
            sys.exit(f"refusing to replace {out}: not an OCI layout written by this script")
        shutil.rmtree(out)
    for rel, data in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wasm", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--tag", required=True)
    ap.add_argument("--mtime", type=int, default=int(os.environ.get("SOURCE_DATE_EPOCH", "0")),
                    help="timestamp in the tar, gzip header and config (default $SOURCE_DATE_EPOCH or 0)")
    args = ap.parse_args(argv)
    wasm = args.wasm.read_bytes()
    if wasm[:4] != b"\0asm":
        sys.exit(f"{args.wasm} is not a WebAssembly module")
    files = build(wasm, args.tag, args.mtime)
    write(args.out, files)
    index = json.loads(files["index.json"])
    print(f"wrote {args.out} (tag {args.tag}, manifest {index['manifests'][0]['digest']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
