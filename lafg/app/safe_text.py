"""Visitor- and LLM-supplied text (class names, descriptions, atom labels, model names, a bundle's source line,
file names, error details) shown as text, never as live HTML or Markdown: no form, image, link or
markup of a visitor's ever reaches another's screen (or their own) as an element.

- :func:`md` for text placed inside a ``gr.Markdown`` (or any Markdown the app builds): HTML special characters
  become entities, the Markdown punctuation of links, images and emphasis is backslash-escaped, and URLs and
  e-mail addresses are broken (an entity for one character) so no autolink forms.
- :func:`plain` for text shown as HTML (toasts, ``gr.HTML``): HTML special characters become entities.
- :func:`info` / :func:`warning`: Gradio's toasts with the whole message shown as text.
"""

from __future__ import annotations

import html
import re

import gradio as gr

# Markdown that makes elements or emphasis (links, images, code, emphasis, strike, tables); block markers (#, -, +)
# need a line start, which a one-line string placed mid-line never has, so they stay readable as they are.
_MD_PUNCT = re.compile(r"([\\`*_\[\]!~|])")
_SCHEME = re.compile(r"(?i)\b(https?|ftp|mailto|file|data|javascript|vbscript):")


def plain(text: object) -> str:
    """``text`` made inert as HTML text content (never an attribute value): ``<``, ``>`` and ``&`` become entities
    (quotes stay readable for API clients, which get the same message)."""
    return html.escape(str(text), quote=False)


def md(text: object, limit: int | None = None) -> str:
    """``text`` made inert inside Markdown: one line, HTML escaped, Markdown punctuation escaped, no autolink
    (a scheme's colon and a ``www.`` lose their meaning). ``limit`` shortens it first (with an ellipsis)."""
    s = " ".join(str(text).split())
    if limit is not None and len(s) > limit:
        s = s[: max(1, limit - 1)].rstrip() + "…"
    s = _MD_PUNCT.sub(r"\\\1", html.escape(s, quote=False))
    s = _SCHEME.sub(lambda m: m.group(1) + "&#58;", s)  # "https&#58;//" is no URL to an autolinker, and reads the same
    return re.sub(r"(?i)\bwww\.", "www&#46;", s).replace("@", "&#64;")  # nor "www." or an e-mail address


def md_join(items, sep: str = ", ", limit: int | None = None) -> str:
    """Several visitor strings made inert and joined (e.g. class names in a sentence)."""
    return sep.join(md(x, limit) for x in items)


def info(message: str) -> None:
    """``gr.Info`` showing ``message`` as text."""
    gr.Info(plain(message))


def warning(message: str) -> None:
    """``gr.Warning`` showing ``message`` as text."""
    gr.Warning(plain(message))
