"""The one settings class (``RAG_*`` variables). Read only at entry points, then passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ragcore.retrieval_config import RetrievalConfig, RetrievalMode
from ragcore.types import Fusion, Strategy

_RETRIEVAL = RetrievalConfig()


class Settings(BaseSettings):
    """Every knob of the app. ``Settings()`` reads the environment; tests pass values directly.

    >>> Settings(data_dir=Path("/tmp/x"), store="embedded").catalog_path.name
    'catalog.sqlite3'
    """

    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore", populate_by_name=True)

    data_dir: Path = Path("./data")
    # Read-only evaluation data (BEIR folders such as beir/scifact), beside this checkout: the
    # Evaluate page's and the benchmarks' default (RAG_SHARED_DATA).
    shared_data: Path = Path(__file__).resolve().parents[2] / "shared" / "data"
    store: Literal["embedded", "vectorai"] = "embedded"
    collection: str = "docqa"

    vectorai_url: str = "localhost:6574"
    vectorai_api_key: SecretStr | None = None
    vectorai_tls: bool = False
    vectorai_startup_timeout: float = 60.0

    # Models are named by hub id; a resolver maps known ids to offline copies (MODELS.md).
    text_model: str = "sentence-transformers/all-MiniLM-L6-v2"
    image_model: str = "sentence-transformers/clip-ViT-B-32"
    reranker_model: str = "cross-encoder/ms-marco-MiniLM-L6-v2"
    # Off by default: nothing downloads weights unless a person asks for it.
    allow_downloads: bool = False
    device: str = "cpu"
    # Texts per model call; None: 8 on a CPU, 64 on an accelerator (``models.text``).
    embed_batch_size: int | None = None
    # Compute precision of the text embedder; float16/bfloat16 pay off on a GPU. Stored vectors
    # are float32 (and normalised for cosine models) whatever this is.
    embed_precision: Literal["float32", "float16", "bfloat16"] = "float32"
    # After a model switch, the old space's collection is dropped this long after the switch,
    # so questions that started on it finish there.
    reembed_drop_grace_seconds: float = 2.0
    # Chunks per model call while re-embedding, and a pause after each call: on a small machine
    # a pause keeps questions quick while a re-embed runs in the background.
    reembed_batch_size: int = 64
    reembed_pause_seconds: float = 0.0

    chunk_strategy: Strategy = Strategy.RECURSIVE
    chunk_size: int = 200
    chunk_overlap: int = 30  # tokens, for fixed and recursive
    sentence_overlap: int = 1  # sentences, for the sentence strategy

    max_file_mb: float = 200.0
    max_pages: int = 5000
    max_image_pixels: int = 64_000_000
    max_text_chars: int = 60_000_000
    # A file's text may also be at most this many characters per byte of the file (but always
    # min_text_chars): a 788 KB PDF repeating one page 5,000 times holds 52 million, which take
    # an hour to embed; our real PDFs hold at most 0.4 per byte, text files at most 1.
    max_chars_per_byte: float = 4.0
    min_text_chars: int = 1_000_000
    # After parsing, what one document may cost: chunks (10,000 is ~1,850 pages as dense as our
    # real PDFs, whose 23 files make 2,007 in all) and the job's wall-clock seconds (at the
    # measured 14 chunks/s, 10,000 chunks take ~12 minutes; the largest real PDF ~30 s).
    max_chunks_per_document: int = 10_000
    job_timeout_seconds: float = 900.0
    max_images_per_page: int = 20
    min_image_side: int = 32  # smaller embedded images are icons and rules, not figures
    # Word, PowerPoint and Excel files are ZIP archives: a zip bomb is refused from its
    # directory when it declares more parts or more unpacked bytes than these.
    max_archive_entries: int = 10_000
    max_unpacked_mb: float = 256.0
    # Pages without a usable text layer (scans) and image files are read by Tesseract OCR, at
    # this resolution, within the parse limits below; languages as Tesseract names them.
    ocr: bool = True
    ocr_language: str = "eng"
    ocr_dpi: int = 150
    # Each file is parsed in a child process that is stopped past these limits (ingest/sandbox.py).
    parse_sandbox: bool = True
    parse_timeout_seconds: float = 120.0
    parse_memory_mb: int = 2048

    # Retrieval knobs, one RAG_* variable each; their defaults are RetrievalConfig's (the tuned
    # ones), defined there once. ``retrieval`` is the config they make.
    retrieval_mode: RetrievalMode = _RETRIEVAL.mode
    fusion: Fusion = _RETRIEVAL.fusion
    hybrid_fusion: Fusion = _RETRIEVAL.hybrid_fusion
    dense_k: int = _RETRIEVAL.dense_k
    bm25_k: int = _RETRIEVAL.bm25_k
    rrf_k: int = _RETRIEVAL.rrf_k
    dense_weight: float = _RETRIEVAL.dense_weight
    bm25_weight: float = _RETRIEVAL.bm25_weight
    rerank: bool = _RETRIEVAL.rerank
    rerank_top_n: int = _RETRIEVAL.rerank_top_n
    top_k: int = _RETRIEVAL.top_k
    # Below this the answer says the documents do not contain it rather than guessing.
    min_relevance: float = 0.0

    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("RAG_LLM_API_KEY", "OPENAI_API_KEY", "llm_api_key"),
    )
    local_llm: bool = True
    local_llm_model: str = "qwen2.5-coder-1.5b"
    # Any GGUF file on this machine (a 3B-8B Qwen, Llama or Gemma instruct model answers far
    # better than the offline 1.5B one): one setting, served by the same llama.cpp server.
    local_llm_gguf: Path | None = None
    # Threads llama.cpp generates with (None: every core). Prompt processing always uses all.
    local_llm_threads: int | None = None
    # llama.cpp's extra CPU weight buffers (AMX, repacking): auto turns them off on a CPU that
    # reports AMX, where they crash the server on the VMs this is tested on.
    local_llm_extra_buffers: Literal["auto", "on", "off"] = "auto"
    # Constrain the local model's reply to the quote-then-answer form with a GBNF grammar.
    # Off by default: the reply is begun for the model with its quote label instead (see
    # generation/chat_template.py), which holds it to the form as well; the grammar costs
    # speed (llama-cpp-python applies it to the whole 152k-token vocabulary at every step:
    # writing ran at 2.4-3.4 tokens/s with it and 7-8 without, measured here).
    local_llm_grammar: bool = False
    # A quote line and a one-sentence answer fit in far fewer; a runaway reply stops here.
    llm_max_tokens: int = 256
    # Greedy: a quote is a copy, and the same question over the same documents gets the same
    # answer (and benchmark runs differ only by what changed). 0.1 changed 2 of 76 answers.
    llm_temperature: float = 0.0

    # Server mode's shared catalog, queue and keyword index: postgresql://user:pass@host/db
    # (RAG_CATALOG_URL). Empty: the SQLite file catalog.sqlite3 in data_dir.
    catalog_url: SecretStr = SecretStr("")
    catalog_startup_timeout: float = 60.0
    catalog_pool_size: int = 10

    lease_seconds: float = 60.0
    worker_poll_seconds: float = 0.5
    # Sound copies of the catalog kept in data_dir/backups for `ingest check --repair`: a worker
    # takes one when its queue empties after a job, and while busy at most this often.
    catalog_backups: int = 3
    catalog_backup_interval_seconds: float = 60.0

    @property
    def retrieval(self) -> RetrievalConfig:
        """How the app searches, as configured; change a knob with ``dataclasses.replace``.

        >>> replace(Settings(rrf_k=20).retrieval, top_k=3).rrf_k
        20
        """
        return RetrievalConfig(
            mode=self.retrieval_mode,
            fusion=self.fusion,
            hybrid_fusion=self.hybrid_fusion,
            dense_k=self.dense_k,
            bm25_k=self.bm25_k,
            rrf_k=self.rrf_k,
            dense_weight=self.dense_weight,
            bm25_weight=self.bm25_weight,
            rerank=self.rerank,
            rerank_top_n=self.rerank_top_n,
            top_k=self.top_k,
        )

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.sqlite3"

    @property
    def store_path(self) -> Path:
        return self.data_dir / "vectors"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def backups_dir(self) -> Path:
        return self.data_dir / "backups"
