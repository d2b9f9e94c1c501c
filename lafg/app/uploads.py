"""Visitors' uploads: per-visitor folders, zip extraction within limits, the quota sweep, image checks."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import shutil
import uuid
import zipfile
from pathlib import Path
from typing import Any

from lafg.errors import InputError

from .limits import Limits

MAX_MEMBER_PATH = 1024  # characters of a zip member's path (a class folder and a file name need far fewer)
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"}


def safe_upload_dir(base: Path, session: str) -> Path:
    """A per-visitor upload folder under ``base``: its name is a keyed hash of the visitor's id, so nobody can
    compute another visitor's folder (the key is random per process) and no id can escape ``base/uploads``."""
    tag = hmac.new(_FOLDER_KEY, (session or "anon").encode("utf-8"), hashlib.sha256).hexdigest()[:32]
    folder = base / "uploads" / tag
    folder.mkdir(parents=True, exist_ok=True)
    return folder


_FOLDER_KEY = secrets.token_bytes(32)


def owner_of(session: Any, request: Any = None) -> str:
    """Who owns a visitor's uploads and jobs: the login user when auth is on, else the browser's token set at
    page load (kept across reloads), else Gradio's session id (API clients). Remembered on the session."""
    user = getattr(request, "username", None)
    if user:
        owner = f"u:{user}"
    else:
        owner = getattr(session, "owner", "") or f"s:{getattr(request, 'session_hash', None) or 'anon'}"
    if session is not None and getattr(session, "owner", None) != owner:
        with contextlib.suppress(AttributeError):
            session.owner = owner
    return owner


def check_image(path: str | Path) -> None:
    """Raise :class:`InputError` unless ``path`` is a readable image of a sensible size (header checked first)."""
    from lafg.vision.images import open_rgb

    open_rgb(path).close()


def extract_zip(zip_path: str | Path, dest: Path, limits: Limits | None = None) -> Path:
    """Unpack the images of a zip into ``dest`` (members outside it, non-images and links are skipped).

    Sizes are checked from the zip's directory *before* anything is written (entries, total uncompressed size,
    compression ratio); while copying, a member may not produce more than it declared.
    """
    lim = limits or Limits()
    if Path(zip_path).stat().st_size > lim.zip_bytes:
        raise InputError(f"zip too large (over {lim.zip_bytes // (1024 * 1024)} MB)")
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{Path(zip_path).name} is not a valid zip file") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > lim.zip_entries:
            raise InputError(f"the zip has {len(infos)} entries; at most {lim.zip_entries} are accepted")
        root = dest.resolve()
        keep = []
        for info in infos:
            rel = Path(info.filename)
            if len(info.filename) > MAX_MEMBER_PATH or any(len(part.encode("utf-8")) > 255 for part in rel.parts):
                raise InputError(f"the zip has a member path over {MAX_MEMBER_PATH} characters (or a name over 255 bytes); refused")
            try:
                target = (dest / rel).resolve()
            except (OSError, RuntimeError, ValueError):
                raise InputError("the zip has a member path this server cannot use; refused") from None
            if info.is_dir() or rel.is_absolute() or ".." in rel.parts or root not in target.parents:
                continue
            if rel.suffix.lower() not in IMAGE_EXTS and rel.name not in ("classes.csv", "images.csv"):
                continue
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                continue  # a symlink member
            if info.file_size > lim.zip_ratio * max(info.compress_size, 1) and info.file_size > 1024 * 1024:
                raise InputError(f"the zip member {rel.name!r} unpacks {info.file_size / max(info.compress_size, 1):.0f}× its packed size (a zip bomb?); refused")
            keep.append((info, target))
        total = sum(info.file_size for info, _ in keep)
        if total > lim.zip_unpacked_bytes:
            raise InputError(f"the zip unpacks to {total / 2**20:.0f} MB; at most {lim.zip_unpacked_bytes / 2**20:.0f} MB are accepted")
        used = folder_bytes(dest.parent)
        if used + total > lim.visitor_bytes:
            raise InputError(f"your uploads already use {used / 2**20:.0f} MB; with this zip they would pass the {lim.visitor_bytes / 2**20:.0f} MB allowed per visitor")
        if not keep:
            raise InputError("the zip holds no images (expected one folder of images per class)")
        dest.mkdir(parents=True, exist_ok=True)
        try:
            for info, target in keep:
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, open(target, "wb") as out:
                    written = 0
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > info.file_size:
                            raise InputError(f"the zip member {Path(info.filename).name!r} is larger than it declares; refused")
                        out.write(chunk)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, RuntimeError) as exc:
            shutil.rmtree(dest, ignore_errors=True)
            raise InputError(f"{Path(zip_path).name} is damaged or encrypted ({type(exc).__name__})") from None
        except OSError as exc:  # a path or file this file system refuses: one line, no server path, nothing kept
            shutil.rmtree(dest, ignore_errors=True)
            raise InputError(f"the zip could not be unpacked here ({type(exc).__name__}); refused") from None
        except InputError:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    return dest


@contextlib.contextmanager
def discard_on_error(folder: Path):
    """Remove ``folder`` when the block fails (a zip unpacked, then refused: nothing of it stays on disk)."""
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def folder_bytes(folder: Path) -> int:
    """Total size of the files under ``folder`` (0 when it does not exist)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def sweep_uploads(base: Path, max_age_days: float) -> int:
    """Remove visitor folders under ``base/uploads`` untouched for ``max_age_days``; returns how many."""
    import time

    removed, cutoff = 0, time.time() - max_age_days * 86400
    for folder in (base / "uploads").glob("*"):
        if folder.is_dir() and not folder.is_symlink():
            newest = max((p.stat().st_mtime for p in folder.rglob("*")), default=folder.stat().st_mtime)
            if newest < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
    return removed


def new_upload_folder(base: Path, prefix: str = "set") -> Path:
    """A fresh folder for one upload (a random name: two uploads in the same second never mix)."""
    return base / f"{prefix}-{uuid.uuid4().hex}"
