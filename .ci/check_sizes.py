"""Fail if the built Lambda artifacts come anywhere near the Lambda size limits.

Limits: 250 MB unzipped for a function plus its layers; 50 MB zipped per direct upload. We require
a quarter of each, so a dependency that balloons is caught long before it breaks a deployment. (It was a
tenth until the polling moved to aiohttp, whose llhttp parser and its companions, yarl, multidict,
propcache and frozenlist, add 7-8 MB unzipped, 1.7 MB zipped: the layer is 26 MB unzipped and 7 MB
zipped, against Lambda's 250 and 50. It was a fifth until the layers shipped bytecode where a Python
3.13 builds them (layers/lib/Makefile: no compiling at each cold start): the deps layer is then 40 MB
unzipped and 10.0 MB zipped.)
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

BUILD = Path(".aws-sam/build")
UNZIPPED_LIMIT = 250 * 1024 * 1024 // 4
ZIPPED_LIMIT = 50 * 1024 * 1024 // 4


def unzipped(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def zipped(path: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for f in sorted(path.rglob("*")):
            if f.is_file():
                archive.write(f, f.relative_to(path))
    return buffer.tell()


def main() -> int:
    layers = {name: BUILD / name for name in ("DepsLayer", "LibLayer")}
    functions = {name: BUILD / name for name in ("CollectorFunction", "ArchiverFunction")}
    ok = True
    layer_total = sum(unzipped(p) for p in layers.values())
    for name, path in {**layers, **functions}.items():
        size, packed = unzipped(path), zipped(path)
        print(f"{name:18} {size / 1e6:7.2f} MB unzipped  {packed / 1e6:6.2f} MB zipped")
        if packed > ZIPPED_LIMIT:
            print(f"  too large zipped: limit for this check {ZIPPED_LIMIT / 1e6:.1f} MB")
            ok = False
    for name, path in functions.items():
        total = unzipped(path) + layer_total
        print(f"{name:18} {total / 1e6:7.2f} MB with its layers (check limit {UNZIPPED_LIMIT / 1e6:.1f} MB)")
        ok = ok and total <= UNZIPPED_LIMIT
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
