#!/usr/bin/env python3
"""Fetch the JavaScript the built book loads from CDNs, from package registries, for the
browser test (``tests/browser``), which runs without internet.

The built pages load require.js 2.3.4 from cdnjs (with an SRI hash), the ipywidgets HTML
manager and MathJax 3 from jsdelivr. This script lists every external ``<script src>`` of the
built HTML and lays out, under ``VENDOR/<host>/<path>``, the files those URLs name:

* ``cdn.jsdelivr.net/npm/<package>@<version>/...``: the npm package, ``npm pack`` from the npm
  registry (``@3`` style ranges resolve to the newest matching version);
* ``cdnjs.cloudflare.com/ajax/libs/require.js/2.3.4/require.min.js``: npm's ``requirejs``
  ships only the unminified file, whose bytes do not meet the page's SRI hash; the voila wheel
  (PyPI, 0.2.x) ships cdnjs's minified 2.3.4 byte for byte. The hash is checked here.

Usage: ``python .ci/web_vendor.py _build/html _build/web-vendor``
"""
from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import urlparse

REQUIRE = "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.4/require.min.js"
VOILA = "voila==0.2.16"
SCRIPT = re.compile(r"<script\b[^>]*>", re.I)
ATTR = re.compile(r'(\w[\w-]*)="([^"]*)"')


def external_scripts(html_dir: Path) -> dict[str, str | None]:
    """``{url: integrity or None}`` of every external script of the built pages."""
    found: dict[str, str | None] = {}
    for page in html_dir.rglob("*.html"):
        for tag in SCRIPT.findall(page.read_text(errors="replace")):
            attrs = dict(ATTR.findall(tag))
            src = attrs.get("src", "")
            if src.startswith(("http://", "https://")):
                found[src] = attrs.get("integrity") or found.get(src)
    return found


def sri(data: bytes, integrity: str) -> bool:
    algo, _, digest = integrity.partition("-")
    return base64.b64encode(hashlib.new(algo, data).digest()).decode() == digest


def npm_package(spec: str, dest: Path, work: Path) -> None:
    """``npm pack spec`` extracted into ``dest`` (the package's root)."""
    if dest.exists():
        return
    out = subprocess.run(["npm", "pack", spec, "--silent"], cwd=work, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    with tarfile.open(work / out) as tar:
        tar.extractall(work / "x", filter="data")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(work / "x" / "package"), dest)
    shutil.rmtree(work / "x")
    print(f"npm {spec} -> {dest}")


def require_js(dest: Path, integrity: str | None, work: Path) -> None:
    if not dest.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        VOILA, "-d", str(work)], check=True)
        wheel = next(work.glob("voila-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            name = next(n for n in z.namelist() if n.endswith("static/require.min.js"))
            data = z.read(name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        print(f"{VOILA} {name} -> {dest}")
    if integrity and not sri(dest.read_bytes(), integrity):
        sys.exit(f"{dest}: its bytes do not meet the page's integrity hash {integrity}")


def main(html_dir: str, vendor: str) -> int:
    html, out = Path(html_dir), Path(vendor)
    if not html.is_dir():
        sys.exit(f"{html} is not a built book: run jupyter-book build first")
    urls = external_scripts(html)
    if not urls:
        print("no external script in the built pages")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for url, integrity in sorted(urls.items()):
            u = urlparse(url)
            if url == REQUIRE:
                require_js(out / u.netloc / u.path.lstrip("/"), integrity, work)
                continue
            m = re.match(r"/npm/((?:@[^/]+/)?[^/@]+@[^/]+)/", u.path)
            if u.netloc == "cdn.jsdelivr.net" and m:
                npm_package(m.group(1), out / u.netloc / "npm" / m.group(1), work)
                continue
            sys.exit(f"no registry package known for {url}: teach .ci/web_vendor.py where it "
                     "comes from")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
