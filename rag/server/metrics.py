"""Prometheus text exposition (format 0.0.4) for a handful of counters, gauges and histograms.

Small enough to write out here: no client library, no global registry, one object per app.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
TOKEN_BUCKETS = (16, 64, 256, 1024, 2048, 4096, 8192, 16384, 65536)

INF = 'le="+Inf"'
Labels = tuple[tuple[str, str], ...]


def _labels(labels: Labels, extra: str = "") -> str:
    parts = [f'{k}="{_escape(v)}"' for k, v in labels]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


class Histogram:
    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.series: dict[Labels, list[float]] = {}  # bucket counts..., +Inf count, sum

    def observe(self, value: float, labels: Labels = ()) -> None:
        s = self.series.setdefault(labels, [0.0] * (len(self.buckets) + 2))
        for i, b in enumerate(self.buckets):
            if value <= b:
                s[i] += 1
        s[-2] += 1
        s[-1] += value

    def lines(self, name: str) -> list[str]:
        out = []
        for labels, s in sorted(self.series.items()):
            for i, b in enumerate(self.buckets):
                le = f'le="{_num(b)}"'
                out.append(f"{name}_bucket{_labels(labels, le)} {_num(s[i])}")
            out.append(f"{name}_bucket{_labels(labels, INF)} {_num(s[-2])}")
            out.append(f"{name}_sum{_labels(labels)} {_num(s[-1])}")
            out.append(f"{name}_count{_labels(labels)} {_num(s[-2])}")
        return out


class Metrics:
    """What rag serve reports at /metrics. Thread-safe: batches finish on worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[Labels, float] = {}
        self.latency = Histogram(LATENCY_BUCKETS)
        self.batch_texts = Histogram(BATCH_BUCKETS)
        self.batch_tokens = Histogram(TOKEN_BUCKETS)
        self.batch_seconds = Histogram(LATENCY_BUCKETS)
        self.texts_embedded = 0
        self.tokens_embedded = 0
        self.queue_depth = 0  # texts waiting for a batch
        self.batches_running = 0  # batches being computed (at most one per model process)
        self.model_processes = 0  # rag serve's model processes (0: the model runs in process)
        self.in_flight = 0  # requests being handled
        self.uploads_waiting = 0  # uploads waiting for the index writer

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (("method", method), ("route", route), ("status", str(status)))
            self.requests[key] = self.requests.get(key, 0) + 1
            self.latency.observe(seconds, (("method", method), ("route", route)))

    def batch(self, texts: int, tokens: int, seconds: float) -> None:
        with self._lock:
            self.batch_texts.observe(texts)
            self.batch_tokens.observe(tokens)
            self.batch_seconds.observe(seconds)
            self.texts_embedded += texts
            self.tokens_embedded += tokens

    def render(self) -> str:
        with self._lock:
            out = [
                "# HELP rag_http_requests_total HTTP requests handled, by route and status.",
                "# TYPE rag_http_requests_total counter",
            ]
            out += [
                f"rag_http_requests_total{_labels(k)} {_num(v)}"
                for k, v in sorted(self.requests.items())
            ]
            out += [
                "# HELP rag_http_request_duration_seconds Time to handle a request, streaming included.",
                "# TYPE rag_http_request_duration_seconds histogram",
                *self.latency.lines("rag_http_request_duration_seconds"),
                "# HELP rag_http_requests_in_flight Requests being handled now.",
                "# TYPE rag_http_requests_in_flight gauge",
                f"rag_http_requests_in_flight {self.in_flight}",
                "# HELP rag_uploads_waiting Uploads waiting for their turn at the index writer.",
                "# TYPE rag_uploads_waiting gauge",
                f"rag_uploads_waiting {self.uploads_waiting}",
                "# HELP rag_embed_batch_size Texts in each model batch formed by the dynamic batcher.",
                "# TYPE rag_embed_batch_size histogram",
                *self.batch_texts.lines("rag_embed_batch_size"),
                "# HELP rag_embed_batch_tokens Tokens in each model batch.",
                "# TYPE rag_embed_batch_tokens histogram",
                *self.batch_tokens.lines("rag_embed_batch_tokens"),
                "# HELP rag_embed_batch_duration_seconds Model time of each batch.",
                "# TYPE rag_embed_batch_duration_seconds histogram",
                *self.batch_seconds.lines("rag_embed_batch_duration_seconds"),
                "# HELP rag_embed_queue_depth Texts waiting for the next batch.",
                "# TYPE rag_embed_queue_depth gauge",
                f"rag_embed_queue_depth {self.queue_depth}",
                "# HELP rag_embed_batches_running Batches being computed.",
                "# TYPE rag_embed_batches_running gauge",
                f"rag_embed_batches_running {self.batches_running}",
                "# HELP rag_embed_model_processes Processes running the embedding model.",
                "# TYPE rag_embed_model_processes gauge",
                f"rag_embed_model_processes {self.model_processes}",
                "# HELP rag_embed_texts_total Texts embedded (embeddings, search queries, answers, uploads).",
                "# TYPE rag_embed_texts_total counter",
                f"rag_embed_texts_total {self.texts_embedded}",
                "# HELP rag_embed_tokens_total Tokens embedded, as the model reads them.",
                "# TYPE rag_embed_tokens_total counter",
                f"rag_embed_tokens_total {self.tokens_embedded}",
            ]
        return "\n".join(out) + "\n"
