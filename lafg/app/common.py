"""Helpers shared by the tabs: per-session state, user-facing errors, progress adapters."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from lafg.errors import LafgError
from lafg.language.describe import load_descriptions_json
from lafg.language.vocabulary import VocabularyConfig

from .datasets import DEMO_DIR
from .safe_text import plain

log = logging.getLogger("lafg.app")


@dataclass
class Session:
    """One browser session's work (kept in ``gr.State``; heavy shared objects are referenced by key only)."""

    names: list[str] = field(default_factory=list)
    descriptions: dict[str, list[str]] = field(default_factory=dict)
    vocab: Any = None  # lafg.language.vocabulary.Vocabulary
    vocab_key: str = ""  # content key of the vocabulary (UMAP cache)
    projection: str = "PCA"
    highlight: list[int] = field(default_factory=list)
    prototypes: Any = None  # lafg.language.prototypes.Prototypes
    datasets: dict[str, str] = field(default_factory=dict)  # extra data sets of this session (uploads, folders)
    job_id: str = ""
    job_seen: str = ""  # fingerprint of the last job status drawn (skip redraws)
    gallery_key: tuple | None = None
    query: Any = None  # lafg.app.retrieval.Query
    hits: list = field(default_factory=list)
    upload_tag: str = ""
    owner: str = ""  # who this visitor is (lafg.app.uploads.owner_of): owns uploads and jobs
    source: str = ""  # where the descriptions came from (backend, citation), shown under the names
    visual_only: bool = VocabularyConfig.visual_only  # vocabulary built from visual sentences only (lafg.language.visual)
    set_aside: dict = field(default_factory=dict)  # class -> [(sentence, reason)] the visual filter set aside
    offtopic: dict = field(default_factory=dict)  # class -> [(sentence, reason)] flagged by lafg.language.offtopic
    colour_by: str = "atom"  # vocabulary map colours: "atom" or "class"
    replaced: bool = False  # the visitor replaced tabs 1–3 (a run bundle, the demo): a slower restore yields to it

    def __hash__(self) -> int:
        # Gradio decides that a gr.State changed (and fires its .change) by hashing it before and after an event
        # (gradio.utils.deep_hash); an unhashable dataclass hashes by id, so a handler that edits the session in
        # place would never look changed. This hash covers what the browser keeps of tabs 1–3
        # (lafg.app.restore.recipe), so exactly those edits are saved.
        return hash(self.fingerprint())

    def fingerprint(self) -> tuple:
        """What tabs 1–3 hold, cheaply: names, descriptions, flags and settings, and which vocabulary and
        prototypes (by identity: a rebuild makes new objects)."""
        return (
            tuple(self.names), tuple((k, tuple(v)) for k, v in self.descriptions.items()), self.source,
            self.visual_only, self.colour_by, self.projection,
            tuple((c, tuple(map(tuple, v))) for c, v in self.offtopic.items()), id(self.vocab), id(self.prototypes),
        )


def demo_session() -> Session:
    """The embedded demo: its 20 class names and their bundled descriptions (no model needed)."""
    desc = load_descriptions_json(DEMO_DIR / "descriptions.json") if (DEMO_DIR / "descriptions.json").is_file() else {}
    return Session(names=list(desc), descriptions=desc)



def user_errors(fn):
    """Turn library errors into a visible ``gr.Error`` with their one-line message; never show a trace."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except LafgError as exc:  # a user error: one line in the log, no traceback
            log.info("%s refused: %s", fn.__name__, exc)
            raise user_error(str(exc)) from None
        except (ConnectionError, TimeoutError) as exc:
            raise user_error(f"cannot reach the model endpoint ({type(exc).__name__}): check the URL and that it is running") from None
        except Exception as exc:  # noqa: BLE001 (last line of defence for the UI)
            if type(exc).__module__.startswith(("requests", "urllib3", "httpx", "openai")):
                raise user_error(f"cannot reach the model endpoint: {exc}") from None
            log.exception("unexpected error in %s", fn.__name__)
            raise user_error(f"Unexpected error ({type(exc).__name__}: {str(exc)[:200]}). Details are in the server log.") from None

    return wrapper


def user_error(message: str) -> gr.Error:
    """One toast for the user (Gradio prints no traceback for it: the message says all there is); any text of
    the visitor's it quotes (a name, a path, a file name) is shown as text, never as HTML."""
    return gr.Error(plain(message), print_exception=False)  # shown as text: it may quote a visitor's input


def note(title: str, body: str) -> None:
    """A short collapsed "what am I looking at" note at the top of a tab."""
    with gr.Accordion(title, open=False, elem_classes=["lafg-note"]):
        gr.Markdown(body)


def progress_callback(progress: gr.Progress | None):
    """Adapter from the library's ``(done, total, message)`` callback to ``gr.Progress``."""
    if progress is None:
        return None

    def report(done: int, total: int, message: str = "") -> None:
        progress((int(done), max(1, int(total))), desc=message)

    return report


def session_tag(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "anon"


def md_list(items: list[str], empty: str = "—") -> str:
    return "\n".join(f"- {x}" for x in items) if items else empty


def file_path(value: Any) -> str | None:
    """The local path of a ``gr.File``/``gr.Image`` value (str or FileData-like)."""
    if value is None:
        return None
    if isinstance(value, str | Path):
        return str(value)
    if isinstance(value, dict):
        return value.get("path") or value.get("name")
    return getattr(value, "path", None) or getattr(value, "name", None)
