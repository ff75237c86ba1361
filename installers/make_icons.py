"""Draw Enclave's app icon and write every format the installers need.

    python installers/make_icons.py            # writes resources/icons/

The icon is a white speech bubble with a keyhole on a blue rounded square: "a conversation
that stays locked in". resources/icons/enclave.svg is the same drawing by hand (same geometry
on a 1024 grid), for the Linux desktop and the README. Pillow is the only dependency (a
build-time tool, not an app dependency); the outputs are committed, so a normal build never
runs this script.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

GRID = 1024
BLUE = (43, 80, 200, 255)
BLUE_DARK = (30, 58, 160, 255)
WHITE = (255, 255, 255, 255)
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)

SVG = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1024 1024" width="1024" height="1024">
  <defs>
    <linearGradient id="bg" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#2b50c8"/>
      <stop offset="1" stop-color="#1e3aa0"/>
    </linearGradient>
  </defs>
  <rect x="64" y="64" width="896" height="896" rx="200" fill="url(#bg)"/>
  <rect x="212" y="240" width="600" height="460" rx="140" fill="#ffffff"/>
  <polygon points="300,660 300,840 470,690" fill="#ffffff"/>
  <circle cx="512" cy="420" r="72" fill="#2b50c8"/>
  <polygon points="478,460 546,460 580,600 444,600" fill="#2b50c8"/>
</svg>
"""


def draw(size: int) -> Image.Image:
    """The icon at `size` pixels, drawn 4x larger and scaled down for smooth edges."""
    big = max(size * 4, 256)
    scale = big / GRID
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)

    def s(*values: float) -> list[float]:
        return [v * scale for v in values]

    # Background: a vertical gradient clipped to the rounded square.
    mask = Image.new("L", (big, big), 0)
    ImageDraw.Draw(mask).rounded_rectangle(s(64, 64, 960, 960), radius=200 * scale, fill=255)
    gradient = Image.new("RGBA", (big, big))
    gd = ImageDraw.Draw(gradient)
    for y in range(big):
        t = y / max(1, big - 1)
        colour = tuple(round(a + (b - a) * t) for a, b in zip(BLUE, BLUE_DARK, strict=True))
        gd.line([(0, y), (big, y)], fill=colour)
    img.paste(gradient, (0, 0), mask)
    # Speech bubble with its tail.
    d.rounded_rectangle(s(212, 240, 812, 700), radius=140 * scale, fill=WHITE)
    d.polygon([tuple(s(300, 660)), tuple(s(300, 840)), tuple(s(470, 690))], fill=WHITE)
    # Keyhole.
    d.ellipse(s(512 - 72, 420 - 72, 512 + 72, 420 + 72), fill=BLUE)
    d.polygon(
        [tuple(s(478, 460)), tuple(s(546, 460)), tuple(s(580, 600)), tuple(s(444, 600))],
        fill=BLUE,
    )
    return img.resize((size, size), Image.Resampling.LANCZOS)


def main() -> int:
    default_out = Path(__file__).resolve().parents[1] / "resources" / "icons"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "enclave.svg").write_text(SVG, encoding="utf-8")
    images = {size: draw(size) for size in PNG_SIZES}
    for size in (16, 32, 48, 64, 128, 256, 512):
        images[size].save(out / f"enclave-{size}.png", optimize=True)
    images[256].save(out / "enclave.png", optimize=True)
    images[256].save(out / "enclave.ico", sizes=[(n, n) for n in ICO_SIZES])
    images[1024].save(out / "enclave.icns")
    for path in sorted(out.iterdir()):
        print(f"{path.name:20} {path.stat().st_size:>8} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
