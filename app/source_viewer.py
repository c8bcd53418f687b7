"""A source card's view of the passage where it is: the PDF page with the passage marked, with
zoom, page turning and the original file; or the text around it (ragcore.sources draws both)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import streamlit as st

from app import render
from ragcore.catalog.backend import CatalogBackend
from ragcore.errors import DocumentDeleted, SourceUnavailable
from ragcore.files import FileStore
from ragcore.runtime import Runtime
from ragcore.sources import SourceKind, SourceRenderer, SourceView
from ragcore.sources.ocr import TesseractWords
from ragcore.types import Hit

# Zoom choices: None fits the card (rendered at 1.5 for sharpness); a number is the render
# scale, shown at its own size in a box that scrolls (1.0 = 72 pixels per inch).
ZOOMS: dict[str, float | None] = {"Fit": None, "100%": 1.0, "150%": 1.5, "200%": 2.0, "300%": 3.0}
FIT_SCALE = 1.5


@st.cache_resource(show_spinner=False)
def _renderer(
    _catalog: CatalogBackend, _files: FileStore, data_dir: str, ocr_language: str, ocr_dpi: int
) -> SourceRenderer:
    # One per library and process: it keeps the views it drew, so the reruns of a page with
    # open cards cost nothing.
    return SourceRenderer(
        _catalog,
        data_dir=Path(data_dir),
        ocr=TesseractWords(language=ocr_language),
        ocr_dpi=ocr_dpi,
        files=_files,
    )


def renderer(rt: Runtime) -> SourceRenderer:
    settings = rt.settings
    return _renderer(
        rt.catalog, rt.files, str(settings.data_dir), settings.ocr_language, settings.ocr_dpi
    )


def show_source(
    rt: Runtime, hit: Hit, quotes: Sequence[tuple[int, int]], key: str
) -> SourceView | None:
    """Draw a PDF passage's page (with its controls) and return the view; None when the source
    cannot be shown, which is said in the card (a document deleted since the answer)."""
    page_key, zoom_key = f"{key}-page", f"{key}-zoom"
    zoom = ZOOMS.get(str(st.session_state.get(zoom_key) or "Fit"))
    try:
        view = renderer(rt).render(
            hit.point_id,
            scale=zoom or FIT_SCALE,
            quotes=quotes,
            page=st.session_state.get(page_key),
            doc_id=hit.doc_id,
            end=hit.end,
        )
    except DocumentDeleted:
        st.info(f"Document deleted: {hit.file_name} is no longer in the library.")
        return None
    except SourceUnavailable as exc:
        st.info(render.md_escape(str(exc)))
        return None
    if view.kind == SourceKind.PAGE and view.image is not None:
        _page(view, page_key, zoom_key, zoom)
    return view


def _page(view: SourceView, page_key: str, zoom_key: str, zoom: float | None) -> None:
    def turn(to: int | None) -> None:
        st.session_state[page_key] = to

    back, forward, where, scale = st.columns([1, 1, 3, 3], vertical_alignment="center")
    back.button(
        "◀",
        key=f"{page_key}-back",
        help="previous page",
        disabled=view.shown_page <= 1,
        on_click=turn,
        args=(view.shown_page - 1,),
    )
    forward.button(
        "▶",
        key=f"{page_key}-next",
        help="next page",
        disabled=view.shown_page >= view.page_count,
        on_click=turn,
        args=(view.shown_page + 1,),
    )
    where.caption(f"{render.md_escape(view.page_label)} of {view.page_count}")
    scale.segmented_control(
        "Zoom", list(ZOOMS), default="Fit", key=zoom_key, label_visibility="collapsed"
    )
    if view.shown_page != view.page:
        st.button(
            f"Back to the passage ({render.md_escape(view.location)})",
            key=f"{page_key}-home",
            on_click=turn,
            args=(None,),
        )
    elif view.highlighted:
        marks = f"The passage is marked in yellow{_whereabouts(view)}"
        marks += "; the words the answer quoted in green" if view.quoted else ""
        how = " (found by OCR on this scanned page)" if view.found_by == "OCR" else ""
        st.caption(f"{marks}{how}.")
    else:
        st.caption("The passage could not be located on the rendered page to mark it.")
    width = None if zoom is None else _png_size(view.image or b"")[0]
    alt = f"{view.page_label} of {view.file_name}"
    html = render.page_image_html(view.image or b"", alt=alt, width=width, focus=_focus(view))
    st.markdown(html, unsafe_allow_html=True)
    if view.file_path is not None:
        path = view.file_path
        st.download_button(
            "Download the original file",
            data=path.read_bytes,
            file_name=view.file_name,
            mime="application/pdf",
            key=f"{page_key}-download",
            icon=":material/download:",
            on_click="ignore",
        )


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header (IHDR, bytes 16–24), without decoding it."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _focus(view: SourceView) -> float | None:
    """The top of the passage's marks as a share of the page's height; None when unmarked."""
    height = _png_size(view.image or b"")[1]
    if not view.marks or height <= 0:
        return None
    return min(box[1] for box in view.marks) / height


def _whereabouts(view: SourceView) -> str:
    """ " at the top of the page", " in the middle …", " near the bottom …" for the passage."""
    top = _focus(view)
    if top is None:
        return ""
    if top < 0.33:
        return " at the top of the page"
    return " in the middle of the page" if top < 0.66 else " near the bottom of the page"
