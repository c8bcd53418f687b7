"""Chat: streamed answers whose [n] markers open source cards with the evidence behind them."""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from app import browser_session, render, resources, source_viewer
from ragcore import conversations
from ragcore.answering import MAX_QUESTION_CHARS, Answer, AnswerStream
from ragcore.catalog import CollectionRecord, DocumentStatus
from ragcore.conversations import ConversationNotFound, Feedback, SearchedIn, Turn
from ragcore.errors import RagError
from ragcore.generation.citations import Citation
from ragcore.runtime import Runtime
from ragcore.scope import Scope, file_kind
from ragcore.sources import SourceKind
from ragcore.types import AnswerMode, ChunkKind, Fusion, Hit

FUSION_LABELS = {
    Fusion.RRF.value: "RRF (reciprocal rank)",
    Fusion.DBSF.value: "DBSF (score distribution)",
}
MAX_SOURCES = 12
# Questions longer than this are shown cut, the rest in an expander: a pasted page would
# otherwise push the conversation off the screen.
SHOWN_QUESTION_CHARS = 300
# Set by an "Edit and ask again" form, read once by the same run further down.
REASK_KEY = "chat_reask"
# An Event set once the answer being written is saved. A click mid-answer starts the next run
# at once, in another thread, while the stopped run still saves its turn (Streamlit's fast
# reruns): the next run waits for that turn before drawing the conversation.
SAVED_KEY = "chat_saved"
SAVE_WAIT_SECONDS = 3.0
# The open conversation's id (None: a new one, made at its first question) and its turns.
CONVERSATION_KEY = "chat_conversation"
TURNS_KEY = "chat"
# Set once this tab has opened the conversation named in its address (?c=), on its first run.
OPENED_KEY = "chat_opened"
CONVERSATION_PARAM = "c"
# A turn the catalog could not store (a full disk): shown, with why, until the next one is kept.
UNSAVED_KEY = "chat_unsaved"
# The sidebar's collection (its id; None: every document).
COLLECTION_KEY = "chat_collection"
# st.feedback's thumbs: 0 is down, 1 is up.
THUMBS = {0: Feedback.DOWN, 1: Feedback.UP}


class _Cancelled(Exception):
    """Raised in the helper thread to leave the answer before the model is asked."""


class ReplyPump:
    """Streams an answer in a helper thread while the page keeps making Streamlit calls.

    Streamlit ends a run (a Stop click, any other click, leaving the page) by raising a
    ``ScriptControlException`` at the script's next Streamlit call. The model can take many
    seconds to its first word, and a queued answer waits for others', so the reply is read in
    a thread and the script updates the stage line every ``poll_seconds``: a Stop is heard
    within that time, whatever the model is doing. The thread makes no Streamlit call.

    >>> pump = ReplyPump(answerer.start(question, config=cfg))
    >>> try:
    ...     answer = pump.run(on_stage=show_stage, on_text=show_draft)
    ... except BaseException:
    ...     partial = pump.stop()  # cancels the model's request; no Streamlit call
    ...     raise
    """

    def __init__(self, stream: AnswerStream) -> None:
        self.stream = stream
        self.text = ""  # the reply as streamed so far
        self._events: queue.Queue[tuple[str, str | BaseException]] = queue.Queue()
        self._thread = threading.Thread(target=self._produce, name="chat-answer", daemon=True)

    def _produce(self) -> None:
        try:
            for piece in self.stream.tokens(self._stage):
                self._events.put(("token", piece))
        except _Cancelled:
            pass
        except BaseException as exc:  # the script thread raises it where the person sees it
            self._events.put(("error", exc))
            return
        self._events.put(("done", ""))

    def _stage(self, status: str) -> None:
        # The stream says "reading N sources" after its turn in line and before asking the
        # model: raising here leaves the line and closes the unstarted request, so a stopped
        # answer never reaches the model.
        if self.stream.cancelled:
            raise _Cancelled
        self._events.put(("stage", status))

    def run(
        self,
        on_stage: Callable[[str, float], object],
        on_text: Callable[[str], object],
        *,
        poll_seconds: float = 0.5,
        started: float | None = None,
    ) -> Answer:
        """Stream the reply: ``on_stage(status, seconds)`` hears the stage (and, every
        ``poll_seconds`` while nothing arrives, the same stage again), ``on_text`` the reply so
        far. Whatever the callbacks raise propagates; call :meth:`stop` then."""
        if poll_seconds <= 0:
            raise ValueError(f"poll_seconds must be > 0, got {poll_seconds}")
        began = time.monotonic() if started is None else started
        self._thread.start()
        status = ""
        while True:
            try:
                kind, value = self._events.get(timeout=poll_seconds)
            except queue.Empty:
                on_stage(status, time.monotonic() - began)
                continue
            if isinstance(value, BaseException):
                raise value
            if kind == "stage":
                status = value
                on_stage(status, time.monotonic() - began)
            elif kind == "token":
                self.text += value
                on_text(self.text)
            else:
                break
        self._thread.join()
        return self.stream.result()

    def stop(self, wait_seconds: float = 1.0) -> Answer | None:
        """Cancel the model's request; the answer as far as it got, or None while the thread
        still waits for the model's first word (it closes the request when that comes)."""
        self.stream.cancel()
        if self._thread.ident is None:
            return None  # never started: nothing was asked
        self._thread.join(wait_seconds)
        if self._thread.is_alive():
            return None
        return self.stream.result()


