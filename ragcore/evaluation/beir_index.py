"""A BEIR corpus ingested through the real pipeline into a data dir, cached by corpus, model, chunking."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from ragcore.catalog import Catalog, DocumentStatus
from ragcore.catalog.backend import CatalogBackend
from ragcore.evaluation.retrieval_metrics import BeirDataset, BeirDoc
from ragcore.evaluation.runs import write_json
from ragcore.models.loader import Models
from ragcore.stores import VectorStore, open_store
from ragcore.types import Chunk, ChunkingParams

log = logging.getLogger(__name__).info

# Bump when what an index holds changes for the same inputs (ids, payloads, chunk text).
INDEX_FORMAT = 1


class IndexedTexts(Protocol):
    """What an indexer reports: documents and chunks written, seconds per stage."""

    @property
    def documents(self) -> int: ...

    @property
    def chunks(self) -> int: ...

    @property
    def seconds(self) -> Mapping[str, float]: ...


class TextIndexer(Protocol):
    """Chunks, embeds and writes ``(doc_id, name, text)`` documents into a catalog and store.

    Chunking belongs to ``ingest``, which ragcore does not import: entry points pass
    ``ingest.service.ingest_texts`` (the batch import) in.
    """

    def __call__(
        self,
        catalog: Catalog,
        store: VectorStore,
        models: Models,
        docs: Iterable[tuple[str, str, str]],
        params: ChunkingParams,
        *,
        batch_size: int = ...,
        progress: Callable[[int, int], None] | None = None,
    ) -> IndexedTexts: ...


def beir_doc_id(doc: BeirDoc, *, shared_text: bool = False) -> str:
    """Our document id for a BEIR document: the sha256 of its text, as for an uploaded file.

    A text that several corpus documents share is hashed with the document's own BEIR id, so
    each copy stays a document: the qrels judge each id on its own (NFCorpus has 40 such pairs).
    """
    key = f"beir:{doc.id}\0{doc.full_text}" if shared_text else doc.full_text
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def beir_doc_ids(corpus: Mapping[str, BeirDoc]) -> dict[str, str]:
    """BEIR id -> our document id for the whole corpus (so a subset's ids are the same).

    Texts found once keep the plain content hash, so indexes of such corpora built before
    duplicates were admitted stay valid.
    """
    copies = Counter(doc.full_text for doc in corpus.values())
    return {
        beir_id: beir_doc_id(doc, shared_text=copies[doc.full_text] > 1)
        for beir_id, doc in corpus.items()
    }


def corpus_fingerprint(dataset: BeirDataset, doc_ids: Collection[str] | None) -> str:
    ours = beir_doc_ids(dataset.corpus)
    digest = hashlib.sha256()
    for beir_id in sorted(doc_ids if doc_ids is not None else dataset.corpus):
        digest.update(beir_id.encode() + b"\0" + ours[beir_id].encode())
    return digest.hexdigest()


@dataclass
class BeirIndex:
    """An ingested corpus: its catalog and vector store, and our doc id -> BEIR id."""

    path: Path
    catalog: CatalogBackend  # the SQLite file it was built in, or a copy (``copied_to``)
    store: VectorStore
    beir_ids: dict[str, str]  # our doc id -> BEIR _id
    stats: dict[str, object]
    reused: bool = False  # found complete on disk: nothing was embedded

    def close(self) -> None:
        self.store.close()
        self.catalog.close()


def copied_to(index: BeirIndex, target: CatalogBackend, *, batch: int = 200) -> BeirIndex:
    """``index`` reading its documents, chunks and keyword index from ``target`` instead.

    The vectors stay where they are (point ids derive from document and chunk number, so they
    match). An empty ``target`` gets a copy of every document with its chunks, through
    ``replace_chunks`` like an ingestion, and ``stats["catalog_copy"]`` says how long it took;
    a ``target`` already holding the same number of documents and chunks is used as it is.
    The index's own catalog is closed.
    """
    source = index.catalog
    # In the order their chunks were written, so the copies' ids keep the originals' order:
    # keyword search breaks ties by chunk id, and the copy must rank ties as the source does.
    all_chunks = source.chunks()
    first_chunk: dict[str, int] = {}
    for row in all_chunks:
        first_chunk[row.doc_id] = min(first_chunk.get(row.doc_id, row.rowid), row.rowid)
    documents = sorted(source.list_documents(), key=lambda d: (first_chunk.get(d.id, 0), d.id))
    want = {"documents": len(documents), "chunks": len(all_chunks)}
    have = target.counts()
    copy: dict[str, object] = {"reused": True, **want}
    if {k: have[k] for k in want} != want:
        if have["documents"]:
            raise ValueError(
                f"the target catalog holds {have['documents']} documents and {have['chunks']} "
                f"chunks, not this index's {want['documents']} and {want['chunks']}: give an "
                "empty database"
            )
        started = time.perf_counter()
        for first in range(0, len(documents), batch):
            for doc in documents[first : first + batch]:
                target.upsert_document(doc)
                rows = source.chunks(doc.id)
                target.replace_chunks(
                    doc.id,
                    [
                        Chunk(
                            r.doc_id,
                            r.chunk_no,
                            r.page,
                            r.start,
                            r.end,
                            r.text,
                            kind=r.kind,
                            section=r.section,
                            image_index=r.image_index,
                            location=r.location or "",
                            ocr_confidence=r.ocr_confidence,
                        )
                        for r in rows
                    ],
                    embed_model=rows[0].embed_model if rows else (doc.embed_model or ""),
                    embed_fingerprint=rows[0].embed_fingerprint if rows else "",
                    stats={},
                )
            log(f"  copied {min(first + batch, len(documents))}/{len(documents)} documents")
        copy = {"reused": False, **want, "seconds": round(time.perf_counter() - started, 3)}
    source.close()
    return replace(index, catalog=target, stats={**index.stats, "catalog_copy": copy})


def index_key(
    dataset: BeirDataset, model_id: str, params: ChunkingParams, doc_ids: Collection[str] | None
) -> str:
    spec = {
        "format": INDEX_FORMAT,
        "corpus": corpus_fingerprint(dataset, doc_ids),
        "model": model_id,
        "strategy": str(params.strategy),
        "chunk_size": params.chunk_size,
        "overlap": params.overlap,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def open_index(
    dataset: BeirDataset,
    models: Models,
    params: ChunkingParams,
    workdir: Path,
    *,
    index_texts: TextIndexer,
    doc_ids: Collection[str] | None = None,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> BeirIndex:
    """The cached index for this corpus (or the ``doc_ids`` part of it), building what is missing.

    An interrupted build resumes: documents already ready in the catalog are not embedded again.
    ``progress`` hears (documents indexed, documents in all) after each written batch;
    ``index_texts`` chunks and embeds what is missing (``ingest.service.ingest_texts``).
    """
    selected = sorted(doc_ids) if doc_ids is not None else sorted(dataset.corpus)
    unknown = [d for d in selected if d not in dataset.corpus]
    if unknown:
        raise ValueError(
            f"{len(unknown)} document ids are not in the corpus (first: {unknown[0]!r})"
        )
    key = index_key(dataset, models.text.model_id, params, doc_ids)
    path = workdir / "index" / f"{dataset.name}-{key}"
    done_file = path / "done.json"
    ours = beir_doc_ids(dataset.corpus)
    beir_ids = {ours[d]: d for d in selected}
    if len(beir_ids) != len(selected):  # only if a text spells out another document's hash key
        raise ValueError("two documents of the corpus map to one document id")

    path.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(path / "catalog.sqlite3")
    store = open_store("embedded", path=path / "vectors", collection="beir")
    reused = done_file.exists()
    try:
        if reused:
            stats = json.loads(done_file.read_text())
            if progress is not None:
                progress(len(selected), len(selected))
        else:
            stats = _build(
                dataset,
                models,
                params,
                path,
                catalog,
                store,
                ours,
                selected,
                batch_size,
                progress,
                index_texts,
            )
            write_json(done_file, stats)
    except BaseException:
        # Stopped half-way (an error, Ctrl-C, a stopped page): let go of the store folder, which
        # admits one client, so the next call can resume the build.
        store.close()
        catalog.close()
        raise
    return BeirIndex(path, catalog, store, beir_ids, stats, reused=reused)


def _build(
    dataset: BeirDataset,
    models: Models,
    params: ChunkingParams,
    path: Path,
    catalog: Catalog,
    store: VectorStore,
    ours: Mapping[str, str],
    selected: list[str],
    batch_size: int,
    progress: Callable[[int, int], None] | None,
    index_texts: TextIndexer,
) -> dict[str, object]:
    ready = {doc.id for doc in catalog.list_documents() if doc.status == DocumentStatus.READY}
    todo = [d for d in selected if ours[d] not in ready]
    log(
        f"indexing {len(todo)} of {len(selected)} {dataset.name} documents into {path} "
        f"({models.text.model_id}, {params.strategy} chunks of <= {params.chunk_size} tokens)"
    )
    started = time.perf_counter()

    def batch_done(docs: int, chunks: int) -> None:
        elapsed = time.perf_counter() - started
        log(f"  {docs}/{len(todo)} documents, {chunks} chunks, {chunks / elapsed:.1f} chunks/s")
        if progress is not None:
            progress(len(selected) - len(todo) + docs, len(selected))

    def texts() -> Iterator[tuple[str, str, str]]:
        for beir_id in todo:
            yield ours[beir_id], f"{dataset.name}/{beir_id}", dataset.corpus[beir_id].full_text

    batch = index_texts(
        catalog, store, models, texts(), params, batch_size=batch_size, progress=batch_done
    )
    counts = catalog.counts()
    stats: dict[str, object] = {
        "documents": counts["documents_ready"],
        "chunks": counts["chunks"],
        "model": models.text.model_id,
        "strategy": str(params.strategy),
        "chunk_size": params.chunk_size,
        "overlap": params.overlap,
        # Only the last (resumed) part of a build was timed here.
        "timed_documents": batch.documents,
        "timed_chunks": batch.chunks,
        "seconds": dict(batch.seconds),
        "wall_seconds": round(time.perf_counter() - started, 2),
    }
    log(f"indexed: {stats['documents']} documents, {stats['chunks']} chunks")
    return stats


def remove_index(index: BeirIndex) -> None:
    index.close()
    shutil.rmtree(index.path, ignore_errors=True)
