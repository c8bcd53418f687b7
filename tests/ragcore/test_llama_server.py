"""The llama.cpp server wrapper: when extra CPU buffers are turned off, and that they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragcore.generation import llama_server
from ragcore.generation.local import LocalLLMServer

AMX_CPUINFO = "processor\t: 0\nflags\t\t: fpu sse avx512f amx_bf16 amx_tile amx_int8\n"
PLAIN_CPUINFO = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f\n"


def test_amx_is_read_from_the_flags_line_only() -> None:
    assert llama_server.cpu_has_amx(AMX_CPUINFO)
    assert not llama_server.cpu_has_amx(PLAIN_CPUINFO)
    assert not llama_server.cpu_has_amx("model name\t: amx_tile lookalike\n")


@pytest.mark.parametrize(
    ("choice", "has_amx", "expected"),
    [
        ("auto", True, False),
        ("auto", False, True),
        ("on", True, True),
        ("off", False, False),
    ],
)
def test_auto_turns_extra_buffers_off_only_on_amx(
    choice: str, has_amx: bool, expected: bool
) -> None:
    assert llama_server.use_extra_buffers(choice, has_amx=has_amx) is expected


def test_an_unknown_choice_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="auto, on, off"):
        llama_server.use_extra_buffers("maybe", has_amx=False)
    with pytest.raises(ValueError, match="extra_buffers must be one of"):
        LocalLLMServer(Path("x.gguf"), extra_buffers="maybe")


def test_the_wrapper_takes_its_own_flag_and_passes_the_rest_on() -> None:
    choice, rest = llama_server.split_args(
        ["--model", "m.gguf", "--extra-buffers", "off", "--port", "9"]
    )
    assert (choice, rest) == ("off", ["--model", "m.gguf", "--port", "9"])
    assert llama_server.split_args(["--extra-buffers=on"]) == ("on", [])
    assert llama_server.split_args(["--n_ctx", "2048"]) == ("auto", ["--n_ctx", "2048"])


def test_disabling_makes_new_model_params_skip_extra_buffers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bindings = pytest.importorskip("llama_cpp.llama_cpp")
    import llama_cpp

    monkeypatch.setattr(bindings, "llama_model_default_params", bindings.llama_model_default_params)
    monkeypatch.setattr(
        llama_cpp, "llama_model_default_params", llama_cpp.llama_model_default_params
    )
    assert bindings.llama_model_default_params().use_extra_bufts is True
    llama_server.disable_extra_buffers()
    assert bindings.llama_model_default_params().use_extra_bufts is False
    assert llama_cpp.llama_model_default_params().use_extra_bufts is False
