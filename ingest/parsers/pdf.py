"""PDF files: text per page with PDFium (OCR where a page has none), images with pypdf.

pypdf still opens the file first: its checks word every refusal (encrypted, truncated, a
cyclic page tree) and it extracts the embedded images. PDFium reads the text (pypdf's
pure-Python ``extract_text`` was a fifth of all ingestion time), finds ruled tables, and
renders pages for OCR, decoding JBIG2 scans without the jbig2dec program. A file PDFium
cannot open is read with pypdf's text alone.
"""

from __future__ import annotations

import io
import math
import re
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image
from pypdf import PageObject, PasswordType, PdfReader
from pypdf.errors import DependencyError
from pypdf.generic import DictionaryObject, IndirectObject, StreamObject

from ingest.parsers.common import Deadline, ParseLimits, short_reason, too_much_text
from ingest.parsers.detect import JPEG, PNG
from ingest.parsers.image import ImageCopies, image_copies
from ingest.parsers.ocr import OcrOptions, OcrSession, join_hyphenated
from ingest.parsers.pdf_tables import PdfTable
from ingest.parsers.pdfium_text import read_page
from ingest.parsers.text import normalize_newlines
from ragcore.errors import CorruptFile, EncryptedFile, FileTooLarge, IngestError
from ragcore.sources.pdf import page_place, printed_label
from ragcore.types import Page, PageImage, ParsedDocument, TableSpan

_EXTENSION_MIME = {".png": PNG, ".jpg": JPEG, ".jpeg": JPEG}
_MAX_WARNINGS = 20


def parse_pdf(data: bytes, *, name: str, doc_id: str, limits: ParseLimits) -> ParsedDocument:
    """Every page of the PDF, numbered from 1, with its text and its images.

    A page without a usable text layer (a scan: fewer than ``limits.ocr.min_chars``
    characters, or only invisible text, over an image) is rendered and read by OCR; when
    that fails the page is kept with empty text and a warning. An image that cannot be
    decoded, or is too large, is skipped with a warning; images smaller than
    ``limits.min_image_side`` (icons, rules) are skipped silently, and an image object drawn on
    several pages (a logo) is kept only on the first. ``PageImage.index`` is the image's position
    in ``Page.images``.

    >>> parse_pdf(pdf_bytes, name="report.pdf", doc_id="d1", limits=ParseLimits()).pages[0].number
    1
    """
    deadline = Deadline(limits.timeout_seconds, name)
    try:
        reader = _open(data, name)
        page_count = len(reader.pages)
    except IngestError:
        raise
    except DependencyError as exc:
        raise _aes_error(name) from exc
    except Exception as exc:
        raise CorruptFile(
            f"{name} is not a valid PDF ({_damage(data, exc)}); it may be truncated or damaged."
        ) from exc
    if page_count == 0:
        raise CorruptFile(
            f"{name} is not a valid PDF ({_damage(data, None)}); it may be truncated or damaged."
        )
    if page_count > limits.max_pages:
        raise FileTooLarge(
            f"{name} has {page_count:,} pages, more than the {limits.max_pages:,}-page limit; "
            "split it into smaller files."
        )

    warnings: list[str] = []
    if b"%%EOF" not in data[-2048:]:
        warnings.append(
            f"{name} seems to be cut off (it has no end-of-file marker); "
            "what could be read was kept, but some of it may be missing."
        )
    pages: list[Page] = []
    unreadable_pages = 0
    total_chars = 0
    max_chars = limits.text_chars_limit(len(data))
    seen_images: set[tuple[int, int]] = set()
    rendered = _open_pdfium(data)
    ocr = OcrSession(limits.ocr, name=name, warnings=warnings, remaining=deadline.remaining)
    continued: PdfTable | None = None
    try:
        for number in range(1, page_count + 1):
            deadline.check(f"page {number} of {page_count}")
            page = reader.pages[number - 1]
            text: str | None
            tables: tuple[TableSpan, ...] = ()
            confidence: float | None = None
            pdfium_page = _pdfium_page(rendered, number)
            try:
                if pdfium_page is None:
                    text = _page_text(page, number, name, warnings)
                else:
                    text, tables, confidence, continued = _read_pdfium_page(
                        pdfium_page, number, name, limits.ocr, ocr, warnings, continued
                    )
                if pdfium_page is not None and not (text or "").strip() and confidence is None:
                    # PDFium found no text; if pypdf cannot even decode the page's content (a
                    # decompression bomb past its output limit), the page is damaged, not blank.
                    broken = _content_error(page)
                    if broken is not None:
                        warnings.append(
                            f"The text of page {number} of {name} could not be read ({broken}); "
                            "the page was kept without text."
                        )
                        text = None
                if text is None:
                    unreadable_pages += 1
                    text = ""
                total_chars += len(text)
                if total_chars > max_chars:
                    raise too_much_text(
                        name, len(data), limits, where=f" (the limit was passed on page {number})"
                    )
                images = _page_images(
                    page, number, name, limits, warnings, seen_images, pdfium_page
                )
            finally:
                if pdfium_page is not None:
                    pdfium_page.close()
            pages.append(
                Page(
                    number=number,
                    text=text,
                    images=images,
                    tables=tables,
                    ocr_confidence=confidence,
                    label=_printed_place(rendered, number),
                )
            )
    except DependencyError as exc:
        raise _aes_error(name) from exc
    finally:
        if rendered is not None:
            rendered.close()
    if unreadable_pages == page_count:
        raise CorruptFile(
            f"{name} is not a valid PDF (the text of none of its {page_count} pages could be read); "
            "it may be damaged."
        )
    return ParsedDocument(
        doc_id=doc_id,
        name=name,
        mime="application/pdf",
        pages=tuple(pages),
        warnings=_capped(warnings),
    )


