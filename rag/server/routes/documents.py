"""Documents: list, upload (stored by rag.uploads, then ingested), delete."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ...api import RagIndex
from ...ingest.loaders import SUPPORTED_SUFFIXES
from ...uploads import Batch, Uploads, distinct_names, safe_name
from ..errors import APIError
from ..state import AUTH, ServerDep

router = APIRouter()


@router.get("/v1/documents", tags=["documents"], dependencies=AUTH)
async def documents(server: ServerDep) -> dict[str, Any]:
    docs = await run_in_threadpool(server.index.documents)
    return {"object": "list", "data": [d.to_dict() for d in docs]}


@router.post("/v1/documents", tags=["documents"], dependencies=AUTH)
async def upload(
    files: Annotated[list[UploadFile], File(description="Files to ingest.")],
    server: ServerDep,
) -> Any:
    """Upload files and ingest them; a file with the name of an earlier upload replaces it.
    Two files of one name in the same request (two folders' `notes.txt`) are both kept, the
    second as `notes (2).txt`, as the app does: never one silently written over the other."""
    names = []
    for f, name in zip(files, distinct_names(f.filename or "" for f in files), strict=True):
        suffix = Path(safe_name(name)).suffix
        if suffix.lower() not in SUPPORTED_SUFFIXES:
            shown = suffix or "(no extension)"
            raise APIError(
                415,
                f"{f.filename!r}: unsupported file type {shown} (supported: "
                f"{', '.join(sorted(SUPPORTED_SUFFIXES))})",
                type="unsupported_file",
                param="files",
                code="unsupported_file_type",
            )
        names.append(name)
    if not names:
        raise APIError(400, "no files in the request", param="files")
    # One upload at a time is indexed; the others wait here, in the event loop (writer.py).
    async with server.writer.turn():
        report, stored = await run_in_threadpool(
            _ingest_uploads, server.index, server.uploads, files, names
        )
    body = {"report": report.to_dict(), "summary": report.summary(), "documents": stored}
    if not stored and report.skipped:
        raise APIError(
            422,
            "; ".join(f"{Path(s).name}: {r}" for s, r in report.skipped),
            type="load_error",
            code="not_ingested",
        )
    return JSONResponse(body, status_code=201)


@router.delete("/v1/documents/{doc_id}", tags=["documents"], dependencies=AUTH)
async def delete(doc_id: str, server: ServerDep) -> dict[str, Any]:
    # A delete takes its turn at the writer like an upload: run beside an upload of the same
    # name, it would unlink the file that upload had just stored (the upload then fails and
    # puts the deleted version back on disk, a file the index no longer holds).
    async with server.writer.turn():
        removed = await run_in_threadpool(_remove, server.index, server.uploads, doc_id)
    return {"deleted": True, "documents": [d.to_dict() for d in removed]}


def _remove(idx: RagIndex, uploads: Uploads, doc_id: str) -> list[Any]:
    doc = next((d for d in idx.documents() if d.id == doc_id), None)
    if doc is None:
        raise APIError(
            404,
            f"no document with id {doc_id!r}",
            type="not_found_error",
            code="document_not_found",
        )
    removed = idx.remove([doc.id])
    for d in removed:
        uploads.delete(d.source)  # our own copy only; a user's own file is kept
    return removed


def _ingest_uploads(
    idx: RagIndex, uploads: Uploads, files: list[UploadFile], names: list[str]
) -> tuple[Any, list[dict[str, Any]]]:
    batch = Batch()
    try:
        for f, name in zip(files, names, strict=True):
            f.file.seek(0)
            uploads.store(name, f.file, batch)
        report = idx.ingest(batch.paths, emptied_removes=False)
    except BaseException:
        batch.rollback()  # no stored copy the index does not hold; replaced copies come back
        raise
    batch.rollback(s for s, _ in report.skipped)
    batch.commit()
    sources = {str(p) for p in batch.paths} | {str(p.resolve()) for p in batch.paths}
    stored = [d.to_dict() for d in idx.documents() if d.source in sources]
    return report, stored