def controls(rt: Runtime) -> dict[str, Any]:
    """The sidebar: which documents to search and how; defaults come from settings."""
    settings = rt.settings
    with st.sidebar:
        st.header("Search")
        ready = [d for d in rt.catalog.list_documents() if d.status == DocumentStatus.READY]
        collection = _collection_choice(rt)
        if collection is not None:
            members = rt.catalog.memberships([d.id for d in ready])
            ready = [d for d in ready if collection.id in members.get(d.id, ())]
        kinds = st.multiselect(
            "File types",
            sorted({file_kind(d.name) for d in ready}),
            placeholder="All types",
            key="chat_kinds",
        )
        if kinds:
            ready = [d for d in ready if file_kind(d.name) in kinds]
        added = st.date_input(
            "Added between", value=[], format="YYYY-MM-DD", key="chat_added", help=_ADDED_HELP
        )
        added_from, added_until = _day_range(added)
        names = {d.id: d.name for d in ready}
        doc_ids = st.multiselect(
            "Documents",
            list(names),
            format_func=lambda i: names.get(i, i[:12]),
            placeholder="All documents" if collection is None else "All in this collection",
            key="chat_docs",
        )
        fusions = list(FUSION_LABELS)
        fusion = st.radio(
            "Fusion of the text and image searches",
            fusions,
            index=fusions.index(str(settings.fusion)),
            format_func=FUSION_LABELS.__getitem__,
            key="chat_fusion",
        )
        # Known only once the reranker was tried (at the first question): then say why it is off.
        reranker = next(s for s in rt.models.status(load=False) if s.role == "reranker")
        missing = not reranker.available and reranker.detail != "not loaded yet"
        rerank = st.toggle(
            "Rerank with the cross-encoder",
            value=settings.rerank and not missing,
            disabled=missing,
            help=f"Unavailable: {reranker.detail}" if missing else reranker.model_id,
            key="chat_rerank",
        )
        rerank = rerank and not missing
        top_k = st.slider(
            "Number of sources",
            1,
            MAX_SOURCES,
            value=min(settings.top_k, MAX_SOURCES),
            key="chat_top_k",
        )
    scope = Scope(
        collection=collection.id if collection is not None else None,
        doc_ids=tuple(doc_ids) if doc_ids else None,
        kinds=frozenset(kinds),
        added_from=added_from,
        added_until=added_until,
    )
    return {
        "scope": scope,
        # Kept with each turn, so the answer says where it searched, and reopening the
        # conversation picks the collection again.
        "searched_in": SearchedIn(collection.id, collection.name) if collection else None,
        "fusion": Fusion(fusion),
        "rerank": rerank,
        "top_k": top_k,
    }


_ADDED_HELP = "Search only documents added to the library on these days (both included)."


def _collection_choice(rt: Runtime) -> CollectionRecord | None:
    """The collection the chat is scoped to (None: all documents); shown once one exists."""
    listed = {c.id: c for c in rt.catalog.collections()}
    if not listed:
        return None
    chosen: int | None = st.selectbox(
        "Collection",
        [None, *listed],
        format_func=lambda i: (
            "All documents" if i is None else f"{listed[i].name} ({listed[i].documents})"
        ),
        key=COLLECTION_KEY,
    )
    # A collection deleted in another tab since it was picked: back to everything.
    return listed.get(chosen) if chosen is not None else None