def _open_pdfium(data: bytes) -> pdfium.PdfDocument | None:
    """The document in PDFium, or None when PDFium cannot open what pypdf could."""
    try:
        return pdfium.PdfDocument(data)
    except Exception:
        return None


def _printed_place(document: pdfium.PdfDocument | None, number: int) -> str | None:
    """The place of a page printed with another number than its index in the file (front
    matter, a journal's page numbers): "page 2 (PDF page 11)", so citations name the page a
    reader sees; None ("page 11") otherwise."""
    place = page_place(number, printed_label(document, number) if document is not None else "")
    return None if place == f"page {number}" else place


def _pdfium_page(document: pdfium.PdfDocument | None, number: int) -> pdfium.PdfPage | None:
    # pypdf and PDFium may count the pages of a damaged file differently: pypdf's count rules.
    if document is None or number > len(document):
        return None
    try:
        return document[number - 1]
    except Exception:
        return None


def _read_pdfium_page(
    page: pdfium.PdfPage,
    number: int,
    name: str,
    options: OcrOptions,
    ocr: OcrSession,
    warnings: list[str],
    continued: PdfTable | None,
) -> tuple[str | None, tuple[TableSpan, ...], float | None, PdfTable | None]:
    """Text, tables, OCR confidence (None: text layer) and the last table, for the next page."""
    try:
        read, last = read_page(page, continued=continued)
    except Exception as exc:
        warnings.append(
            f"The text of page {number} of {name} could not be read ({short_reason(exc)}); "
            "the page was kept without text."
        )
        return None, (), None, None
    usable = len(read.text.strip()) >= options.min_chars and not read.invisible_text
    if usable or not read.images or not ocr.enabled:
        return read.text, read.tables, None, last
    image, dpi = _render(page, options)
    result = ocr.read(image, page=number, dpi=dpi)
    if result is None:
        return read.text, read.tables, None, last
    if not result.text.strip() and read.text.strip():
        return read.text, read.tables, None, last  # OCR found nothing: keep the little there was
    return join_hyphenated(result.text), (), result.confidence, None


