"""Passages finished past their chunk's end: a sentence the chunker cut is read whole.

Chunks end at a size, not at a sentence, and their overlap is a few words: "DATES: The FAA
must receive comments on this proposed AD by September 21," ends one chunk, and "2020." opens
the next. A model reading the first writes "September 21", and a list announced as "four
groups:" loses its last one. So a retrieved passage whose text stops mid-sentence (or on a
colon) takes the words that follow it on its page, from the document's next chunk, up to a
sentence's end. The passage keeps its chunk's id and start; only its text and end grow, and
they stay a slice of the page, so a quote in the added words is found and marked there too.

The model still reads the chunk's sentences as they were, the cut one included: given freely,
the added words took the place of better sentences within the evidence budget and changed a
third of the dev set's answers, cut or not (bench/RESULTS.md, twelfth session). They are used
where they finish what the chunk began: a quote of the cut sentence is finished with them
(``EvidenceSpan.whole``), and the items of a list whose opening was chosen are read from them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace

from ragcore.catalog import ChunkRow
from ragcore.catalog.backend import CatalogBackend
from ragcore.document_text import is_page_slice, trimmed_gap
from ragcore.generation.evidence import asks_who_or_when, cut_short, sentence_ends
from ragcore.text_rules import content_words
from ragcore.types import ChunkKind, Hit, point_id

# Past its end, a passage takes the cut sentence and any whole sentences after it within this
# many characters: a list's items run on a few lines, and one more sentence is cheap to read.
_MORE_CHARS = 300
# A cut sentence that does not end within this many characters is a table or a run without
# stops: it is left cut rather than grown by a page.
_MOST_CHARS = 600
# The chunks after a passage's that may hold its continuation: the next, or the one after it
# when a figure's chunk was numbered between them.
_LOOK_AHEAD = 2


def _next_text(hit: Hit, rows: Sequence[ChunkRow]) -> str:
    """The page's words after ``hit``, from the first of ``rows`` that continues it."""
    for row in rows:
        if not is_page_slice(row) or row.page != hit.page or row.doc_id != hit.doc_id:
            continue  # a caption or a table's later piece is no run of the page's text
        if row.end <= hit.end:
            continue  # no words past the passage
        if row.start > hit.end:
            # The chunker trimmed whitespace between them, as the page's text is rebuilt for
            # the source view (which marks a quote in these words on the page).
            return trimmed_gap(row.start - hit.end) + row.text
        overlap = hit.end - row.start
        if hit.start <= row.start and hit.text[len(hit.text) - overlap :] != row.text[:overlap]:
            return ""  # not the same words (a table's header repeated on its next piece)
        return row.text[overlap:]
    return ""


def _through_sentence(text: str, boundary: int) -> int:
    """Where ``text`` should end: after the sentence running over ``boundary`` (its old end),
    and any whole sentences after it within :data:`_MORE_CHARS`; 0 if that sentence does not
    end within :data:`_MOST_CHARS` of the boundary."""
    ends = sentence_ends(text, boundary)
    if not ends or ends[0] - boundary > _MOST_CHARS:
        return 0
    return max(e for e in ends if e == ends[0] or e - boundary <= _MORE_CHARS)


def finish_cut_passages(hits: Sequence[Hit], catalog: CatalogBackend) -> tuple[Hit, ...]:
    """``hits``, each text passage that stops mid-sentence grown to that sentence's end.

    >>> hits[0].text[-25:]
    'this proposed AD by September 21,'
    >>> finish_cut_passages(hits, catalog)[0].text[-25:]
    'proposed AD by September 21, 2020.'
    """
    cut = [h for h in hits if is_page_slice(h) and cut_short(h.text)]
    if not cut:
        return tuple(hits)
    wanted = {
        h.point_id: [point_id(h.doc_id, h.chunk_no + n) for n in range(1, _LOOK_AHEAD + 1)]
        for h in cut
    }
    rows = catalog.chunks_by_point_ids([pid for pids in wanted.values() for pid in pids])
    out = []
    for hit in hits:
        more = ""
        if hit.point_id in wanted:
            following = [rows[pid] for pid in wanted[hit.point_id] if pid in rows]
            more = _next_text(hit, following)
        if not more:
            out.append(hit)
            continue
        text = hit.text + more
        end = _through_sentence(text, len(hit.text.rstrip()))
        if not end:
            out.append(hit)
            continue
        out.append(replace(hit, text=text[:end], end=hit.start + end, grown=end - len(hit.text)))
    return tuple(out)


# --- title pages --------------------------------------------------------------------------
# Who wrote a document and when it came out are on its first page, which matches the question
# by little more than the document's name: "When was FIPS 199 published?" retrieved four of
# FIPS 199's pages, none of them the cover that says "February 2004". (The evidence selector
# then reads a cover's blocks first: ``evidence.asks_who_or_when``.)

# The documents, in the order retrieval ranked them, whose first page is added.
_TITLE_DOCUMENTS = 2


