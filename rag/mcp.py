"""rag as a Model Context Protocol server, for desktop and coding assistants.

Three tools: `search` (passages with source, location and character span), `ask` (an answer
whose every sentence is cited, or a refusal) and `list_documents`; each document's text is a
resource, `rag://documents/{id}`. `rag mcp` serves them over stdio; `rag serve` mounts the same
server at /mcp (streamable HTTP, behind its API keys: rag/server/mcp.py).

Tool results carry both a structured form (checked against the tool's output schema) and a
plain-text form with [n] markers and a source list, which is what a language model reads.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.context import Context
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError, UnexpectedToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolResult, TextContent, ToolAnnotations
from mcp_types import Resource as MCPResource
from pydantic import BaseModel, Field, ValidationError

from .api import RagIndex
from .config import MAX_QUESTION_CHARS
from .conversation import Conversation
from .documents import SearchHit
from .errors import RagError
from .store import DocumentInfo

DOCUMENT_URI = "rag://documents/{doc_id}"
INSTRUCTIONS = (
    "Search and answer from the user's own indexed documents. `ask` answers a question with "
    "sentences taken from the documents, each followed by [n] markers that point at the exact "
    "quoted span; when the documents do not hold the answer it says so (refused: true) instead "
    "of guessing. `search` returns the best passages. Quote the citations you rely on."
)
_READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


class Passage(BaseModel):
    """A retrieved chunk of a document, with where it is."""

    rank: int
    score: float
    doc_id: str
    source: str = Field(description="The file the passage comes from.")
    uri: str = Field(description="The document's resource URI (its full text).")
    location: str = Field(description="Page, heading and character span, in words.")
    page: int | None
    section: str | None
    start: int = Field(description="Offset of the passage's first character in the document.")
    end: int = Field(description="Offset just past its last character.")
    text: str
    ocr_confidence: float | None = Field(
        None, description="When its page was read by OCR: the mean confidence of its words, 0-100."
    )
    low_confidence: bool = Field(
        False, description="Read by OCR with low confidence: check the quote against the page."
    )


class Citation(BaseModel):
    """The span of a document a sentence of the answer rests on."""

    number: int = Field(description="The n of the [n] markers that point here.")
    doc_id: str
    source: str
    uri: str
    location: str
    page: int | None
    section: str | None
    start: int
    end: int
    quote: str = Field(description="The document's text from start to end.")
    ocr_confidence: float | None = Field(
        None, description="When its page was read by OCR: the mean confidence of its words, 0-100."
    )
    low_confidence: bool = Field(
        False, description="Read by OCR with low confidence: check the quote against the page."
    )


class Sentence(BaseModel):
    text: str
    citations: list[int] = Field(description="Numbers of the citations backing this sentence.")


class SearchResult(BaseModel):
    query: str
    passages: list[Passage]


class AskResult(BaseModel):
    question: str
    answer: str = Field(description="The answer as plain text (the refusal, when refused).")
    rendered: str = Field(description="The answer with [n] citation markers.")
    refused: bool = Field(description="True when the documents do not contain the answer.")
    sentences: list[Sentence]
    citations: list[Citation]
    closest: list[Passage] = Field(description="When refused: the passages that came closest.")
    backend: str


class DocumentEntry(BaseModel):
    id: str
    uri: str
    source: str
    file_type: str
    title: str | None
    chunks: int
    size: int = Field(description="File size in bytes.")
    updated_at: float = Field(description="Unix time the document was last indexed.")
    low_confidence_pages: list[int] = Field(
        default_factory=list, description="Pages read by OCR with low confidence."
    )


class DocumentList(BaseModel):
    documents: list[DocumentEntry]


def document_uri(doc_id: str) -> str:
    return DOCUMENT_URI.format(doc_id=doc_id)


def _passage(h: SearchHit) -> Passage:
    return Passage(**h.to_dict(), uri=document_uri(h.doc_id), location=h.location())  # type: ignore[arg-type]


def _passages_text(passages: list[Passage]) -> str:
    return "\n\n".join(f"[{p.rank}] {p.source} ({p.location})\n{p.text}" for p in passages)


def _result(model: BaseModel, text: str) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=model.model_dump(mode="json"),
    )


K = Annotated[int | None, Field(ge=1, le=50, description="How many passages (default 5).")]
Mode = Annotated[
    Literal["dense", "keyword", "hybrid"] | None,
    Field(description="dense (meaning), keyword (BM25) or hybrid (both; the default)."),
]
PathGlob = Annotated[str | None, Field(description="Only documents whose path matches this glob.")]
FileTypes = Annotated[
    list[str] | None, Field(description="Only these file types, e.g. ['pdf', 'md'].")
]


class RagMCP(MCPServer[Any]):
    """The MCP server over one open index (the caller keeps it open while this serves)."""

    def __init__(self, index: RagIndex) -> None:
        from importlib.metadata import version

        super().__init__(
            "rag",
            title="rag: your documents, with citations",
            instructions=INSTRUCTIONS,
            version=version("rag"),
            log_level="WARNING",  # INFO would log every rejected tool call
        )
        self.index = index
        for tool in (self.search, self.ask, self.list_documents):
            self.add_tool(tool, annotations=_READ_ONLY)  # named after the method
        self.tool_names = {"search", "ask", "list_documents"}
        self.resource(
            DOCUMENT_URI,
            name="document",
            title="An indexed document's text",
            description="The full extracted text of a document, by its id (list_documents).",
            mime_type="text/plain",
        )(self.document_text)

    def search(
        self,
        query: Annotated[str, Field(min_length=1, pattern=r"\S", description="What to look for.")],
        k: K = None,
        mode: Mode = None,
        path: PathGlob = None,
        file_types: FileTypes = None,
    ) -> Annotated[CallToolResult, SearchResult]:
        """Find the passages of the indexed documents that best match the query, each with its
        file, page or heading and exact character span."""
        hits = self.index.search(query, k, mode=mode, path=path, file_types=file_types)
        result = SearchResult(query=query, passages=[_passage(h) for h in hits])
        return _result(result, _passages_text(result.passages) or "No matching passages.")

    def ask(
        self,
        question: Annotated[
            str,
            Field(
                min_length=1,
                max_length=MAX_QUESTION_CHARS,
                pattern=r"\S",
                description="A question about the documents.",
            ),
        ],
        k: K = None,
        mode: Mode = None,
        path: PathGlob = None,
        file_types: FileTypes = None,
    ) -> Annotated[CallToolResult, AskResult]:
        """Answer a question from the indexed documents. Every sentence of the answer is taken
        from a retrieved passage and followed by [n] markers pointing at the quoted span; when
        the documents do not contain the answer, refused is true and the closest passages are
        given instead. Ask standalone questions: no earlier question is remembered."""
        # One Conversation per call: the one ask flow of every edge (CLI, app, HTTP).
        answer = Conversation(self.index).ask(
            question, k, mode=mode, path=path, file_types=file_types
        )
        citations = [
            Citation(**asdict(c), uri=document_uri(c.doc_id), location=c.location())
            for c in answer.citations
        ]
        closest = [_passage(h) for h in answer.passages[:3]] if answer.refused else []
        result = AskResult(
            question=question,
            answer=answer.text,
            rendered=answer.render(),
            refused=answer.refused,
            sentences=[Sentence(text=s.text, citations=s.citations) for s in answer.sentences],
            citations=citations,
            closest=closest,
            backend=answer.backend,
        )
        if answer.refused:
            text = result.answer
            if closest:
                text += "\n\nClosest passages:\n\n" + _passages_text(closest)
        else:
            sources = "\n".join(
                f'[{c.number}] {c.source} ({c.location}): "{c.quote}"' for c in citations
            )
            text = f"{result.rendered}\n\nSources:\n{sources}"
        return _result(result, text)

    def list_documents(self) -> Annotated[CallToolResult, DocumentList]:
        """List the indexed documents: id, file, type, number of chunks. Read a document's full
        text as the resource rag://documents/{id}."""
        result = DocumentList(documents=[_entry(d) for d in self.index.documents()])
        lines = [
            f"{d.id}  {d.file_type:<4} {d.chunks:>5} chunks  {d.source}" for d in result.documents
        ]
        return _result(result, "\n".join(lines) or "No documents are indexed.")

    def document_text(self, doc_id: str) -> str:
        try:
            return self.index.store.document(doc_id).text
        except KeyError:
            raise ResourceNotFoundError(f"no document with id {doc_id!r}") from None

    async def list_resources(self) -> list[MCPResource]:
        """The registered resources, and one per indexed document (documents come and go, so
        they are listed from the index on each request)."""
        docs = await anyio.to_thread.run_sync(self.index.documents)
        listed = [
            MCPResource(
                uri=document_uri(d.id),
                name=d.source.replace("\\", "/").rsplit("/", 1)[-1],
                title=d.title,
                description=f"{d.file_type}, {d.n_chunks} chunks: {d.source}",
                mime_type="text/plain",
                size=d.size,
            )
            for d in docs
        ]
        return [*await super().list_resources(), *listed]

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> Any:
        # An unknown tool is a protocol error (JSON-RPC -32602), as the MCP spec lists it; the
        # SDK would answer it as a failed call. Arguments that fail the schema stay a failed
        # call (isError, naming the fields): the spec asks for that so a model can correct them.
        if name not in self.tool_names:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown tool: {name!r}")
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError as exc:
            # rag's own errors say what to do next (rebuild the index, start the model server):
            # the SDK would hide them as a crash, so they go back to the caller as they are.
            if isinstance(exc.__cause__, RagError):
                raise ToolError(str(exc.__cause__)) from exc.__cause__
            raise
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                # One line per field, as a model can act on it; not pydantic's dump with its
                # "For further information visit https://errors.pydantic.dev/...".
                raise ToolError(_invalid_arguments(name, exc.__cause__)) from None
            raise


def _invalid_arguments(tool: str, exc: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: "
        + ("must hold more than blanks" if e["type"] == "string_pattern_mismatch" else e["msg"])
        for e in exc.errors()
    ]
    return f"invalid arguments to {tool}: " + "; ".join(problems)


def _entry(d: DocumentInfo) -> DocumentEntry:
    return DocumentEntry(
        id=d.id,
        uri=document_uri(d.id),
        source=d.source,
        file_type=d.file_type,
        title=d.title,
        chunks=d.n_chunks,
        size=d.size,
        updated_at=d.updated_at,
        low_confidence_pages=d.low_confidence_pages,
    )


def run_stdio(index: RagIndex) -> None:
    """Serve the index over stdin/stdout until the client closes them."""
    RagMCP(index).run("stdio")