def _day_range(picked: object) -> tuple[float | None, float | None]:
    """st.date_input's range (0, 1 or 2 dates while a person picks) as epoch seconds."""
    days = [d for d in picked if isinstance(d, date)] if isinstance(picked, tuple | list) else []
    if not days:
        return None, None
    start = datetime.combine(days[0], datetime.min.time()).timestamp()
    end = datetime.combine(days[-1] + timedelta(days=1), datetime.min.time()).timestamp()
    return start, end


def source_card(
    rt: Runtime,
    number: int,
    hit: Hit,
    citation: Citation | None,
    terms: Sequence[str],
    prefix: str,
    *,
    quotes: Sequence[tuple[int, int]] = (),
    read: Sequence[tuple[int, int]] | None = None,
) -> None:
    """One source: ``quotes`` are the spans its verified quotes copied, ``read`` the spans the
    model read (None when no model read it)."""
    title = f"[{number}] {hit.file_name} — {hit.where}"
    if hit.kind == ChunkKind.IMAGE:
        title += " — image"
    # A kept conversation outlives documents: its passage is shown as it was answered from.
    # Said inside the card, not in its title: a new title would make it a new, closed card.
    deleted = rt.catalog.get_document(hit.doc_id) is None
    if citation is not None:
        title += " — cited" if citation.supported else " — ⚠ cited, not supported"
    if quotes:
        title += " — quoted"
    anchor = render.anchor_id(prefix, number)
    st.markdown(f'<span id="{anchor}"></span>', unsafe_allow_html=True)
    # The key names the card (class st-key-<anchor>) for the script that opens it from [n].
    # It reruns when opened or closed: the page image is drawn only while the card is open.
    with st.expander(render.md_escape(title), key=anchor, on_change="rerun") as card:
        # Where the passage is as a person finds it: "sheet Q3, rows 12–40", "slide 4", a
        # section path, or "page 2" (and its section) for a PDF.
        st.caption(f"**{render.md_escape(hit.file_name)}** · {render.md_escape(hit.where)}")
        if hit.ocr_confidence is not None:
            st.caption(f"text from OCR (confidence {hit.ocr_confidence:.2f})")
        if deleted:
            st.info(
                f"Document deleted: {render.md_escape(hit.file_name)} is no longer in the "
                "library. The passage is shown as it was when this was answered."
            )
        view = (
            source_viewer.show_source(rt, hit, quotes, anchor)
            if card.open and not deleted
            else None
        )
        if hit.kind == ChunkKind.IMAGE:
            # From the file store: the worker that made it may have run on another host.
            thumb = rt.files.thumbnail(hit.doc_id, hit.chunk_no)
            if thumb is not None:
                st.image(thumb, width=320)
        if read is not None:
            whole = render.read_all(hit.text, read)
            said = "The model read all of this" if whole else "The model read these sentences"
            said += "" if whole else " (shaded)"
            if quotes:
                said += "; the words it quoted, found on the page, are marked in green"
            st.caption(said + ".")
        passage = render.passage_html(hit.text, terms, quotes=quotes, read=read or ())
        if view is not None and view.kind == SourceKind.TEXT:
            # Slides, Word, HTML, spreadsheets, Markdown and text: the passage in its place.
            passage = render.context_html(view.context_before, passage, view.context_after)
        st.markdown(passage, unsafe_allow_html=True)
        if citation is not None and not citation.supported:
            st.warning(
                f"Only {citation.support:.0%} of the words of the sentence citing it "
                "occur in this passage."
            )
        st.table(pd.DataFrame(render.evidence_rows(hit.evidence)), hide_index=True)


def closest_passages(rt: Runtime, answer: Answer, prefix: str) -> None:
    if not answer.closest:
        return
    st.caption("The closest passages found, none close enough to answer from:")
    terms = render.question_terms(answer.standalone_question)
    for number, hit in enumerate(answer.closest, start=1):
        source_card(rt, number, hit, None, terms, f"{prefix}-near")


