"""A tiny BEIR-format folder written on the spot, for tests of anything that reads one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

# Each query's words appear in its one relevant document only, so BM25 ranks it first.
TINY_CORPUS = {
    "d1": ("Zebra stripes", "Zebra stripes confuse biting flies on the open savanna grassland."),
    "d2": ("Volcanoes", "Basalt lava erupts from shield volcanoes in gentle effusive flows."),
    "d3": ("Entanglement", "Entangled photon pairs violate Bell inequalities in optics labs."),
    "d4": ("Bread", "Sourdough bread rises slowly with wild yeast and lactic bacteria."),
    "d5": ("Tides", "Ocean tides follow the pull of the moon and the sun each day."),
    "d6": ("Glaciers", "Alpine glaciers retreat as summers warm and winter snow thins."),
}
TINY_QUERIES = {
    "q1": "why do zebras have stripes against flies",
    "q2": "basalt lava effusive eruption",
    "q3": "photon entanglement bell inequality",
    "q4": "what makes sourdough rise",  # not judged in the test split
}
TINY_QRELS = {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 2}}
# As in NFCorpus: one title and text under two ids, each judged on its own by the qrels. q1
# judges only the second copy, q2 both.
TWIN_CORPUS = {**TINY_CORPUS, "d7": TINY_CORPUS["d1"], "d8": TINY_CORPUS["d2"]}
TWIN_QRELS = {"q1": {"d7": 1}, "q2": {"d2": 1, "d8": 1}, "q3": {"d3": 2}}


def write_beir_folder(
    folder: Path,
    corpus: Mapping[str, tuple[str, str]] = TINY_CORPUS,
    queries: Mapping[str, str] = TINY_QUERIES,
    qrels: Mapping[str, Mapping[str, int]] = TINY_QRELS,
    *,
    split: str = "test",
) -> Path:
    """Write ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv`` into ``folder``.

    >>> data = load_beir(write_beir_folder(tmp_path / "tiny"), "test")
    >>> sorted(data.queries)
    ['q1', 'q2', 'q3']
    """
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for doc_id, (title, text) in corpus.items():
            out.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as out:
        for query_id, text in queries.items():
            out.write(json.dumps({"_id": query_id, "text": text}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"]
    lines += [f"{q}\t{d}\t{g}" for q, rels in qrels.items() for d, g in rels.items()]
    (folder / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
