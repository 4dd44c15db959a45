"""The chat app: `python app.py` opens it on http://127.0.0.1:7860, offline (no share link, no
analytics). Settings: RAG_* environment variables or rag.toml; `--port` and `--host` here."""

import argparse
import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from rag.config import Settings
from rag.ui import launch

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (local only)")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args()
    launch(Settings(), host=args.host, port=args.port)
