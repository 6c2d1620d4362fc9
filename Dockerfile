# One image for every Storywire stage; docker-compose.yml picks the stage by command.
# tests/unit/test_compose.py checks this file's structure (Docker cannot run in CI).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# 1. Dependencies, before any source is copied: a code change rebuilds only the layers
#    below, not these (the lock changes only when pyproject.toml's dependencies do).
#    Everything but torch comes from the lock with its hashes (pip's hash-checking mode);
#    --no-deps because the lock is the complete set (requirements/lock.sh makes it).
COPY requirements/docker.lock requirements/torch-cpu.txt /tmp/requirements/
RUN pip install --no-deps --require-hashes -r /tmp/requirements/docker.lock
# torch from PyTorch's CPU index (its wheels carry no CUDA libraries: ~2.7 GB less than
# PyPI's). --index-url, not --extra-index-url, so that PyPI cannot supply a CUDA build.
RUN pip install --no-deps --index-url https://download.pytorch.org/whl/cpu -r /tmp/requirements/torch-cpu.txt

# 2. The code: the same package the tests install (`pip install -e .[dev]` in ./sw), built
#    with the locked setuptools, nothing fetched. `pip check` proves the set is complete.
COPY pyproject.toml README.md ./
COPY storywire ./storywire
COPY ingest ./ingest
COPY enrich ./enrich
COPY index ./index
COPY search ./search
COPY alert ./alert
COPY devtools ./devtools
RUN pip install --no-deps --no-build-isolation . && pip check

RUN useradd --create-home --uid 10001 storywire && mkdir -p /var/lib/storywire && chown storywire /var/lib/storywire
USER storywire
# The embedding model's int8 ONNX graph (STORYWIRE_MODEL_BACKEND=onnx-int8, the default) into
# this user's cache, once, here: exporting takes torch and 1.8 GB, more than the api's limit.
RUN storywire model export --backend onnx-int8

# storywire_build_info{revision=...}: `docker compose build --build-arg STORYWIRE_REVISION=$(git rev-parse --short HEAD)`
ARG STORYWIRE_REVISION=unknown
ENV STORYWIRE_REVISION=${STORYWIRE_REVISION}
VOLUME ["/var/lib/storywire"]
EXPOSE 8080 8081
ENTRYPOINT ["storywire"]
CMD ["--help"]
