"""One answer with every part filled in (citations, two sources, a verified quote, excerpts),
for the tests that store conversations and read them back."""

from __future__ import annotations

from ragcore.answering import Answer, VerifiedQuote
from ragcore.generation.citations import Citation
from ragcore.types import AnswerMode, ChunkKind, Evidence, Hit

OIL = "The pump needs fresh oil every 200 hours of running time."


def _hit(number: int, doc_id: str, text: str, **extra: object) -> Hit:
    return Hit(
        point_id=f"p{number}",
        doc_id=doc_id,
        file_name=f"{doc_id}.pdf",
        page=number + 1,
        chunk_no=number,
        start=0,
        end=len(text),
        kind=ChunkKind.TEXT,
        text=text,
        evidence=Evidence(bm25_rank=number, bm25_score=1.5, text_rank=1, text_score=0.7),
        **extra,  # type: ignore[arg-type]
    )


def sample_answer() -> Answer:
    """Source 1 (manual.pdf, page 2, Maintenance) is cited and quoted (OIL); source 2
    (notes.pdf) was shown to the model but not cited."""
    intro = "Contents and warranty terms. " + OIL
    sources = (
        _hit(1, "manual", intro, section="Maintenance"),
        _hit(2, "notes", "Oil is changed by the service team.", location="sheet Q3, rows 2–4"),
    )
    quote_start = intro.index(OIL)
    return Answer(
        question="How often does it need oil?",
        standalone_question="How often does the pump need oil?",
        text="Every 200 hours [1].",
        mode=AnswerMode.LLM,
        citations=(Citation(1, "p1", "manual", "manual.pdf", 2, True, 0.9, ("Every 200 hours.",)),),
        removed_citations=(3,),
        unsupported_sentences=(),
        sources=sources,
        prompt_sources='<source id="1">…</source>',
        timings={"retrieve_ms": 12.5, "generate_ms": 800.0},
        notes=("a note",),
        llm="tiny-model",
        quotes=(VerifiedQuote(1, quote_start, len(intro), OIL, 100.0, None),),
        excerpts=(((quote_start, len(intro)),), ((0, 10),)),
        verdict="quoted from the cited page",
    )
