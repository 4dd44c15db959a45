"""The chat app: `python app.py` opens it on http://127.0.0.1:7860 (settings: RAG_* / rag.toml)."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from rag.config import Settings
from rag.ui import launch

if __name__ == "__main__":
    launch(Settings())
