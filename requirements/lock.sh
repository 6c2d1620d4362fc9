#!/bin/sh
# Regenerates requirements/docker.lock, the image's dependencies with their hashes, for
# CPython 3.11 on linux x86_64 (python:3.11-slim, Debian bookworm: glibc 2.36), without
# torch and its CUDA libraries (the image takes torch from PyTorch's CPU index).
# Run it after changing pyproject.toml's dependencies (tests/unit/test_compose.py fails
# until the lock matches). Needs uv (`pip install uv`). Extra arguments go to uv, e.g.
# `requirements/lock.sh --constraints constraints.txt` to lock the versions the tests ran.
set -eu
cd "$(dirname "$0")/.."
exec uv pip compile pyproject.toml requirements/build.in \
  --generate-hashes \
  --python-version 3.11 --python-platform x86_64-manylinux_2_36 \
  --excludes requirements/cpu-excludes.txt --no-emit-package torch \
  --custom-compile-command "requirements/lock.sh" \
  --output-file requirements/docker.lock "$@"