def _render(page: pdfium.PdfPage, options: OcrOptions) -> tuple[Image.Image, int]:
    """The page as a greyscale image at ``options.dpi``, smaller if it would pass max_pixels."""
    width, height = page.get_size()
    scale = options.dpi / 72
    if width * height * scale * scale > options.max_pixels:
        scale = math.sqrt(options.max_pixels / max(width * height, 1.0))
    image = page.render(scale=scale, grayscale=True).to_pil()
    return image, max(1, round(scale * 72))


def _capped(warnings: list[str]) -> tuple[str, ...]:
    # A damaged 2,000-page file can warn on every page; a person reads the first few.
    if len(warnings) <= _MAX_WARNINGS:
        return tuple(warnings)
    rest = len(warnings) - _MAX_WARNINGS
    return (*warnings[:_MAX_WARNINGS], f"… and {rest} more warnings like these.")


def _open(data: bytes, name: str) -> PdfReader:
    # strict=False reads the many slightly-broken PDFs real tools write; the zero-page check
    # in parse_pdf keeps a cut-off file from passing as an empty document.
    reader = PdfReader(io.BytesIO(data), strict=False)
    if not reader.is_encrypted:
        return reader
    try:
        # Many PDFs are encrypted only to restrict printing or copying: their user password is
        # empty and anyone may open them.
        unlocked = reader.decrypt("")
    except NotImplementedError as exc:
        raise EncryptedFile(
            f"{name} is encrypted in a way this app cannot open ({short_reason(exc)}); "
            "save an unencrypted copy and upload that."
        ) from exc
    if unlocked == PasswordType.NOT_DECRYPTED:
        raise EncryptedFile(
            f"{name} is password-protected; save a copy without the password and upload that."
        )
    return reader


def _needs_crypto(exc: DependencyError) -> bool:
    # pypdf raises DependencyError both for AES without 'cryptography' and for image decoders
    # (jbig2dec) it cannot find; only the first makes the whole file unreadable.
    message = str(exc)
    return "cryptography" in message or "AES" in message


def _aes_error(name: str) -> EncryptedFile:
    return EncryptedFile(
        f"{name} is encrypted with AES, which this installation cannot decrypt "
        "(the Python package 'cryptography' is missing); save an unencrypted copy and upload that."
    )


def _damage(data: bytes, exc: Exception | None) -> str:
    """What is wrong with an unreadable PDF, in words."""
    tail = data[-2048:]
    if b"startxref" not in tail:
        return "it ends before its cross-reference table"
    if b"%%EOF" not in tail:
        return "it has no end-of-file marker"
    if exc is None:
        return "no pages were found in it"
    return f"its structure could not be read: {short_reason(exc)}"


def _page_text(page: PageObject, number: int, name: str, warnings: list[str]) -> str | None:
    """The page's text with ``\\n`` newlines, "" for a page without a text layer, None on failure."""
    try:
        text = page.extract_text()
    except DependencyError:
        raise
    except Exception as exc:
        warnings.append(
            f"The text of page {number} of {name} could not be read ({short_reason(exc)}); "
            "the page was kept without text."
        )
        return None
    return normalize_newlines(text).replace("\x00", "")