def searched_for(answer: Answer, index: int) -> None:
    """The rewritten question, and a form to search for an edited one instead; ``index`` is
    the turn's place in the conversation."""
    if answer.standalone_question == answer.question:
        return
    st.caption(f"Searched for: **{render.md_escape(answer.standalone_question)}**")
    prefix = prefix_of(index)
    with st.popover("Edit and ask again"), st.form(f"{prefix}-edit", border=False):
        edited = st.text_input(
            "Search for",
            value=answer.standalone_question,
            max_chars=MAX_QUESTION_CHARS,
            key=f"{prefix}-edit-q",
        )
        if st.form_submit_button("Ask again") and edited.strip():
            st.session_state[REASK_KEY] = {
                "question": answer.question,
                "standalone": edited.strip(),
                "turn": index,
            }


def headline(answer: Answer, prefix: str) -> None:
    if not answer.text.strip():
        # Never an empty bubble, whatever went wrong on the way.
        st.info(
            "No answer text came back. Ask again; if it keeps happening, the sources below "
            "are what was found."
        )
        return
    st.markdown(
        render.cited_answer_html(answer.text, answer.citations, anchor_prefix=prefix),
        unsafe_allow_html=True,
    )


def verified_quotes(answer: Answer, prefix: str) -> None:
    """The quotes an ``llm`` answer rests on, each with where it was found and how closely."""
    seen: set[tuple[int, int, int]] = set()
    for quote in answer.quotes:
        if (quote.number, quote.start, quote.end) in seen:
            continue
        seen.add((quote.number, quote.start, quote.end))
        hit = answer.sources[quote.number - 1]
        st.markdown(
            render.quote_html(quote.text, quote.number, anchor_prefix=prefix),
            unsafe_allow_html=True,
        )
        st.caption(
            render.quote_caption(hit.file_name, hit.where, quote.score, quote.cited, row=quote.row)
        )


def unverified_reply(text: str, why: str) -> None:
    """The model's own words, collapsed and labelled: never the headline."""
    label = f"The model's reply — unverified ({why or 'not checked'})"
    with st.expander(render.md_escape(label)):
        st.markdown(render.plain_html(text, css_class="model-reply"), unsafe_allow_html=True)


def model_saw(answer: Answer) -> None:
    with st.expander("What the model saw"):
        if answer.standalone_question != answer.question:
            st.markdown(f"Rewritten question: **{render.md_escape(answer.standalone_question)}**")
        else:
            st.markdown(f"Question: **{render.md_escape(answer.standalone_question)}**")
        st.code(answer.prompt_sources, language=None, wrap_lines=True)


def prefix_of(index: int) -> str:
    """The anchor prefix of turn ``index``'s answer: "t1" for the first, so [n] links to
    "#t1-src-n"."""
    return f"t{index + 1}"


def searched_in(collection: SearchedIn | None) -> None:
    """Which collection the answer drew on, by its name when asked (None: every document)."""
    if collection is not None:
        st.caption(f"Searched in the collection **{render.md_escape(collection.name)}**.")


def show_answer(
    rt: Runtime,
    answer: Answer,
    index: int,
    *,
    stopped: bool = False,
    collection: SearchedIn | None = None,
) -> None:
    """An answer: what was searched for, the headline by mode, its checks, sources and timings.

    A ``stopped`` answer was judged on the part the model wrote before the person stopped it;
    ``collection`` is the one the search was scoped to.
    """
    prefix = prefix_of(index)
    verdict = "the answer was stopped before the model finished" if stopped else answer.verdict
    searched_for(answer, index)
    headline(answer, prefix)
    searched_in(collection)
    if answer.mode == AnswerMode.LLM:
        verified_quotes(answer, prefix)
        if answer.llm:
            st.caption(f"Written by {render.md_escape(answer.llm)}")
    elif answer.mode == AnswerMode.EXTRACT:
        st.caption(
            "An extract from your documents, not the model's words: "
            + render.md_escape(verdict or "the model's reply could not be checked")
        )
    elif answer.mode == AnswerMode.EXTRACTIVE:
        # answer.llm is set when a configured model was asked and failed.
        why = "the language model failed" if answer.llm else "no language model"
        st.caption(f"Extractive answer: the best-matching sentences, quoted ({why}).")
    if answer.model_text and answer.mode != AnswerMode.NOT_FOUND:
        unverified_reply(answer.model_text, verdict)
    if answer.unsupported_sentences:
        listed = "\n".join(f"- {render.md_escape(s)}" for s in answer.unsupported_sentences)
        st.warning("These sentences are not backed by the sources they cite:\n\n" + listed)
    if answer.notes:
        st.caption("Notes: " + " · ".join(render.md_escape(n) for n in answer.notes))
    if answer.mode == AnswerMode.NOT_FOUND:
        closest_passages(rt, answer, prefix)
        if answer.model_text:
            unverified_reply(answer.model_text, verdict)
        if answer.prompt_sources:
            model_saw(answer)
        return
    cited = {c.number: c for c in answer.citations}
    terms = render.question_terms(answer.standalone_question)
    model_read = bool(answer.llm) and answer.mode != AnswerMode.EXTRACTIVE
    for number, hit in enumerate(answer.sources, start=1):
        source_card(
            rt,
            number,
            hit,
            cited.get(number),
            terms,
            prefix,
            quotes=[(q.start, q.end) for q in answer.quotes if q.number == number],
            read=answer.excerpt_spans(number) if model_read else None,
        )
    model_saw(answer)
    latency = pd.DataFrame(render.latency_rows(answer.timings))
    if not latency.empty:
        with st.expander(render.latency_title(answer.timings)):
            st.bar_chart(latency, x="stage", y="ms", horizontal=True, sort=False, height=260)


