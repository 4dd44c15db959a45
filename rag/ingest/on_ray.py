"""Ingestion on Ray (`rag ingest --ray [ADDRESS]`, the scale extra).

The driver (this process) does what it does for a local ingest: it finds the files, reads and
hashes them, skips those the index already holds, and writes to the store in batches, through
the same code (pipeline.ingest_paths), so re-ingests, --prune, skipped files, commits and a
kill at any moment behave exactly as they do locally. Only the middle stage moves: the bytes of
each new or changed file go to a pool of Ray actors, each holding one embedding model, which
load, split and embed them and send back the document, its chunks and their vectors. Results
are taken in the order the files were found, so the commits are the local ingest's, file for
file; workers never touch the index, so any store works (the local folder, or Milvus).

The actors get the driver's settings and build their model with the driver's embedder factory
(the packaged all-MiniLM-L6-v2, from its package path, with the same backend and precision);
each says what it loaded, and an ingest whose workers would embed differently from the index is
refused. Files travel as bytes, so the workers need no shared file system, but every node needs
the same rag install (with its model package).

Ray is imported only here, and only when asked for: the default install does not have it.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, RagError
from .loaders import Limits
from .pipeline import FileJob, Loaded, load_job, to_embed
from .splitter import TokenSplitter

if TYPE_CHECKING:
    from ..config import Settings
    from ..embeddings import Embedder

MISSING = "ingestion on Ray needs the scale extra: pip install -e '.[scale]'"
LOCAL = "local"  # the address that means: start a Ray on this machine

# A task is a few files: enough chunks for full embedding batches, small enough that two
# workers share a small folder evenly. Each worker has at most IN_FLIGHT tasks queued, so it
# never waits for the driver (which is writing meanwhile) and the driver's memory stays bounded.
TASK_FILES = 16
TASK_BYTES = 1 << 20
IN_FLIGHT = 3
# Starting the workers includes loading (the first time on a node: exporting) the model.
START_TIMEOUT_S = 900.0
# Tries to start a local Ray whose node misses Ray's own start-up deadline.
START_ATTEMPTS = 3

log = logging.getLogger(__name__)


def import_ray(loopback: bool = True) -> Any:
    """Ray, imported with usage statistics off. `loopback`: this machine's Ray, whose nodes
    are 127.0.0.1 (Ray reads that setting once, when imported: set before it)."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    if loopback and "ray" not in sys.modules:
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(MISSING) from exc
    return ray


def start_local_ray(num_cpus: int) -> None:
    """A Ray on this machine only: its processes bound to 127.0.0.1, `num_cpus` CPUs, no
    dashboard, no usage statistics sent anywhere, and quiet."""
    ray = import_ray()
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            ray.init(
                num_cpus=num_cpus,
                include_dashboard=False,
                _node_ip_address="127.0.0.1",
                logging_level=logging.ERROR,
                log_to_driver=False,
            )
            return
        except Exception as exc:
            # Ray gives its raylet a fixed 30 s to register (ray/_private/node.py), which a
            # loaded 2-core machine can miss: seen once in CI, where the same start passed on
            # the next try. Whatever half-started is stopped before trying again.
            if "timed out during startup" not in str(exc) or attempt == START_ATTEMPTS:
                raise
            log.warning("Ray's node did not start in time (try %d), starting it again", attempt)
            ray.shutdown()


def _host_port(address: str) -> tuple[str, int] | None:
    m = re.fullmatch(r"(?:\w+://)?\[?([^\]]+?)\]?:(\d+)/?", address)
    return (m.group(1), int(m.group(2))) if m else None


def _is_loopback(address: str) -> bool:
    if address in ("", LOCAL):
        return True
    hp = _host_port(address)
    return hp is not None and (hp[0] in ("localhost", "::1") or hp[0].startswith("127."))


