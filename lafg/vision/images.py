"""Opening images safely: one function every reader of user images goes through (app queries, galleries,
feature extraction).

:func:`open_rgb` checks the pixel count from the header *before* decoding (a decompression bomb costs a header
read, not hundreds of MB), refuses images below a minimum side, applies the EXIF orientation (a phone photo
tagged "rotated" is seen upright), scales 16-bit and float images to 8 bit by their range instead of clipping
them to white, and turns every failure into a one-line :class:`~lafg.errors.InputError`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from lafg.errors import InputError

MAX_PIXELS = 60_000_000  # 60 megapixels (e.g. 9000 × 6600): more is refused before decoding
MIN_SIDE = 16  # pixels: smaller images carry no fine-grained detail
_WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def _name(path: str | Path) -> str:
    return Path(str(path)).name[:80] or "image"


def check_header(img: Image.Image, path: str | Path, max_pixels: int | None = MAX_PIXELS, min_side: int = MIN_SIDE) -> None:
    """Size checks on an opened (not yet decoded) image."""
    w, h = img.size
    if max_pixels and w * h > max_pixels:
        raise InputError(
            f"{_name(path)} is {w}×{h} pixels ({w * h / 1e6:.0f} MP); at most {max_pixels / 1e6:.0f} MP are accepted "
            "(refused before decoding: a decompression bomb?)"
        )
    if min(w, h) < min_side:
        raise InputError(f"{_name(path)} is only {w}×{h} pixels; images need at least {min_side} pixels per side")


def to_rgb8(img: Image.Image) -> Image.Image:
    """RGB, 8 bit per channel; 16-bit / 32-bit / float greys are scaled by their value range, not clipped."""
    if img.mode in _WIDE_MODES:
        arr = np.asarray(img)
        if arr.dtype.kind == "f":
            arr = np.nan_to_num(arr.astype(np.float64))
            lo, hi = float(arr.min()), float(arr.max())
            scaled = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        elif img.mode.startswith("I;16") or arr.max(initial=0) > 255:
            top = 65535.0 if arr.max(initial=0) <= 65535 and arr.min(initial=0) >= 0 else float(arr.max() or 1)
            scaled = np.clip(arr.astype(np.float64), 0, None) * (255.0 / top)
        else:
            scaled = arr
        img = Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "L")
    elif img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):  # transparent parts on white, as a viewer shows them
        background = Image.new("RGB", img.size, (255, 255, 255))
        rgba = img.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def open_rgb(path: str | Path, max_pixels: int | None = MAX_PIXELS, min_side: int = MIN_SIDE) -> Image.Image:
    """The image at ``path`` as an upright 8-bit RGB image, or :class:`InputError` with a one-line reason."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides
            with Image.open(path) as img:
                check_header(img, path, max_pixels, min_side)
                img.load()
                img = ImageOps.exif_transpose(img) or img
                return to_rgb8(img)
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(f"{_name(path)} is too large to decode (a decompression bomb?): refused before decoding") from exc
    except FileNotFoundError as exc:
        raise InputError(f"{_name(path)}: file not found") from exc
    except UnidentifiedImageError as exc:
        raise InputError(f"{_name(path)} is not a readable image (not an image file, or an unsupported format)") from exc
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"{_name(path)} is not a readable image (corrupt or truncated)") from exc
