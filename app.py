"""LaFG Explorer: ``python app.py`` opens the Gradio app on the embedded demo (offline, CPU is enough).

Options: ``--port`` (else $GRADIO_SERVER_PORT, else 7860), ``--host`` (default 127.0.0.1; 0.0.0.0 to serve
the local network), ``--share`` (a public Gradio link; off by default), ``--work-dir`` (jobs, uploads, caches).
"""

from __future__ import annotations

import argparse
import os


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="LaFG Explorer (Gradio app)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link")
    parser.add_argument("--work-dir", default=None, help="folder for jobs, uploads and caches (default ~/.cache/lafg/app)")
    args = parser.parse_args(argv)

    from lafg.app import build_demo, default_services, launch

    demo = build_demo(default_services(args.work_dir))
    launch(demo, server_name=args.host, server_port=args.port, share=args.share)


if __name__ == "__main__":
    main()
