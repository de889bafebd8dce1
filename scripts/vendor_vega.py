"""Write infra/plots/offline_template.html: the HTML template `dvc plots show` fills (`.dvc/config`
plots.html_template), with Vega, Vega-Lite and Vega-Embed inlined, so the page renders with the network off.

DVC's own template loads these three scripts from a CDN (a blank page offline). The versions are the ones DVC's
renderer targets (dvc_render's vega template); the tarballs come from the npm registry and must match the pinned
sha512 integrity before anything is written. Run again only to change a pin:

    python scripts/vendor_vega.py
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "infra" / "plots" / "offline_template.html"
REGISTRY = "https://registry.npmjs.org"
#: package -> (version, file inside the tarball, npm's sha512 integrity of the tarball)
PINS = {
    "vega": ("5.20.2", "package/build/vega.min.js",
             "sha512-qmH7aD9GGPpssVdxL1xgcdxTbQzyRUeRR16Os385ymvQhiwCYQNA6+eXUPAZDTVLfk0RXu6Jzj6kUE5jQ80EVw=="),
    "vega-lite": ("5.2.0", "package/build/vega-lite.min.js",
                  "sha512-Yxcg8MvYfxHcG6BbkaKT0oVCIMIcE19UvqIsEwBmyd/7h2nzW7oRnID81T8UrY7hpDrIr6wa2JADOT2dhGNErw=="),
    "vega-embed": ("6.18.2", "package/build/vega-embed.min.js",
                   "sha512-wcDyQPE4J5aiCDc3/suH5RQDvrKkjuLkhzUcbOLwEkNF8/+pp17tS0JghzEvAPNRg+5aG1/N2ydixq8Lk3dOlg=="),
}
PAGE = """<!DOCTYPE html>
<html>
<head>
    {{refresh_tag}}
    <meta charset="utf-8">
    <title>mobileiqa plots (DVC)</title>
    <!-- {credits}; inlined by scripts/vendor_vega.py so that the page needs no network -->
{scripts}
    <style>
        body {{ font-family: sans-serif; margin: 16px; }}
        table {{ border-spacing: 15px; }}
        img {{ max-width: 100%; }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def fetch(name: str, version: str, member: str, integrity: str) -> str:
    url = f"{REGISTRY}/{name}/-/{name}-{version}.tgz"
    with urllib.request.urlopen(url, timeout=60) as response:
        data = response.read()
    algo, expected = integrity.split("-", 1)
    got = base64.b64encode(hashlib.new(algo, data).digest()).decode()
    if got != expected:
        sys.exit(f"{url}: {algo} {got} does not match the pinned integrity {expected}")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        text = tar.extractfile(member).read().decode()
    if "</script" in text.lower():
        sys.exit(f"{name}: the script contains '</script' and cannot be inlined")
    return text


def main() -> None:
    scripts = []
    for name, (version, member, integrity) in PINS.items():
        code = fetch(name, version, member, integrity)
        scripts.append(f'    <script data-package="{name}@{version}">\n{code}\n    </script>')
    credits = ", ".join(f"{n}@{v} (BSD-3-Clause)" for n, (v, _, _) in PINS.items())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(PAGE.format(credits=credits, scripts="\n".join(scripts)))
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
