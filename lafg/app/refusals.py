"""Inputs Gradio itself refuses cost one log line, like the app's own refusals, not a traceback on stderr.

Before the app's functions run, Gradio checks each input: a value outside a dropdown's or radio's choices, a
number out of range, a payload that does not fit the component's data model, a file the client did not upload.
It refuses with ``gr.Error`` (or an exception) whose default prints a full traceback per request: a hostile
client could fill a public Space's log. :func:`quiet_input_refusals` keeps every refusal and its message and
makes it one ``INFO`` line. It wraps the demo's own ``preprocess_data``, so inputs whose component was rebuilt
in a session (e.g. a dropdown whose choices changed) are covered too.
"""

from __future__ import annotations

import logging

import gradio as gr
from gradio.exceptions import Error

from .common import user_error

log = logging.getLogger("lafg.app")


def _one_line(text: str, limit: int = 200) -> str:
    return " ".join(str(text).split())[:limit]


def quiet_input_refusals(demo: gr.Blocks) -> None:
    original = demo.preprocess_data

    async def preprocess_data(block_fn, inputs, state, explicit_call=False):
        try:
            return await original(block_fn, inputs, state, explicit_call)
        except Error as exc:
            if not exc.print_exception:
                raise
            log.info("%s: input refused: %s", block_fn.name, _one_line(exc.message))
            raise Error(exc.message, duration=exc.duration, visible=exc.visible, title=exc.title, print_exception=False) from None
        except Exception as exc:  # noqa: BLE001 (a malformed request: the client's input, not a server fault)
            log.info("%s: input refused: %s: %s", block_fn.name, type(exc).__name__, _one_line(exc))
            raise user_error(f"invalid input ({type(exc).__name__}): {_one_line(exc)}") from None

    demo.preprocess_data = preprocess_data