def ask(
    rt: Runtime,
    question: str,
    options: dict[str, Any],
    history: list[tuple[str, str]],
    *,
    save: Callable[[Turn], None],
    standalone: str | None = None,
) -> Turn:
    """Stream an answer into the page with its stage and a Stop button; returns the turn
    (``question`` with what came back).

    ``save`` keeps the turn in the conversation before anything else is drawn, and also when
    the run is ended mid-answer (Stop, another click, leaving the page): then the model's
    request is cancelled, the turn saved as stopped, and the run's exception raised on.
    """
    asked = time.monotonic()
    stage, stop, live = st.empty(), st.empty(), st.empty()
    pump: ReplyPump | None = None
    try:
        stage.caption("Searching your documents…")
        stop.button("Stop", key="chat_stop", icon=":material/stop_circle:")
        slot = resources.llm_slot()
        if not slot.connected:
            stage.caption("Starting the language model (first question only)…")
        choice = slot.get()
        stage.caption("Searching your documents…")
        config = replace(
            rt.settings.retrieval,
            fusion=options["fusion"],
            rerank=options["rerank"],
            top_k=options["top_k"],
        )
        stream = resources.answerer(rt, choice).start(
            question,
            config=config,
            history=history,
            scope=options["scope"],
            standalone=standalone,
        )
        prompt_tokens = stream.timings.get("prompt_tokens")
        pump = ReplyPump(stream)
        # Not st.write_stream: it renders the text as Markdown, and an extractive answer is
        # document text, whose links and images must not come alive even while streaming.
        answer = pump.run(
            on_stage=lambda status, seconds: stage.caption(
                render.stage_text(status, seconds, prompt_tokens=prompt_tokens)
            ),
            on_text=lambda text: live.markdown(
                render.cited_answer_html(text, [], anchor_prefix="live", css_class="draft"),
                unsafe_allow_html=True,
            ),
            started=asked,
        )
    except RagError as exc:
        reply = Turn(question, error=str(exc), standalone=standalone)
    except BaseException as exc:
        # No Streamlit call from here on: the run is ending, and a call would raise again.
        try:
            partial = pump.stop() if pump is not None else None
        except Exception:
            partial = None
        draft = pump.text if pump is not None else ""
        if isinstance(exc, Exception):
            error = f"the answer failed: {exc}"
            save(Turn(question, partial, error=error, draft=draft, standalone=standalone))
        else:
            save(Turn(question, partial, stopped=True, draft=draft, standalone=standalone))
        raise
    else:
        reply = Turn(question, answer, standalone=standalone)
        slot.record_speed(answer.timings)
    save(reply)
    stage.empty()
    stop.empty()
    live.empty()
    return reply


def show_reply(rt: Runtime, turn: Turn, index: int) -> None:
    """A turn's reply: the answer, the error, or what a stop left."""
    answer = turn.answer
    if turn.stopped:
        st.caption(":material/stop_circle: Stopped before the answer was finished.")
    if answer is not None:
        show_answer(rt, answer, index, stopped=turn.stopped, collection=turn.collection)
    elif turn.error:
        st.error(f"No answer: {turn.error}")
    elif turn.stopped:
        st.info("Stopped before the model wrote anything.")
    else:
        st.info("No answer was given to this question.")
    if answer is None and turn.draft:
        unverified_reply(turn.draft, "stopped before it was checked")


