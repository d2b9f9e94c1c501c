"""LaFG Explorer's Gradio app: ``build_demo(services=None)`` and the injectable :class:`Services`.

Gradio is imported only when the UI is asked for, so the services, training and retrieval wiring can be used
(and tested) without it.
"""

from __future__ import annotations

__all__ = ["Services", "build_demo", "default_services", "launch"]


def __getattr__(name: str):
    if name in ("Services", "default_services"):
        from . import services

        return getattr(services, name)
    if name in ("build_demo", "launch"):
        from . import ui

        return getattr(ui, name)
    raise AttributeError(name)
