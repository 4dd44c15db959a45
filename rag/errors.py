"""Errors raised by rag. Domain code raises these; only the edges (CLI, HTTP, UI) print them.

RagError                     base of everything below; its message says what to do next
├── ConfigError              a setting is invalid or contradicts another
├── QueryError               a search or question asks for something invalid (a file type)
├── LoadError                one file could not be read into a Document (the batch goes on)
│   └── UnsupportedFileError the file type is not one rag reads
├── IndexError_              the index on disk cannot be used as asked
│   ├── IndexMismatchError   built with another embedding model or chunking settings
│   ├── IndexFormatError     written by an incompatible version, or damaged
│   └── IndexLockedError     another process is writing to it
├── EmbeddingError           the embedding model could not be loaded or run
├── GenerationError          the language model could not be loaded, reached or run
└── DocumentNotFoundError    no indexed document matches an id or path
"""

from __future__ import annotations


class RagError(Exception):
    """Base class: the message is meant for a person and says what to do next."""


class ConfigError(RagError):
    pass


class QueryError(RagError):
    """What a search asks for cannot be: an unknown file type or retrieval mode."""


class LoadError(RagError):
    """A file could not be turned into a Document; `reason` is one short line."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class UnsupportedFileError(LoadError):
    pass


class IndexError_(RagError):
    pass


class IndexMismatchError(IndexError_):
    pass


class IndexFormatError(IndexError_):
    pass


class IndexLockedError(IndexError_):
    pass


class IndexReadOnlyError(IndexLockedError):
    """The index folder cannot be written (a read-only mount): it is read, not changed."""


class EmbeddingError(RagError):
    pass


class GenerationError(RagError):
    pass


class DocumentNotFoundError(RagError):
    pass
