"""rag serve's routes, one module per resource; rag.server.app assembles them."""