def show_question(turn: Turn) -> None:
    shown, rest = render.split_long(turn.question, SHOWN_QUESTION_CHARS)
    st.markdown(render.md_escape(shown) + ("…" if rest else ""))
    if rest:
        with st.expander(f"The rest of the question ({len(rest):,} more characters)"):
            st.markdown(render.md_escape(rest))
    if turn.edited:
        st.caption("Asked again with an edited search.")


def show_turn(rt: Runtime, turn: Turn, index: int) -> None:
    """The question and its reply; ``index`` is the turn's place in the conversation."""
    with st.chat_message("user"):
        show_question(turn)
    with st.chat_message("assistant"):
        show_reply(rt, turn, index)
        thumbs(turn, index)
        turn_actions(turn, index)


def thumbs(turn: Turn, index: int) -> None:
    """Thumbs up or down for a stored answer, kept with its turn."""
    chat_id = st.session_state.get(CONVERSATION_KEY)
    if turn.answer is None or turn.position < 0 or chat_id is None:
        return
    given = None if turn.feedback is None else int(turn.feedback == Feedback.UP)
    # The conversation in the key: another's turn at the same place is another widget.
    key = f"c{chat_id}-{prefix_of(index)}-feedback"
    st.feedback("thumbs", key=key, default=given, on_change=_keep_feedback, args=(key, index))


def turn_actions(turn: Turn, index: int) -> None:
    """Copy the answer, ask the same question again, or ask an edited one.

    Regenerating or editing adds a new turn (the earlier answer stays, as in a log), read
    against the conversation as it stood before this turn.
    """
    answer = turn.answer
    if answer is None and not turn.error and not turn.stopped:
        return
    prefix = f"c{st.session_state.get(CONVERSATION_KEY)}-{prefix_of(index)}"
    copy, again, edit = st.columns([1, 1, 1.4], gap="small")
    if answer is not None and answer.text.strip():
        with copy.popover("Copy", icon=":material/content_copy:"):
            # st.code has a copy button; the Markdown keeps the [n] and the sources they name.
            st.code(conversations.answer_markdown(answer), language="markdown", wrap_lines=True)
    if again.button("Regenerate", key=f"{prefix}-again", icon=":material/refresh:"):
        st.session_state[REASK_KEY] = {"question": turn.question, "standalone": None, "turn": index}
    with (
        edit.popover("Edit question", icon=":material/edit:"),
        st.form(f"{prefix}-edit-question", border=False),
    ):
        edited = st.text_area(
            "Question", value=turn.question, max_chars=MAX_QUESTION_CHARS, key=f"{prefix}-eq"
        )
        if st.form_submit_button("Ask") and edited.strip():
            st.session_state[REASK_KEY] = {
                "question": edited.strip(),
                "standalone": None,
                "turn": index,
            }


def _keep_feedback(key: str, index: int) -> None:
    turns: list[Turn] = st.session_state.get(TURNS_KEY, [])
    chat_id = st.session_state.get(CONVERSATION_KEY)
    if chat_id is None or not 0 <= index < len(turns):
        return
    value = st.session_state.get(key)
    feedback = THUMBS.get(value) if value is not None else None
    rt = resources.runtime()
    conversations.set_feedback(
        rt.catalog, browser_session.session_id(), chat_id, turns[index].position, feedback
    )
    turns[index] = replace(turns[index], feedback=feedback)


def history_of(turns: Sequence[Turn]) -> list[tuple[str, str]]:
    """The question-and-answer pairs a follow-up is read against: answered ones only (not
    errors, stops or over-long questions)."""
    history: list[tuple[str, str]] = []
    for turn in turns:
        if turn.text and not turn.stopped and not turn.error:
            history += [("user", turn.question), ("assistant", turn.text)]
    return history


def too_long(question: str) -> str | None:
    size = len(question.strip())
    if size <= MAX_QUESTION_CHARS:
        return None
    return (
        f"This question is {size:,} characters long; please ask in at most "
        f"{MAX_QUESTION_CHARS:,}. To ask about a long text, add it on the Library page and ask "
        "about it here."
    )