@contextmanager
def ray_session(address: str, num_cpus: int | None = None) -> Iterator[Any]:
    """Ray connected for the length of the block: the Ray this process already has, a new one
    on this machine with `num_cpus` CPUs (default: all; `address` "local" or empty), or the
    cluster at `address` (host:port, ray://host:10001, or auto). Whatever this started or
    connected is shut down or disconnected at the end."""
    ray = import_ray(_is_loopback(address))
    started = False
    if not ray.is_initialized():
        if address in ("", LOCAL):
            start_local_ray(num_cpus or os.cpu_count() or 1)
        else:
            hp = _host_port(address)
            if hp is not None:  # Ray itself would retry for minutes
                try:
                    socket.create_connection(hp, timeout=10).close()
                except OSError as exc:
                    raise RagError(
                        f"nothing answers at {address} ({exc.strerror or exc}): start the Ray "
                        "head there (`ray start --head`), or give its address"
                    ) from exc
            try:
                ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise RagError(f"could not reach the Ray cluster at {address}: {exc}") from exc
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


class FileWorker:
    """One Ray actor: its own embedding model, splitter and loaders. Created by RayStage."""

    def __init__(
        self,
        factory: Callable[[Settings], Embedder],
        settings: Settings,
        chunk_tokens: int,
        overlap: int,
        threads: int,
    ) -> None:
        from ..config import Settings as SettingsClass

        if "cache_dir" not in settings.model_fields_set:  # this node's home, not the driver's
            default = SettingsClass.model_fields["cache_dir"].default
            settings = settings.model_copy(update={"cache_dir": default})
        self.embedder = factory(settings)
        if hasattr(self.embedder, "threads"):  # ONNX Runtime: this actor's CPUs, not the node's
            self.embedder.threads = threads
        self.splitter = TokenSplitter(self.embedder.count_tokens, chunk_tokens, overlap)
        self.embedder.embed(["load the model now, so that a failure shows at the start"])
        if "torch" in sys.modules:  # PyTorch backend (or the export): this actor's CPUs
            sys.modules["torch"].set_num_threads(threads)

    def describe(self) -> dict[str, Any]:
        return self.embedder.describe()

    def run(
        self,
        jobs: list[tuple[str, bytes | None, frozenset[str]]],
        max_file_bytes: int,
        limits: Limits | None,
    ) -> list[Loaded | str]:
        """Each file (path, bytes, text hashes whose vectors the index has) loaded and split;
        the new chunks of them all embedded in one call."""
        out: list[Loaded | str] = []
        texts: list[str] = []
        for path, data, reuse in jobs:
            outcome = load_job(Path(path), data, self.splitter, max_file_bytes, limits)
            out.append(outcome)
            if isinstance(outcome, Loaded):
                texts += to_embed(outcome.chunks, reuse)  # what the local ingest embeds
        vecs = self.embedder.embed(texts)
        pos = 0
        for (_, _, reuse), outcome in zip(jobs, out, strict=True):
            if isinstance(outcome, Loaded):
                n = len(to_embed(outcome.chunks, reuse))
                outcome.vectors = vecs[pos : pos + n]
                pos += n
        return out


