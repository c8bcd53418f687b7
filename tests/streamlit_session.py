"""A browser-less session with a real ``streamlit run`` process: run a page, read what it drew.

Streamlit's browser talks to the server over one websocket (``/_stcore/stream``) in protobuf:
the browser sends a ``BackMsg`` asking to run a page; the server runs the script and sends a
``ForwardMsg`` per element drawn, then ``script_finished``. Speaking that protocol directly
shows what a process started with its own settings (a real catalog, a real store) renders,
without Chromium.

>>> page = run_pages(url, ["Library", "System"])["System"]
>>> page.texts          # headings, captions, markdown, alerts, in the order drawn
>>> page.errors         # st.error bodies and exceptions the script raised
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg


@dataclass
class DrawnPage:
    """What one run of a page drew: its texts, its errors, and every element's raw bytes."""

    texts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    raw: bytes = b""  # tables travel as Arrow data: a name is found in these bytes

    def shows(self, text: str) -> bool:
        return any(text in t for t in self.texts) or text.encode() in self.raw


def _take(message: ForwardMsg, page: DrawnPage) -> None:
    if message.delta.WhichOneof("type") != "new_element":
        return
    element = message.delta.new_element
    kind = element.WhichOneof("type")
    if kind is None:
        return
    node = getattr(element, kind)
    page.raw += node.SerializeToString()
    if kind == "exception":
        page.errors.append(f"{node.type}: {node.message}")
        return
    if kind == "metric":
        page.texts.append(f"{node.label}: {node.body}")
        return
    for attribute in ("body", "label", "text"):
        value = getattr(node, attribute, None)
        if isinstance(value, str) and value:
            page.texts.append(value)
            if kind == "alert" and node.format == node.ERROR:
                page.errors.append(value)
            return


async def _run(url: str, names: Sequence[str], seconds: float) -> dict[str, DrawnPage]:
    stream = url.replace("http://", "ws://", 1).rstrip("/") + "/_stcore/stream"
    drawn: dict[str, DrawnPage] = {}
    hashes: dict[str, str] = {}
    async with websockets.connect(stream, subprotocols=["streamlit"], max_size=None) as socket:  # type: ignore[list-item]
        for name in ("", *names):  # "" first: the default page, which also lists the pages
            if name and name not in hashes:
                raise AssertionError(f"the app has no page {name!r}; it has {sorted(hashes)}")
            request = BackMsg()
            request.rerun_script.query_string = ""
            request.rerun_script.page_script_hash = hashes.get(name, "")
            request.rerun_script.page_name = name
            await socket.send(request.SerializeToString())
            page = DrawnPage()
            while True:
                message = ForwardMsg()
                message.ParseFromString(await asyncio.wait_for(socket.recv(), seconds))
                kind = message.WhichOneof("type")
                if kind == "navigation":
                    hashes.update(
                        (p.page_name, p.page_script_hash) for p in message.navigation.app_pages
                    )
                elif kind == "delta":
                    _take(message, page)
                elif kind == "script_finished":
                    break
            if name:
                drawn[name] = page
    return drawn


def run_pages(url: str, names: Sequence[str], *, seconds: float = 120.0) -> dict[str, DrawnPage]:
    """Open a session with the app at ``url`` and run each named page in turn (as clicking it
    in the sidebar does); ``seconds``: the longest wait for any one message."""
    return asyncio.run(_run(url, names, seconds))