def keeper(rt: Runtime) -> Callable[[Turn], Turn]:
    """How a new turn is kept: stored last in the open conversation (made now, if this is its
    first question), and returned with its position. The Streamlit calls are made here, so the
    returned function can run while a stopped run is ending."""
    session = browser_session.session_id()
    chat_id: int | None = st.session_state.get(CONVERSATION_KEY)
    if chat_id is None:
        try:
            chat_id = conversations.create(rt.catalog, session).id
        except RagError as exc:
            st.session_state[UNSAVED_KEY] = str(exc)
        else:
            st.session_state[CONVERSATION_KEY] = chat_id
            st.query_params[CONVERSATION_PARAM] = str(chat_id)

    def keep(turn: Turn) -> Turn:
        if chat_id is None:
            return turn
        try:
            stored = conversations.append(rt.catalog, session, chat_id, turn)
        except RagError as exc:  # a full disk, or the conversation deleted in another tab
            st.session_state[UNSAVED_KEY] = str(exc)
            return turn
        st.session_state.pop(UNSAVED_KEY, None)
        return stored

    return keep


def converse(
    rt: Runtime,
    turns: list[Turn],
    options: dict[str, Any],
    question: str,
    *,
    standalone: str | None = None,
    history: list[tuple[str, str]],
) -> None:
    """Ask ``question`` (searching for ``standalone`` when given), show it and its reply, and
    keep the turn in the conversation."""
    index = len(turns)
    saved = threading.Event()
    st.session_state[SAVED_KEY] = saved
    keep = keeper(rt)

    def save(turn: Turn) -> None:
        turns.append(keep(replace(turn, collection=options.get("searched_in"))))
        saved.set()

    try:
        with st.chat_message("user"):
            show_question(Turn(question, standalone=standalone))
        with st.chat_message("assistant"):
            problem = too_long(question)
            if problem is not None:
                # Refused before any search: a pasted page is not a question.
                reply = Turn(question, error=problem, standalone=standalone)
                save(reply)
            else:
                ask(rt, question, options, history, save=save, standalone=standalone)
            # As kept: with its position and the collection it searched.
            show_reply(rt, turns[index], index)
            thumbs(turns[index], index)
            turn_actions(turns[index], index)
    finally:
        if not saved.is_set():  # the run ended before the answer began: keep the question
            save(Turn(question, stopped=True, standalone=standalone))


def open_conversation(rt: Runtime, session: str, chat_id: int | None) -> None:
    """Show conversation ``chat_id`` (None: a new, empty one); one that is gone opens as new."""
    turns: list[Turn] = []
    if chat_id is not None:
        try:
            _, loaded = conversations.load(rt.catalog, session, chat_id)
            turns = list(loaded)
        except ConversationNotFound:
            chat_id = None
    st.session_state[CONVERSATION_KEY] = chat_id
    st.session_state[TURNS_KEY] = turns
    st.session_state.pop(UNSAVED_KEY, None)
    if turns:
        reselect_collection(rt, turns[-1].collection)


def reselect_collection(rt: Runtime, searched: SearchedIn | None) -> None:
    """Pick the collection a reopened conversation last searched (every document when it
    searched all, or when that collection has been deleted since). Called before the sidebar
    is drawn, or from a click's callback: a widget's value can be set only then."""
    exists = searched is not None and rt.catalog.get_collection(searched.id) is not None
    st.session_state[COLLECTION_KEY] = searched.id if exists and searched is not None else None


def open_from_address(rt: Runtime, session: str) -> None:
    """On a tab's first run, open the conversation its address names (a reload, a bookmark)."""
    if st.session_state.get(OPENED_KEY):
        return
    st.session_state[OPENED_KEY] = True
    wanted = str(st.query_params.get(CONVERSATION_PARAM, ""))
    if wanted.isdigit():
        open_conversation(rt, session, int(wanted))


def _rename(rt: Runtime, session: str, chat_id: int, key: str) -> None:
    title = str(st.session_state.get(key) or "")
    if title.strip():
        conversations.rename(rt.catalog, session, chat_id, title)


def _delete(rt: Runtime, session: str, chat_id: int) -> None:
    conversations.delete(rt.catalog, session, chat_id)
    open_conversation(rt, session, None)


