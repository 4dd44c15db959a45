"""The chat app: `python app.py` opens it on http://127.0.0.1:7860, offline (no share link, no
analytics). Settings: RAG_* environment variables or rag.toml; `--port` and `--host` here."""

import argparse
import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from rag.config import Settings
from rag.errors import RagError
from rag.ui import launch

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (local only)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument(
        "--allow-network",
        action="store_true",
        help="serve on an address others can reach (the app has no keys)",
    )
    args = parser.parse_args()
    try:
        launch(Settings(), host=args.host, port=args.port, allow_network=args.allow_network)
    except RagError as exc:
        raise SystemExit(f"Error: {exc}") from exc