class RayStage:
    """The ingest's load-split-embed stage on a pool of FileWorker actors (pipeline.Stage)."""

    def __init__(self, ray: Any, actors: list[Any], max_file_bytes: int, limits: Limits | None):
        self.ray = ray
        self.actors = actors
        self.max_file_bytes = max_file_bytes
        self.limits = limits

    @classmethod
    def start(
        cls,
        ray: Any,
        *,
        workers: int | None,
        factory: Callable[[Settings], Embedder],
        settings: Settings,
        expected: dict[str, Any],
        splitter: TokenSplitter,
        max_file_bytes: int,
        limits: Limits | None,
    ) -> RayStage:
        """`workers` actors (default: one per CPU of the cluster), each with 1 CPU and its own
        model; refused when they would embed otherwise than the index (`expected`)."""
        cpus = int(ray.cluster_resources().get("CPU", 0))
        n = workers or max(1, cpus)
        if n > cpus:
            raise ConfigError(
                f"{n} Ray workers asked for, but the Ray cluster has {cpus} CPUs: "
                "ask for fewer (--ray-workers) or add nodes"
            )
        remote = ray.remote(num_cpus=1, max_restarts=0)(FileWorker)
        actors = [
            remote.remote(factory, settings, splitter.chunk_tokens, splitter.overlap, 1)
            for _ in range(n)
        ]
        stage = cls(ray, actors, max_file_bytes, limits)
        try:
            seen = ray.get([a.describe.remote() for a in actors], timeout=START_TIMEOUT_S)
        except Exception as exc:
            stage.close()
            raise RagError(f"the Ray workers could not start: {_cause(exc)}") from exc
        for got in seen:
            if got != expected:
                stage.close()
                raise ConfigError(
                    f"a Ray worker embeds with {got}, but this index with {expected}: every "
                    "node needs the same rag install and model (RAG_MODEL_PATH, "
                    "RAG_EMBED_PRECISION)"
                )
        return stage

    def close(self) -> None:
        for a in self.actors:
            self.ray.kill(a)
        self.actors = []

    def __call__(self, jobs: Iterable[FileJob]) -> Iterator[tuple[FileJob, Loaded | str]]:
        queued: deque[tuple[list[FileJob], Any, int]] = deque()
        load = [0] * len(self.actors)
        for group in _groups(jobs):
            while len(queued) >= IN_FLIGHT * len(self.actors):
                yield from self._take(queued, load)
            a = min(range(len(load)), key=load.__getitem__)
            load[a] += 1
            tasks = [(str(j.path), j.data, frozenset(j.reuse)) for j in group]
            ref = self.actors[a].run.remote(tasks, self.max_file_bytes, self.limits)
            queued.append((group, ref, a))
        while queued:
            yield from self._take(queued, load)

    def _take(
        self, queued: deque[tuple[list[FileJob], Any, int]], load: list[int]
    ) -> Iterator[tuple[FileJob, Loaded | str]]:
        group, ref, a = queued.popleft()
        try:
            outcomes = self.ray.get(ref)
        except Exception as exc:
            raise RagError(
                f"a Ray worker failed on {len(group)} files from {group[0].path} on: "
                f"{_cause(exc)}; the files committed before are in the index, run the ingest "
                "again to finish"
            ) from exc
        load[a] -= 1
        for job, outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, Loaded):
                outcome.document.source = str(job.path)  # the driver's path, not the node's
                if outcome.vectors is not None:
                    outcome.vectors = np.asarray(outcome.vectors, dtype=np.float32)
            yield job, outcome


def _groups(jobs: Iterable[FileJob]) -> Iterator[list[FileJob]]:
    group: list[FileJob] = []
    size = 0
    for job in jobs:
        group.append(job)
        size += len(job.data or b"")
        if len(group) >= TASK_FILES or size >= TASK_BYTES:
            yield group
            group, size = [], 0
    if group:
        yield group


def _cause(exc: BaseException) -> str:
    """The worker's own error, not Ray's wrapping of it."""
    cause = getattr(exc, "cause", None) or exc.__cause__
    if isinstance(cause, RagError):
        return str(cause)
    text = str(cause or exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


@contextmanager
def ray_stage(
    address: str,
    *,
    workers: int | None,
    factory: Callable[[Settings], Embedder],
    settings: Settings,
    expected: dict[str, Any],
    splitter: TokenSplitter,
    max_file_bytes: int,
    limits: Limits | None,
) -> Iterator[RayStage]:
    """A RayStage on the Ray at `address` (see ray_session), its actors ended afterwards."""
    if workers is not None and workers < 1:
        raise ConfigError(f"--ray-workers must be 1 or more, not {workers}")
    with ray_session(address, workers) as ray:
        stage = RayStage.start(
            ray,
            workers=workers,
            factory=factory,
            settings=settings,
            expected=expected,
            splitter=splitter,
            max_file_bytes=max_file_bytes,
            limits=limits,
        )
        try:
            yield stage
        finally:
            stage.close()
