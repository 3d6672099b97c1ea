"""The Leaflet shipped in the package is the npm release package.json pins, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from riskengine.web.vendor import MANIFEST, VENDOR_DIR, sha256, vendor

PROJECT = Path(__file__).resolve().parent.parent
NPM_LEAFLET = PROJECT / "node_modules" / "leaflet"


def _manifest() -> dict:
    return json.loads((VENDOR_DIR / MANIFEST).read_text(encoding="utf-8"))


def test_the_manifest_names_the_pinned_version_and_every_file():
    pinned = json.loads((PROJECT / "package.json").read_text(encoding="utf-8"))["dependencies"]["leaflet"]
    manifest = _manifest()
    assert manifest["package"] == "leaflet" and manifest["version"] == pinned
    assert {"leaflet.js", "leaflet.css", "LICENSE"} <= set(manifest["files"])
    shipped = {p.relative_to(VENDOR_DIR).as_posix() for p in VENDOR_DIR.rglob("*") if p.is_file()}
    assert shipped == set(manifest["files"]) | {MANIFEST}
    for name, entry in manifest["files"].items():
        assert sha256(VENDOR_DIR / name) == entry["sha256"], f"{name} was changed after it was copied"


def test_the_copies_are_the_npm_package_files():
    if not (NPM_LEAFLET / "package.json").is_file():
        pytest.skip("node_modules/leaflet is absent: run `npm ci` to compare the copy with the npm package")
    assert json.loads((NPM_LEAFLET / "package.json").read_text())["version"] == _manifest()["version"]
    for name, entry in _manifest()["files"].items():
        source = PROJECT / entry["from"]
        assert (VENDOR_DIR / name).read_bytes() == source.read_bytes(), f"{name} differs from {entry['from']}"


def test_vendoring_again_gives_the_same_manifest(tmp_path):
    if not (NPM_LEAFLET / "package.json").is_file():
        pytest.skip("node_modules/leaflet is absent: run `npm ci` to vendor Leaflet")
    (tmp_path / "stale.js").write_text("an older release's file")
    assert vendor(NPM_LEAFLET, tmp_path) == _manifest()
    assert not (tmp_path / "stale.js").exists()
