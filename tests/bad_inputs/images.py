"""Bad images made on the fly (nothing copied from data sets)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
PHOTO = ROOT / "assets" / "demo" / "images" / "010.Red_winged_Blackbird" / "0000.jpg"


def png16(path: Path, side: int = 64) -> np.ndarray:
    """A 16-bit greyscale PNG with a horizontal ramp 0..65535; returns the ramp."""
    ramp = np.tile(np.linspace(0, 65535, side).astype(np.uint16), (side, 1))
    Image.fromarray(ramp, "I;16").save(path)
    return ramp


def exif_rotated(path: Path) -> Image.Image:
    """The demo photo stored turned on its side with EXIF orientation 6 ("rotate 90° CW to view")."""
    upright = Image.open(PHOTO).convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(path, "JPEG", exif=exif, quality=95)
    return upright


def bomb_png(path: Path, side: int = 30_000) -> None:
    """A tiny PNG whose header claims side × side pixels (900 MP): a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    raw = zlib.compress(b"\x00" * (side + 1) * 16)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def tiny(path: Path) -> None:
    Image.new("RGB", (1, 1), (200, 10, 10)).save(path)


def truncated_jpeg(path: Path) -> None:
    path.write_bytes(PHOTO.read_bytes()[: len(PHOTO.read_bytes()) // 3])


def fake_jpeg(path: Path) -> None:
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg at all" + b"\x00" * 64)


def jpeg_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG")
    return buf.getvalue()