def _page_images(
    page: PageObject,
    number: int,
    name: str,
    limits: ParseLimits,
    warnings: list[str],
    seen: set[tuple[int, int]],
    rendered: pdfium.PdfPage | None = None,
) -> tuple[PageImage, ...]:
    if limits.max_images_per_page == 0:
        return ()
    content = _raw_content(page)
    try:
        image_ids = _image_ids(page, content)
    except DependencyError:
        raise
    except Exception as exc:
        warnings.append(
            f"The images on page {number} of {name} could not be listed ({short_reason(exc)}); "
            "its text was kept."
        )
        return ()

    drawn = None if content is None else _drawn_names(content)
    kept: list[PageImage] = []
    for image_id in image_ids:
        inline = isinstance(image_id, str) and image_id.startswith("~")
        top_name = image_id if isinstance(image_id, str) else image_id[0]
        if not inline and drawn is not None and top_name not in drawn:
            continue  # in the page's resources (often shared by all pages) but not drawn here
        declared = _declared_image(page, image_id)
        if declared is not None:
            # Decide from the image's dictionary before pypdf decodes it: a 100,000 x 100,000
            # image must be refused before its pixels are in memory.
            width, height, ref = declared
            if ref is not None and ref in seen:
                continue
            if min(width, height) < limits.min_image_side:
                continue
            if width * height > limits.max_image_pixels:
                warnings.append(_too_many_pixels(name, number, width, height, limits))
                continue
        if len(kept) == limits.max_images_per_page:
            warnings.append(
                f"Page {number} of {name} has more than {limits.max_images_per_page} images; "
                f"only the first {limits.max_images_per_page} were kept."
            )
            break
        if declared is not None and declared[2] is not None:
            seen.add(declared[2])  # also when decoding fails below: one warning per image
        try:
            image_file = _image_file(page, image_id)
            img = image_file.image
            if img is None:
                raise ValueError("pypdf returned no pixels")
            width, height = img.size
            if min(width, height) < limits.min_image_side:
                continue
            if width * height > limits.max_image_pixels:
                warnings.append(_too_many_pixels(name, number, width, height, limits))
                continue
            suffix = image_file.name[image_file.name.rfind(".") :].lower()
            raw_mime = _EXTENSION_MIME.get(suffix, "")
            copies = image_copies(img, image_file.data, raw_mime)
        except DependencyError as exc:
            if _needs_crypto(exc):
                raise
            # A JBIG2 scan: pypdf needs the jbig2dec program, PDFium decodes it itself.
            decoded = _pdfium_image(rendered, declared) if declared is not None else None
            if decoded is not None:
                width, height = decoded.size
                kept.append(
                    _page_image(number, len(kept), image_copies(decoded, b"", ""), width, height)
                )
                continue
            # A decoder pypdf calls out to (jbig2dec for scanned pages, say) is not installed:
            # that image is lost, the rest of the document is not.
            warnings.append(
                f"An image on page {number} of {name} was skipped: decoding it needs a program "
                f"this installation lacks ({short_reason(exc)})."
            )
            continue
        except Exception as exc:
            warnings.append(
                f"An image on page {number} of {name} could not be decoded and was skipped "
                f"({short_reason(exc)})."
            )
            continue
        kept.append(_page_image(number, len(kept), copies, width, height))
    return tuple(kept)


_DO_OPERATOR = re.compile(rb"/([^\s/\[\]()<>{}%]+)\s*Do(?![^\s/\[\]()<>{}%])")
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_INLINE_IMAGE = re.compile(rb"(?:^|\s)BI\s")
_MAX_FORM_DEPTH = 8


def _raw_content(page: PageObject) -> bytes | None:
    """The page's decoded content stream, b"" for an empty page, None when it cannot be read."""
    try:
        contents = page.get_contents()
        return b"" if contents is None else contents.get_data()
    except DependencyError:
        raise
    except Exception:
        return None


def _content_error(page: PageObject) -> str | None:
    """Why pypdf cannot decode the page's content stream, or None when it can."""
    try:
        contents = page.get_contents()
        if contents is not None:
            contents.get_data()
    except DependencyError:
        raise
    except Exception as exc:
        return short_reason(exc)
    return None


def _image_ids(page: PageObject, content: bytes | None) -> list[Any]:
    """The page's image ids as ``page.images`` takes them, listed without tokenising the content.

    ``page.images.keys()`` parses the whole content stream to find inline images, which
    doubles the time of reading a text-heavy PDF; the resources give the XObject images
    directly, and the content is parsed only when it has an inline image (``BI``) in it.
    """
    if content is None:
        return list(page.images.keys())
    ids: list[Any] = []
    _collect_xobject_images(page, [], ids, depth=0)
    if _INLINE_IMAGE.search(content):
        listed = page.images.keys()  # iterating page.images itself would decode every image
        ids.extend(k for k in listed if isinstance(k, str) and k.startswith("~"))
    return ids


