"""Small cached JPEG copies of gallery images inside the app's own (servable) folder."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

from lafg.store.atomic import atomic_write_bytes


def thumbnail(path: str | Path, folder: Path, side: int = 224) -> str:
    """A small JPEG copy of an image in the app's own folder (cached by path, size and mtime).

    Galleries show these: they load faster, and Gradio may only serve files from the app's allowed folders,
    which a data set anywhere on disk is not.
    """
    st = os.stat(path)
    key = hashlib.sha1(f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}|{side}".encode()).hexdigest()
    uploads = (folder / "uploads").resolve()
    real = Path(path).resolve()
    if uploads in real.parents:  # a visitor's own file: its thumbnail stays in that visitor's folder
        folder = uploads / real.relative_to(uploads).parts[0]
    out = folder / "thumbs" / key[:2] / f"{key}.jpg"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        from lafg.vision.images import open_rgb

        with open_rgb(path) as im:
            im.thumbnail((side, side))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=85)
        atomic_write_bytes(out, buf.getvalue(), fsync=False)  # a cache: rebuilt if lost
    return str(out)
