"""
A page as a person sees it: rendered by headless Chromium (the distribution's package: ``make test`` says
how to install it where it is missing), its screenshot read pixel by pixel, and where the page drew each
of its lanes (the ``data-box`` the report's own script writes) read from the DOM Chromium built.
"""

import html.parser
import pathlib
import shutil
import subprocess

from PIL import Image

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
SIZE = (1280, 900)
MISSING = (
    "the report tests need headless Chromium: apt-get install -y chromium (Debian; chromium-browser on "
    "Ubuntu), dnf install -y chromium (Fedora)"
)


def chromium():
    """The browser's command."""
    found = next((shutil.which(name) for name in NAMES if shutil.which(name)), None)
    assert found, MISSING
    return found


def _run(page, directory, *what):
    # Its own profile directory: processes of the tests running at once do not share one.
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",  # as root, as CI runs
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={directory / 'chromium-profile'}",
        f"--window-size={SIZE[0]},{SIZE[1]}",
        *what,
        pathlib.Path(page).resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=directory, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class _Boxes(html.parser.HTMLParser):
    """Each ``<g data-lane>``'s box, and each failed segment's with its lane: as the browser measured them."""

    def __init__(self):
        super().__init__()
        self.lanes, self.failed, self.lane = {}, [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        box = tuple(int(v) for v in attrs["data-box"].split(",")) if attrs.get("data-box") else None
        if tag == "g" and "data-lane" in attrs:
            self.lane = attrs["data-lane"]
            self.lanes[self.lane] = box
        elif tag == "g" and "failed" in (attrs.get("class") or "").split():
            self.failed.append((self.lane, box))


def render(page, directory):
    """``(the screenshot as an RGB image, {lane: (x, y, w, h)}, [(lane, box) of each failed step])``."""
    directory = pathlib.Path(directory)
    shot = directory / "page.png"
    _run(page, directory, f"--screenshot={shot}")
    boxes = _Boxes()
    boxes.feed(_run(page, directory, "--dump-dom"))
    return Image.open(shot).convert("RGB"), boxes.lanes, boxes.failed


def pixels(image, box, colour, tolerance=12):
    """How many pixels within ``box`` are of ``colour`` (``#rrggbb``), give or take ``tolerance``."""
    want = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    x, y, w, h = box
    region = image.crop((x, y, x + w, y + h)).getdata()
    return sum(all(abs(a - b) <= tolerance for a, b in zip(pixel, want, strict=True)) for pixel in region)