def with_title_pages(
    question: str, hits: Sequence[Hit], catalog: CatalogBackend
) -> tuple[tuple[Hit, ...], tuple[str, ...]]:
    """``hits`` with the first passage of the best documents' first page after each document's
    best hit, when the question asks who wrote a document or when it came out; and a note for
    each one added (the person sees why a passage search did not rank is there)."""
    if not asks_who_or_when(question):
        return tuple(hits), ()
    documents = list(dict.fromkeys(h.doc_id for h in hits))[:_TITLE_DOCUMENTS]
    have = {h.point_id for h in hits}
    wanted = [point_id(doc, 0) for doc in documents if point_id(doc, 0) not in have]
    rows = catalog.chunks_by_point_ids(wanted) if wanted else {}
    out = list(hits)
    notes = []
    for row in rows.values():
        if row.kind != ChunkKind.TEXT or not row.text.strip():
            continue
        first = next(h for h in out if h.doc_id == row.doc_id)
        title = row.to_hit(first.file_name)
        out.insert(out.index(first) + 1, title)
        notes.append(
            f"added the first passage of {first.file_name} ({title.where}): the question asks "
            "who wrote it or when it came out"
        )
    return tuple(out), tuple(notes)


# --- documents the question names -----------------------------------------------------------
# "What does a loss of integrity mean in FIPS 199?" asks about nist_fips199.pdf. The CVSS
# report's "FIPS 199 defines potential impact levels for the three security objectives …"
# holds the question's words better than FIPS 199's own sentences, which do not repeat their
# document's name (a running header that does is cut as page furniture), and it was read and
# cited in their place. A document the question names is read first (``EvidenceSelector``).

# A question's words that can name a document: an acronym ("FIPS", "SSDF", "CVSS") or a number
# of three or more digits ("199", "800-207", "7435"), as file names hold them.
_IDENTIFIER = re.compile(r"\b(?:[A-Z][A-Za-z]*[A-Z][A-Za-z]*|\d{3,})\b")
_NAME_PART = re.compile(r"[^\W\d_]+|\d+")
_EXTENSION = re.compile(r"\.\w{1,5}$")


def name_words(file_name: str) -> frozenset[str]:
    """The content words of a file's name, letters and digits apart.

    >>> sorted(name_words("nist_sp800-207_zero_trust.pdf"))
    ['207', '800', 'nist', 'sp', 'trust', 'zero']
    """
    parts = _NAME_PART.findall(_EXTENSION.sub("", file_name))
    return frozenset(content_words(" ".join(parts)))


def named_documents(question: str, hits: Sequence[Hit], catalog: CatalogBackend) -> frozenset[str]:
    """The documents ``question`` names by a word of their file name that no other file in the
    library has ("FIPS" and "199" name nist_fips199.pdf; "NIST" names seven files, so none),
    when search agrees: it ranked one of them first, or retrieved one named by a number or by
    two words. A lone acronym can match a file by chance ("FAA" in a handbook's file name,
    asked of an FAA notice in another file); a standard's number ("FIPS 199") rarely does."""
    asked = content_words(" ".join(_IDENTIFIER.findall(question)))
    if not hits or not asked:
        return frozenset()
    holders: dict[str, set[str]] = {}
    for doc in catalog.list_documents():
        for word in name_words(doc.name) & asked:
            holders.setdefault(word, set()).add(doc.id)
    by: dict[str, set[str]] = {}  # a named document: the words that name it
    for word, docs in holders.items():
        if len(docs) == 1:
            by.setdefault(next(iter(docs)), set()).add(word)
    if hits[0].doc_id in by:
        return frozenset(by)
    retrieved = {h.doc_id for h in hits}
    return frozenset(
        doc
        for doc, words in by.items()
        if doc in retrieved and (len(words) >= 2 or any(w.isdigit() for w in words))
    )


def with_named_passages(
    hits: Sequence[Hit], named: Collection[str], search: Callable[[tuple[str, ...]], Sequence[Hit]]
) -> tuple[Hit, ...]:
    """``hits`` led by the best passages of the ``named`` documents, searched within them, when
    search ranked another document first: "how does FIPS 199 settle the system's overall
    rating" ranked the CVSS report's pages about FIPS 199 above FIPS 199's one retrieved page,
    and its page 8, which answers, was not among them."""
    if not named or not hits or hits[0].doc_id in named:
        return tuple(hits)
    found = list(search(tuple(sorted(named))))
    have = {h.point_id for h in found}
    return tuple(found + [h for h in hits if h.point_id not in have])


# --- all of it -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadPassages:
    """The passages an answer reads, the documents its question names (read first), and a note
    for each passage search did not rank (the person sees why it is there)."""

    hits: tuple[Hit, ...]
    named: frozenset[str]
    notes: tuple[str, ...]


def passages_to_read(
    question: str,
    hits: Sequence[Hit],
    catalog: CatalogBackend,
    search: Callable[[tuple[str, ...]], Sequence[Hit]],
) -> ReadPassages:
    """``hits`` as an answer reads them: a document the question names searched on its own
    (``search`` runs the question within the documents given), each passage its chunk cut
    mid-sentence finished, and the first page of a document asked who wrote it or when."""
    named = named_documents(question, hits, catalog)
    searched = with_named_passages(hits, named, search)
    notes = []
    if searched != tuple(hits):
        files = sorted({h.file_name for h in searched if h.doc_id in named})
        notes.append(f"also searched {', '.join(files)} on its own: the question names it")
    read, added = with_title_pages(question, finish_cut_passages(searched, catalog), catalog)
    return ReadPassages(read, named, (*notes, *added))
