"""Two per-query costs of Gradio 6 removed without changing what it sends (profiled under 20 visitors at once).

A result page is 12 thumbnails. For it Gradio (6.31) spends, per query:

1. ``gr.Gallery.postprocess`` opens (and tears down) a thread pool to describe 12 file paths: ~12 % of the
   server's CPU under load. :func:`Gallery` describes plain file paths in a loop and hands everything else to
   Gradio; a test checks both give the same payload.
2. every output file is checked against the static roots (``gradio.utils.is_static_file``), and each check
   resolves the file *and every static root* again (``realpath``: one ``lstat`` per path component), on the
   event loop that also serves every other visitor: ~25 % of the server's CPU. :func:`is_static_file` resolves a
   root once, when the static roots change, and the file once; the answer is the same (test, symlinks included).
"""

from __future__ import annotations

import os
import types
from pathlib import Path
from typing import Any

import gradio as gr
from gradio import utils as gradio_utils
from gradio.components.gallery import GalleryData, GalleryImage
from gradio.data_classes import FileData, ImageData, _StaticFiles
from gradio_client import utils as client_utils

_roots: tuple[tuple[Path, ...], tuple[str, ...]] = ((), ())  # (roots as set, their resolved paths)


def _resolved_roots() -> tuple[str, ...]:
    global _roots
    current = tuple(_StaticFiles.all_paths)
    if current != _roots[0]:
        _roots = (current, tuple(str(gradio_utils.abspath(p).resolve()) for p in current))
    return _roots[1]


def is_static_file(file_path: Any) -> bool:
    """Same answer as ``gradio.utils.is_static_file``, with each static root resolved once, not per file."""
    if not isinstance(file_path, (str, Path, FileData)):
        return False
    if isinstance(file_path, FileData):
        file_path = file_path.path
    if isinstance(file_path, str):
        file_path = Path(file_path)
        if not file_path.exists():
            return False
    roots = _resolved_roots()
    if not roots:
        return False
    resolved = str(gradio_utils.abspath(file_path).resolve())
    # resolved paths are normalised: "inside" is "equal, or the root followed by a separator" (as relative_to)
    return any(resolved == root or resolved.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def install() -> None:
    """Use :func:`is_static_file` wherever Gradio checks outputs (``processing_utils`` calls it via the module)."""
    gradio_utils.is_static_file = is_static_file


def _described(item: Any) -> GalleryImage | None:
    """Gradio's payload for a (file path, caption) item; None for anything Gradio must describe itself."""
    if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)):
        return None
    path, caption = item
    mime = client_utils.get_mimetype(path)
    if path.lower().endswith(".svg") or client_utils.is_http_url_like(path) or "video" in (mime or ""):
        return None
    return GalleryImage(image=ImageData(path=path, url=None, orig_name=Path(path).name, mime_type=mime), caption=caption)


def _postprocess_paths(self: gr.Gallery, value):
    """``gr.Gallery.postprocess`` for (file path, caption) items, without its thread pool; else Gradio's own."""
    described = [_described(item) for item in value] if value and not isinstance(value, str) else [None]
    if any(d is None for d in described):
        return gr.Gallery.postprocess(self, value)
    return GalleryData(root=described)


def Gallery(**kwargs) -> gr.Gallery:  # noqa: N802 (used where gr.Gallery would be)
    """A ``gr.Gallery`` whose (file path, caption) results are described without a thread pool.

    Bound to the instance rather than a subclass: Gradio writes a ``.pyi`` stub next to the module of every
    component subclass. (A component *update* returned for it would rebuild a plain gallery; the app returns
    values only.)"""
    gallery = gr.Gallery(**kwargs)
    gallery.postprocess = types.MethodType(_postprocess_paths, gallery)
    return gallery
