"""How many questions' key facts survive from the retrieved passages into the evidence the model
reads: where an answer is lost before the model writes a word."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from ragcore.evaluation.answers import AnswerCase, facts_found, percentile
from ragcore.generation.evidence import EvidenceBudget, EvidenceSelector
from ragcore.generation.quoted import evidence_block
from ragcore.types import Hit


@dataclass(frozen=True)
class EvidenceRecall:
    """Shares of answerable questions with every key fact in the passages, and in the evidence."""

    budget: EvidenceBudget
    questions: int
    in_passages: float  # every fact in the retrieved passages
    in_evidence: float  # every fact in the evidence block the model reads
    tokens_p50: float | None  # the evidence block's tokens
    tokens_p95: float | None
    missing: tuple[str, ...]  # ids whose evidence lacks a fact

    def to_json(self) -> dict[str, object]:
        return self.__dict__ | {"budget": self.budget.__dict__, "missing": list(self.missing)}


def evidence_recall(
    cases: Sequence[AnswerCase],
    passages: Mapping[str, Sequence[Hit]],
    selector: EvidenceSelector,
    count_tokens: Callable[[str], int],
    named: Mapping[str, Collection[str]] | None = None,
) -> EvidenceRecall:
    """Score ``selector`` on the answerable ``cases``, each with its retrieved ``passages`` and
    the documents its question ``named`` (read first, as the answerer reads them)."""
    answerable = [c for c in cases if c.answerable]
    if not answerable:
        raise ValueError("no answerable question to score")
    in_passages = in_evidence = 0
    tokens: list[float | None] = []
    missing = []
    for case in answerable:
        hits = passages[case.id]
        in_passages += all(facts_found(case.facts, " ".join(h.text for h in hits)))
        first = (named or {}).get(case.id, ())
        block = evidence_block(selector.select(case.question, hits, first=first))
        tokens.append(float(count_tokens(block)))
        if all(facts_found(case.facts, block)):
            in_evidence += 1
        else:
            missing.append(case.id)
    n = len(answerable)
    return EvidenceRecall(
        budget=selector.budget,
        questions=n,
        in_passages=round(in_passages / n, 4),
        in_evidence=round(in_evidence / n, 4),
        tokens_p50=percentile(tokens, 50),
        tokens_p95=percentile(tokens, 95),
        missing=tuple(missing),
    )
