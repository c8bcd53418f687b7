"""The load benchmark's numbers: one cell of users × workers, per-chunk costs, a 10M-chunk sketch."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ragcore.evaluation.beir import percentile


@dataclass(frozen=True)
class CpuTimes:
    """The machine's CPU counters from /proc/stat (jiffies): busy and total."""

    busy: int
    total: int

    @classmethod
    def read(cls, stat: Path = Path("/proc/stat")) -> CpuTimes:
        """Now's counters; zeros where /proc is missing (the busy share then reads 0)."""
        try:
            fields = [int(x) for x in stat.read_text().splitlines()[0].split()[1:]]
        except (OSError, IndexError, ValueError):
            return cls(0, 0)
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return cls(sum(fields) - idle, sum(fields))

    def busy_share(self, later: CpuTimes) -> float:
        """How busy every core was, 0..1, between this reading and ``later``."""
        total = later.total - self.total
        return (later.busy - self.busy) / total if total > 0 else 0.0


@dataclass(frozen=True)
class Cell:
    """One run of ``users`` question loops beside ``workers`` ingesting, for ``seconds``."""

    backend: str
    users: int
    workers: int
    embedder: str  # the workers' text model: the hashing fake or the real one
    seconds: float
    questions: int
    questions_per_second: float
    p50_ms: float
    p95_ms: float
    bm25_p50_ms: float  # the catalog's part of a question
    bm25_p95_ms: float
    chunks: int  # chunk rows the workers added within the window
    chunks_per_second: float
    queue_left: int  # jobs still queued at the end: 0 means the rate is a lower bound
    cpu_busy: float  # share of both cores busy over the window, 0..1
    load_average: float  # 1-minute load at the end
    lock_waiters: float  # PostgreSQL: mean backends waiting on a heavyweight lock; SQLite: nan
    active_backends: float  # PostgreSQL: mean backends running a statement; SQLite: nan


def latency_summary(latencies_ms: Sequence[float]) -> tuple[float, float]:
    """p50 and p95 in ms, rounded; nan for none (a cell without users)."""
    if not latencies_ms:
        return math.nan, math.nan
    values = sorted(latencies_ms)
    return round(percentile(values, 50), 2), round(percentile(values, 95), 2)


@dataclass(frozen=True)
class ScalePoint:
    """Measured at one corpus size on one backend, one client, an idle queue."""

    backend: str
    chunks: int
    mean_chunk_chars: float
    write_ms_per_chunk: float  # the catalog's replace_chunks time (chunks, keyword index, stats)
    bm25_p50_ms: float
    bm25_p95_ms: float
    bytes_per_chunk: float  # the catalog's whole on-disk size / chunks


@dataclass(frozen=True)
class Projection:
    """A 10-million-chunk deployment on one backend, extrapolated from two measured sizes."""

    backend: str
    chunks: int
    storage_gb: float
    bm25_p50_ms: float  # power law through the two measured sizes
    bm25_growth_exponent: float  # latency ∝ chunks ** exponent between them
    catalog_write_hours: float  # one writer at the measured ms/chunk, no embedding
    ingest_hours: dict[str, float]  # "<workers>x<embedder>": hours at the measured chunks/s


def project(
    points: Sequence[ScalePoint],
    ingest_rates: Mapping[str, float],
    *,
    target: int = 10_000_000,
) -> Projection:
    """Extrapolate a backend's smallest and largest measured sizes to ``target`` chunks.

    BM25 time is fitted as ``a * chunks ** k`` through the two points (a posting-list scan
    grows about linearly with the corpus for common terms); storage as the larger size's
    bytes per chunk; ingestion hours as ``target`` over each measured rate (chunks/s).
    """
    if len(points) < 2:
        raise ValueError(f"a projection needs two corpus sizes, got {len(points)}")
    small, large = min(points, key=lambda p: p.chunks), max(points, key=lambda p: p.chunks)
    if small.chunks == large.chunks or small.bm25_p50_ms <= 0 or large.bm25_p50_ms <= 0:
        raise ValueError("a projection needs two different sizes with positive BM25 times")
    k = math.log(large.bm25_p50_ms / small.bm25_p50_ms) / math.log(large.chunks / small.chunks)
    bm25 = large.bm25_p50_ms * (target / large.chunks) ** k
    return Projection(
        backend=large.backend,
        chunks=target,
        storage_gb=round(large.bytes_per_chunk * target / 1e9, 1),
        bm25_p50_ms=round(bm25, 1),
        bm25_growth_exponent=round(k, 2),
        catalog_write_hours=round(large.write_ms_per_chunk * target / 1000 / 3600, 2),
        ingest_hours={
            name: round(target / rate / 3600, 1) for name, rate in ingest_rates.items() if rate > 0
        },
    )