def export_of(rt: Runtime, chat: conversations.Conversation, turns: Sequence[Turn]) -> str:
    """The conversation as Markdown, sources of deleted documents marked so."""
    present = {d.id for d in rt.catalog.list_documents()}
    cited = {h.doc_id for t in turns if t.answer is not None for h in t.answer.sources}
    return conversations.export_markdown(chat, turns, deleted=cited - present)


def export_name(chat: conversations.Conversation) -> str:
    slug = re.sub(r"[^\w-]+", "-", conversations.title_of(chat)).strip("-")[:60]
    return f"{slug or 'conversation'}.md"


def conversation_sidebar(rt: Runtime, session: str) -> None:
    """The sidebar's conversations: a new one, the earlier ones, and the open one's title,
    export and delete."""
    chats = conversations.list_for(rt.catalog, session)
    current = st.session_state.get(CONVERSATION_KEY)
    with st.container():  # in the sidebar's place kept for it
        st.header("Conversations")
        st.button(
            "New conversation",
            key="chat_new",
            icon=":material/add_comment:",
            on_click=open_conversation,
            args=(rt, session, None),
        )
        for chat in chats:
            st.button(
                render.md_escape(conversations.title_of(chat)),
                key=f"chat_open_{chat.id}",
                type="primary" if chat.id == current else "tertiary",
                on_click=open_conversation,
                args=(rt, session, chat.id),
            )
        opened = next((c for c in chats if c.id == current), None)
        if opened is not None:
            manage(rt, session, opened)


def manage(rt: Runtime, session: str, chat: conversations.Conversation) -> None:
    """The open conversation's title, export and delete."""
    with st.expander("This conversation", icon=":material/edit:"):
        key = f"chat_title_{chat.id}"
        st.text_input("Title", value=conversations.title_of(chat), key=key)
        st.button("Rename", key="chat_rename", on_click=_rename, args=(rt, session, chat.id, key))
        st.download_button(
            "Export as Markdown",
            data=export_of(rt, chat, st.session_state.get(TURNS_KEY, [])),
            file_name=export_name(chat),
            mime="text/markdown",
            key="chat_export",
            on_click="ignore",
            icon=":material/download:",
        )
        st.button(
            "Delete this conversation",
            key="chat_delete",
            icon=":material/delete:",
            on_click=_delete,
            args=(rt, session, chat.id),
        )


def main() -> None:
    rt = resources.runtime()
    # A stopped run may still be keeping its turn (see SAVED_KEY): wait, then draw.
    saving = st.session_state.get(SAVED_KEY)
    if saving is not None:
        saving.wait(SAVE_WAIT_SECONDS)
    session = browser_session.session_id()
    open_from_address(rt, session)
    # Above the search controls, but filled last: a conversation begun in this run is listed.
    listing = st.sidebar.container()
    options = controls(rt)
    chat_id = st.session_state.get(CONVERSATION_KEY)
    # The open conversation in the address too, so a reload opens it again.
    if chat_id is not None:
        st.query_params[CONVERSATION_PARAM] = str(chat_id)
    elif CONVERSATION_PARAM in st.query_params:
        del st.query_params[CONVERSATION_PARAM]
    st.title("Ask your documents")
    slot = resources.llm_slot()
    if slot.connected:
        st.caption(render.plain_with_addresses(slot.get().status))
    else:
        st.caption("The language model starts with your first question.")
    if not any(d.status == DocumentStatus.READY for d in rt.catalog.list_documents()):
        st.info("No document is ready yet: add some on the Library page first.")
    unsaved = st.session_state.get(UNSAVED_KEY)
    if unsaved:
        st.warning(f"The last answer is shown but could not be kept: {unsaved}")
    st.html(render.CITATION_SCRIPT, unsafe_allow_javascript=True)

    turns: list[Turn] = st.session_state.setdefault(TURNS_KEY, [])
    for i, past in enumerate(turns):
        show_turn(rt, past, i)

    question = st.chat_input("Ask a question about your documents")
    reask = st.session_state.pop(REASK_KEY, None)
    if question:
        converse(rt, turns, options, question, history=history_of(turns))
    elif reask is not None:
        converse(
            rt,
            turns,
            options,
            reask["question"],
            standalone=reask["standalone"],
            history=history_of(turns[: reask["turn"]]),
        )
    with listing:
        conversation_sidebar(rt, session)


if __name__ == "__main__":  # Streamlit runs pages as __main__; tests import the helpers
    main()
