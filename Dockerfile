# One image for every Storywire stage; docker-compose.yml picks the stage by command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY storywire ./storywire
COPY ingest ./ingest
COPY enrich ./enrich
COPY index ./index
COPY search ./search
COPY alert ./alert
COPY devtools ./devtools
# The same package the tests install (`pip install -e .[dev]` in ./sw), without the dev extras.
RUN pip install .

RUN useradd --create-home --uid 10001 storywire && mkdir -p /var/lib/storywire && chown storywire /var/lib/storywire
USER storywire
VOLUME ["/var/lib/storywire"]
EXPOSE 8080 8081
ENTRYPOINT ["storywire"]
CMD ["--help"]
