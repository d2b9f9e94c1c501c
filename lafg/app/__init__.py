"""LaFG Explorer's Gradio app: ``build_demo(services=None)`` and the injectable :class:`Services`."""

from .services import Services, default_services
from .ui import build_demo, launch

__all__ = ["Services", "build_demo", "default_services", "launch"]
