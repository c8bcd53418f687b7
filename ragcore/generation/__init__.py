"""Answer generation: prompts over numbered sources, the chat model, citation checks, fallbacks."""

from ragcore.generation.citations import Citation, CitationReport, check_citations
from ragcore.generation.extractive import EXTRACTIVE_LABEL, extractive_answer
from ragcore.generation.llm import ChatLLM
from ragcore.generation.local import (
    LocalLLMServer,
    assemble_gguf,
    find_offline_model,
    offline_gguf,
)
from ragcore.generation.prompt import build_messages, build_rewrite_messages, sources_block

__all__ = [
    "EXTRACTIVE_LABEL",
    "ChatLLM",
    "Citation",
    "CitationReport",
    "LocalLLMServer",
    "assemble_gguf",
    "build_messages",
    "build_rewrite_messages",
    "check_citations",
    "extractive_answer",
    "find_offline_model",
    "offline_gguf",
    "sources_block",
]