def _image_file(page: PageObject, image_id: Any) -> Any:
    """pypdf's image by id, without ``page.images[id]``'s listing of every image first.

    That listing tokenises the whole content stream in pure Python (to find inline images) on
    every lookup (2.4 of the 20 CPU seconds of parsing the shared PDFs). An XObject image is
    fetched from the resources directly; an inline image (``~0~``) needs the listing anyway.
    """
    if isinstance(image_id, str) and image_id.startswith("~"):
        return page.images[image_id]
    return page.images.get_function(image_id)


def _collect_xobject_images(holder: Any, ancestors: list[str], ids: list[Any], depth: int) -> None:
    resources = holder.get("/Resources")
    resources = resources.get_object() if resources is not None else None
    if not isinstance(resources, DictionaryObject):
        return
    xobjects = resources.get("/XObject")
    xobjects = xobjects.get_object() if xobjects is not None else None
    if not isinstance(xobjects, DictionaryObject):
        return
    for name in xobjects:
        entry = xobjects[name].get_object()
        if not isinstance(entry, StreamObject):
            continue
        subtype = entry.get("/Subtype")
        if subtype == "/Image":
            ids.append(name if not ancestors else [*ancestors, name])
        elif subtype == "/Form" and depth < _MAX_FORM_DEPTH:
            # Forms may draw images of their own (and forms may nest, even in loops).
            _collect_xobject_images(entry, [*ancestors, name], ids, depth + 1)


def _drawn_names(content: bytes) -> set[str]:
    """Names of the XObjects a content stream draws ("/Im0").

    A scan of the raw content for ``/Name Do``, so images that are never drawn are skipped
    without decoding them; a stray match inside a string only keeps an image, never drops one.
    """
    names: set[str] = set()
    for match in _DO_OPERATOR.finditer(content):
        name = _NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), match.group(1))
        try:
            names.add("/" + name.decode("utf-8"))
        except UnicodeDecodeError:
            names.add("/" + name.decode("latin-1"))
    return names


def _declared_image(
    page: PageObject, image_id: Any
) -> tuple[int, int, tuple[int, int] | None] | None:
    """Width, height and object reference from an image's dictionary, without decoding it.

    None for inline images (pypdf decodes those while listing them; the PDF format keeps
    them small) and for dictionaries too broken to tell.
    """
    if isinstance(image_id, str) and image_id.startswith("~"):
        return None
    path = [image_id] if isinstance(image_id, str) else list(image_id)
    try:
        holder: Any = page
        ref: object = None
        for part in path:
            xobjects = holder["/Resources"].get_object()["/XObject"].get_object()
            ref = xobjects.raw_get(part)
            holder = xobjects[part].get_object()
        width, height = int(holder["/Width"]), int(holder["/Height"])
    except Exception:
        return None
    key = (ref.idnum, ref.generation) if isinstance(ref, IndirectObject) else None
    return width, height, key


def _pdfium_image(
    rendered: pdfium.PdfPage | None, declared: tuple[int, int, tuple[int, int] | None]
) -> Image.Image | None:
    """The image of that pixel size on the page, decoded by PDFium; None if not found or failed."""
    if rendered is None:
        return None
    width, height, _ = declared
    try:
        for obj in rendered.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2):
            if isinstance(obj, pdfium.PdfImage) and tuple(obj.get_px_size()) == (width, height):
                return obj.get_bitmap(render=False).to_pil().copy()
    except Exception:
        return None
    return None


def _page_image(number: int, index: int, copies: ImageCopies, width: int, height: int) -> PageImage:
    return PageImage(
        page=number,
        index=index,
        data=copies.data,
        mime=copies.mime,
        width=width,
        height=height,
        thumbnail=copies.thumbnail,
    )


def _too_many_pixels(name: str, number: int, width: int, height: int, limits: ParseLimits) -> str:
    return (
        f"An image on page {number} of {name} is {width:,} x {height:,} pixels, more than the "
        f"{limits.max_image_pixels / 1e6:g}-megapixel limit; it was skipped."
    )
