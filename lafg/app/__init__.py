"""LaFG Explorer's Gradio app: :func:`lafg.app.ui.build_demo` over an injectable :class:`lafg.app.services.Services`.

Gradio is imported only when the UI is asked for (:mod:`lafg.app.ui`), so the services, training and retrieval
wiring can be used (and tested) without it.
"""
