"""The OCI image layout `make oci` writes (scripts/oci.py) is one Istio's oci:// loader accepts.

Read three ways: by hand against the OCI image-layout spec (every blob's digest and size), with
skopeo (`skopeo inspect --raw oci:DIR:TAG`, `skopeo copy oci:DIR:TAG dir:OUT`), and the way Istio's
fetcher does (pkg/wasm/imagefetcher.go, extractOCIStandardImage: the last layer must be
application/vnd.oci.image.layer.v1.tar+gzip; its tar member named plugin.wasm is the module).
The module that comes out must equal the built .wasm byte for byte, and writing the layout again
must give the same bytes (reproducible).

skopeo is a Debian package; `make test` installs it when missing (the `skopeo` target). Here a
missing skopeo FAILS the test: it is never skipped.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from deployutil import REPO, artifact, cargo_version

LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"


@pytest.fixture(scope="session")
def oci() -> Path:
    return artifact("JWTGATE_OCI", REPO / "target" / "oci", "oci")


@pytest.fixture(scope="session")
def tag() -> str:
    return os.environ.get("JWTGATE_OCI_TAG") or cargo_version()


@pytest.fixture(scope="session")
def skopeo() -> str:
    path = shutil.which("skopeo")
    if not path:
        pytest.fail("skopeo not found: `make skopeo` installs it (Debian: apt-get install skopeo)", pytrace=False)
    return path


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob(oci: Path, digest: str) -> bytes:
    algo, hexd = digest.split(":", 1)
    assert algo == "sha256"
    return (oci / "blobs" / "sha256" / hexd).read_bytes()


def manifest_of(oci: Path, tag: str) -> tuple[dict, bytes, dict]:
    index = json.loads((oci / "index.json").read_text())
    descs = [m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
    assert len(descs) == 1, f"index.json has no single manifest tagged {tag}: {index}"
    raw = blob(oci, descs[0]["digest"])
    return descs[0], raw, json.loads(raw)


def istio_extract(layers: list[tuple[str, bytes]]) -> bytes:
    """Istio's extractOCIStandardImage + extractWasmPluginBinary, in Python."""
    assert layers, "number of layers must be greater than zero"
    media_type, data = layers[-1]
    assert media_type == LAYER, f"invalid media type {media_type} (expect {LAYER})"
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data)), mode="r:") as tar:
        for member in tar:
            if os.path.basename(member.name) == "plugin.wasm":
                return tar.extractfile(member).read()
    raise AssertionError("plugin.wasm not found in the archive")


def test_layout_is_valid_and_every_digest_matches(oci, tag, wasm):
    assert json.loads((oci / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    desc, raw, manifest = manifest_of(oci, tag)
    assert desc["mediaType"] == MANIFEST and desc["size"] == len(raw) and desc["digest"] == sha(raw)
    assert manifest["schemaVersion"] == 2 and manifest["mediaType"] == MANIFEST
    assert manifest["annotations"]["module.wasm.image/variant"] == "compat"  # required with this layer type
    assert manifest["config"]["mediaType"] == CONFIG
    assert [l["mediaType"] for l in manifest["layers"]] == [LAYER], "the compat variant has exactly one layer"
    for d in [manifest["config"], *manifest["layers"]]:
        data = blob(oci, d["digest"])
        assert sha(data) == d["digest"] and len(data) == d["size"], d
    # no stray blobs: exactly manifest, config and layer
    on_disk = {"sha256:" + p.name for p in (oci / "blobs" / "sha256").iterdir()}
    assert on_disk == {desc["digest"], manifest["config"]["digest"], manifest["layers"][0]["digest"]}
    config = json.loads(blob(oci, manifest["config"]["digest"]))
    tar = gzip.decompress(blob(oci, manifest["layers"][0]["digest"]))
    assert config["rootfs"] == {"type": "layers", "diff_ids": [sha(tar)]}


def test_the_layer_holds_exactly_plugin_wasm_with_fixed_metadata(oci, tag, wasm):
    _, _, manifest = manifest_of(oci, tag)
    data = blob(oci, manifest["layers"][0]["digest"])
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))  # scripts/oci.py's default
    assert int.from_bytes(data[4:8], "little") == mtime, "gzip header mtime is not the fixed one"
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data)), mode="r:") as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["plugin.wasm"]
        m = members[0]
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) == (mtime, 0, 0, "", "", 0o644)
        assert tar.extractfile(m).read() == wasm.read_bytes()


def test_skopeo_reads_the_layout(oci, tag, skopeo, wasm, tmp_path):
    desc, raw, manifest = manifest_of(oci, tag)
    ref = f"oci:{oci}:{tag}"
    r = subprocess.run([skopeo, "inspect", "--raw", ref], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == raw, "skopeo's raw manifest differs from the blob index.json points at"
    assert sha(r.stdout) == desc["digest"]

    r = subprocess.run([skopeo, "inspect", ref], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["Digest"] == desc["digest"]
    assert info["Layers"] == [manifest["layers"][0]["digest"]]

    out = tmp_path / "copy"
    r = subprocess.run([skopeo, "copy", "--quiet", ref, f"dir:{out}"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    copied = json.loads((out / "manifest.json").read_text())
    assert copied["layers"] == manifest["layers"] and copied["config"] == manifest["config"]
    layers = []
    for l in copied["layers"]:
        data = (out / l["digest"].split(":", 1)[1]).read_bytes()
        assert sha(data) == l["digest"], "skopeo copied a blob whose digest does not match"
        layers.append((l["mediaType"], data))
    assert istio_extract(layers) == wasm.read_bytes(), "the module extracted from the image is not the built one"


def test_istio_style_extraction_rejects_a_wrong_media_type():
    """Control for istio_extract: the check above could fail."""
    with pytest.raises(AssertionError, match="invalid media type"):
        istio_extract([("application/vnd.docker.image.rootfs.diff.tar", b"")])


def test_layout_is_reproducible(oci, tag, wasm, tmp_path):
    again = tmp_path / "again"
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "oci.py"), "--wasm", str(wasm), "--out", str(again),
                        "--tag", tag], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    def files(root: Path) -> dict:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    assert files(again) == files(oci), "a second `make oci` of the same .wasm gives different bytes"
    # and a different module gives a different image (the digests depend on the content)
    other = tmp_path / "other.wasm"
    other.write_bytes(wasm.read_bytes() + b"\0")
    out = tmp_path / "other"
    subprocess.run([sys.executable, str(REPO / "scripts" / "oci.py"), "--wasm", str(other), "--out", str(out),
                    "--tag", tag], check=True, capture_output=True, timeout=60)
    assert (out / "index.json").read_bytes() != (oci / "index.json").read_bytes()


def test_dockerfile_builds_the_same_single_layer_image():
    lines = [l.strip() for l in (REPO / "deploy" / "oci" / "Dockerfile").read_text().splitlines()
             if l.strip() and not l.strip().startswith("#")]
    assert lines == ["FROM scratch", "COPY plugin.wasm ./"], lines
