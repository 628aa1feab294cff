"""Headless Chromium from Debian driven by Selenium, and a PNG check that a screenshot is not
blank: the verified recipe of /work/shared/docs/recipes/chromium_selenium_demo.py (chromium
and chromium-driver from apt; Selenium Manager never runs because the driver path is given)."""
# ruff: noqa
from __future__ import annotations

import os
import shutil
import struct
import tempfile
import time
import zlib

# Never let Selenium Manager go online to look for a driver or a browser.
os.environ.setdefault("SE_OFFLINE", "true")

CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
# The real browser binary; /usr/bin/chromium is a shell wrapper that adds Debian's flags.
CHROMIUM = os.environ.get("CHROMIUM_BIN") or next(
    (p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if os.path.exists(p)), "")


def have_chromium() -> bool:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False
    return os.access(CHROMEDRIVER, os.X_OK) and bool(CHROMIUM)


class Chromium:
    """with Chromium() as driver: ...  A headless Chromium session via chromedriver.
    Each session leaves an org.chromium.Chromium.XXXXXX dir (SingletonSocket) in $TMPDIR
    after quit, so the session gets a private TMPDIR that is removed on exit."""

    def __init__(self, width: int = 1280, height: int = 800):
        self.width, self.height = width, height

    def __enter__(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in ("--headless=new",            # no X server needed
                    "--no-sandbox",              # as root Chromium refuses to start without it
                    "--disable-dev-shm-usage",   # containers often have a 64 MB /dev/shm
                    f"--window-size={self.width},{self.height}"):
            opts.add_argument(arg)
        self.tmp = tempfile.mkdtemp(prefix="chromium-")
        # An explicit driver path means Selenium Manager is never run.
        service = Service(CHROMEDRIVER, env={**os.environ, "TMPDIR": self.tmp})
        t0 = time.monotonic()
        try:
            self.driver = webdriver.Chrome(options=opts, service=service)
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        self.start_s = time.monotonic() - t0
        return self.driver

    def __exit__(self, *exc) -> None:
        t0 = time.monotonic()
        try:
            self.driver.quit()             # closes the browser and stops chromedriver
        finally:
            self.quit_s = time.monotonic() - t0
            shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------- tiny PNG decoder
def png_decode(png: bytes):
    """8-bit RGB/RGBA non-interlaced PNG (what Chromium writes) -> (width, height, bpp, rows)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, []
    while pos < len(png):
        n, kind = struct.unpack(">I4s", png[pos:pos + 8])
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", png[pos + 8:pos + 21])
        elif kind == b"IDAT":
            idat.append(png[pos + 8:pos + 8 + n])
        pos += 12 + n
    assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(b"".join(idat)), w * bpp
    lo, hi = int.from_bytes(b"\x7f" * stride, "big"), int.from_bytes(b"\x80" * stride, "big")
    prev, rows = bytearray(stride), []
    for y in range(h):
        f = raw[y * (stride + 1)]
        cur = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:                                              # Sub
            for i in range(bpp, stride):
                cur[i] = (cur[i] + cur[i - bpp]) & 255
        elif f == 2:                                            # Up: bytewise add, no carries
            a, b = int.from_bytes(cur, "big"), int.from_bytes(prev, "big")
            cur = bytearray((((a & lo) + (b & lo)) ^ ((a ^ b) & hi)).to_bytes(stride, "big"))
        elif f == 3:                                            # Average
            for i in range(stride):
                left = cur[i - bpp] if i >= bpp else 0
                cur[i] = (cur[i] + ((left + prev[i]) >> 1)) & 255
        elif f == 4:                                            # Paeth
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(cur))
        prev = cur
    return w, h, bpp, rows


def png_stats(png: bytes, colours=()):
    """-> (width, height, number of distinct colours, {hex colour: pixel count})."""
    w, h, bpp, rows = png_decode(png)
    distinct = {r[i:i + 3] for r in rows for i in range(0, len(r), bpp)}
    counts = {}
    for hexc in colours:
        c, n = bytes.fromhex(hexc), 0
        for r in rows:
            i = r.find(c)
            while i != -1:
                n += i % bpp == 0
                i = r.find(c, i + 1)
        counts[hexc] = n
    return w, h, len(distinct), counts
