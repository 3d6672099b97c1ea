"""Copy Leaflet's files from the npm package into the Python package, so the map needs no CDN.

``package.json`` pins the version (``npm ci`` installs it into ``node_modules/leaflet``); this
copies its built files unchanged and writes ``VENDORED.json`` with the version and each file's
SHA-256, so a test can tell a hand edit or a stale copy from the pinned release::

    npm ci && python -m riskengine.web.vendor
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

__all__ = ["FILES", "MANIFEST", "VENDOR_DIR", "sha256", "vendor"]

PROJECT_DIR = Path(__file__).resolve().parents[2]
#: Where the package keeps its copy of Leaflet.
VENDOR_DIR = Path(__file__).with_name("static") / "vendor" / "leaflet"
#: The manifest written beside the copied files.
MANIFEST = "VENDORED.json"
#: Paths inside the npm package -> paths inside :data:`VENDOR_DIR` (images are added as found).
FILES = {"dist/leaflet.js": "leaflet.js", "dist/leaflet.css": "leaflet.css", "LICENSE": "LICENSE"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sources(package: Path) -> dict[str, str]:
    files = dict(FILES)
    for image in sorted((package / "dist" / "images").glob("*")):
        files[f"dist/images/{image.name}"] = f"images/{image.name}"
    return files


def vendor(package: Path = PROJECT_DIR / "node_modules" / "leaflet", target: Path = VENDOR_DIR) -> dict:
    """Copy Leaflet's built files from ``package`` (an installed npm package) to ``target``.

    Returns the manifest written to ``target / VENDORED.json``: the package ``version`` and, for
    each copied file (path relative to ``target``), its ``sha256``.
    """
    meta = json.loads((package / "package.json").read_text(encoding="utf-8"))
    if meta.get("name") != "leaflet":
        raise SystemExit(f"{package}: not the leaflet npm package")
    if target.exists():  # files of an older release must not linger
        for old in target.rglob("*"):
            if old.is_file():
                old.unlink()
    files = {}
    for source, dest in _sources(package).items():
        out = target / dest
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(package / source, out)
        files[dest] = {"from": f"node_modules/leaflet/{source}", "sha256": sha256(out)}
    manifest = {"package": "leaflet", "version": meta["version"], "license": meta.get("license"),
                "made_by": "python -m riskengine.web.vendor", "files": files}
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m riskengine.web.vendor", description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="package", type=Path, default=PROJECT_DIR / "node_modules" / "leaflet",
                        help="the installed npm package (default: node_modules/leaflet)")
    parser.add_argument("--to", dest="target", type=Path, default=VENDOR_DIR)
    args = parser.parse_args(argv)
    if not (args.package / "package.json").is_file():
        print(f"{args.package}: no npm package there; run `npm ci` first", file=sys.stderr)
        return 2
    manifest = vendor(args.package, args.target)
    print(f"leaflet {manifest['version']}: {len(manifest['files'])} files -> {args.target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
