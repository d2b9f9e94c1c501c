"""Visitor and LLM text made inert (:mod:`lafg.app.safe_text`, :func:`lafg.app.plots.plot_text`): exact outputs."""

from types import SimpleNamespace

import markdown_it
import pytest

from lafg.app.common import user_error
from lafg.app.plots import explanation_bar_spec, plot_text
from lafg.app.safe_text import md, md_join, plain

PAYLOADS = [
    '<form action="http://evil/s"><input type=password></form>', "<img src=http://evil/p.png>", "[prize](http://evil/x)",
    "![x](http://evil/m.png)", "http://evil/bare www.evil.com me@evil.com", "<script>alert(1)</script>", "**bold** _it_ # h",
]


@pytest.mark.parametrize("text", PAYLOADS)
def test_md_renders_as_the_same_text_with_no_element(text):
    """Rendered by a CommonMark renderer, the escaped text is one paragraph holding exactly the text."""
    out = markdown_it.MarkdownIt("commonmark").render(md(text))
    inner = out.removeprefix("<p>").removesuffix("</p>\n")
    assert "<" not in inner.replace("&lt;", "") and "href" not in out
    import html

    assert html.unescape(inner) == text


def test_md_is_one_line_and_shortened():
    assert md("a\nb  c") == "a b c" and md("abcdef", 3) == "ab…"
    assert md_join(["<b>", "x_y"]) == "&lt;b&gt;, x\\_y"


def test_plain_and_plot_text_escape_markup():
    assert plain('<a href="x">') == '&lt;a href="x"&gt;'
    assert plot_text("<a href=x>y</a> & z") == "&lt;a href=x&gt;y&lt;/a&gt; &amp; z"
    label = SimpleNamespace(label="<a href=http://evil>go</a>", contribution=0.5, query=1.0, result=0.5)
    spec = explanation_bar_spec([label], [label], title="Why “<img src=x>” matched")
    assert "<a href" not in str(spec) and "<img" not in str(spec)


def test_error_toasts_show_the_visitors_text_as_text():
    assert user_error("folder not found: '<img src=http://evil/p.png>'").message == "folder not found: '&lt;img src=http://evil/p.png&gt;'"
