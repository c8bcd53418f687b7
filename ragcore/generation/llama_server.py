"""``python -m ragcore.generation.llama_server``: llama-cpp-python's server, safe on AMX CPUs.

llama.cpp's CPU backend offers "extra buffer types" for weights: Intel AMX tiles and
repacked layouts. On the virtual machines this project is built and tested on (Sapphire
Rapids guests reporting ``amx_tile``), the AMX path crashes the server in ``llama_decode``
on the first prompt longer than one token: every answer fails with a dropped connection.
Turning the extra buffers off (llama.cpp's ``--no-repack``; llama-cpp-python does not expose
it) costs some prompt speed and keeps the server alive, so it is off where AMX is present.

Arguments are the ``llama_cpp.server`` ones, plus ``--extra-buffers on|off|auto`` (default
auto: off on a CPU that reports AMX).
"""

from __future__ import annotations

import runpy
import sys
from collections.abc import Sequence
from pathlib import Path

EXTRA_BUFFERS_CHOICES = ("auto", "on", "off")
_AMX_FLAGS = frozenset({"amx_tile", "amx_int8", "amx_bf16"})


def cpu_has_amx(cpuinfo: str | None = None) -> bool:
    """Whether the CPU reports an AMX flag (Linux /proc/cpuinfo; other systems: no)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        if line.startswith("flags") and _AMX_FLAGS & set(line.partition(":")[2].split()):
            return True
    return False


def use_extra_buffers(choice: str, *, has_amx: bool) -> bool:
    if choice not in EXTRA_BUFFERS_CHOICES:
        raise ValueError(f"--extra-buffers must be one of {', '.join(EXTRA_BUFFERS_CHOICES)}")
    return choice == "on" or (choice == "auto" and not has_amx)


def split_args(argv: Sequence[str]) -> tuple[str, list[str]]:
    """Take ``--extra-buffers X`` out of ``argv``; the rest goes to llama_cpp.server."""
    choice, rest = "auto", []
    args = iter(argv)
    for arg in args:
        if arg == "--extra-buffers":
            choice = next(args, "")
        elif arg.startswith("--extra-buffers="):
            choice = arg.partition("=")[2]
        else:
            rest.append(arg)
    return choice, rest


def disable_extra_buffers() -> None:
    """Make every model llama_cpp loads from now on skip the extra buffer types."""
    import llama_cpp
    import llama_cpp.llama_cpp as bindings

    default_params = bindings.llama_model_default_params

    def without_extra_buffers() -> bindings.llama_model_params:
        params = default_params()
        params.use_extra_bufts = False
        return params

    # Llama() looks the function up on the bindings module at call time; the package
    # re-exports it too.
    bindings.llama_model_default_params = without_extra_buffers
    llama_cpp.llama_model_default_params = without_extra_buffers


def main(argv: Sequence[str] | None = None) -> None:
    choice, rest = split_args(sys.argv[1:] if argv is None else argv)
    try:
        extra = use_extra_buffers(choice, has_amx=cpu_has_amx())
    except ValueError as exc:
        sys.exit(str(exc))
    if not extra:
        disable_extra_buffers()
    print(f"llama.cpp extra buffer types: {'on' if extra else 'off'}", file=sys.stderr)
    sys.argv = ["llama_cpp.server", *rest]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
