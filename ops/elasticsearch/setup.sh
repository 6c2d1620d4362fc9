#!/usr/bin/env bash
# One-shot setup of the compose deployment's Elasticsearch: the `setup` service of
# docker-compose.yml runs it once with the elastic superuser (as the `setup` service of
# Elastic's own docker-compose example sets kibana_system's password), so that no stage
# ever connects as a superuser:
#
#   role + user storywire_writer  the index stage: create and manage its indices and aliases, write, read
#   role + user storywire_reader  the API: search and read mappings
#   kibana_system's password      what Kibana connects as (only when KIBANA_PASSWORD is set)
#   snapshot repository storywire type fs at path.repo (the es-snapshots volume)
#   SLM policy storywire-nightly  a snapshot of the storywire indices every night, kept 30 days
#
# Every request overwrites what is there, so running it again (a changed password) is safe.
# Passwords are JSON-escaped here; tests/unit/test_es_setup.py runs this script against a
# recording HTTP server (the local stack's Elasticsearch cannot hold native users).
set -euo pipefail

: "${ELASTIC_PASSWORD:?set ELASTIC_PASSWORD}"
: "${STORYWIRE_ES_WRITER_PASSWORD:?set STORYWIRE_ES_WRITER_PASSWORD}"
: "${STORYWIRE_ES_READER_PASSWORD:?set STORYWIRE_ES_READER_PASSWORD}"
es="${ES_URL:-http://elasticsearch:9200}"
indices="${STORYWIRE_INDEX_PATTERN:-storywire-*}"
repo_path="${STORYWIRE_SNAPSHOT_PATH:-/usr/share/elasticsearch/snapshots}"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

json() {  # a JSON string literal of $1
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

call() {  # METHOD PATH BODY: fails on anything but a 2xx
  local code
  code=$(curl -sS -o "$out" -w '%{http_code}' -u "elastic:${ELASTIC_PASSWORD}" \
    -H 'Content-Type: application/json' -X "$1" "${es}$2" --data-binary "$3") || code=000
  if [ "$code" -lt 200 ] || [ "$code" -ge 300 ]; then
    echo "setup: $1 $2 answered $code: $(head -c 500 "$out")" >&2
    return 1
  fi
  echo "setup: $1 $2 ok"
}

for _ in $(seq 60); do  # compose waits for the health check; this covers a manual run
  if curl -fsS -o /dev/null -u "elastic:${ELASTIC_PASSWORD}" "${es}/_cluster/health?wait_for_status=yellow&timeout=5s"; then
    break
  fi
  sleep 5
done

call PUT /_security/role/storywire_writer \
  "{\"cluster\": [\"monitor\"], \"indices\": [{\"names\": [$(json "$indices")], \"privileges\": [\"manage\", \"write\", \"read\", \"view_index_metadata\"]}]}"
call PUT /_security/role/storywire_reader \
  "{\"cluster\": [\"monitor\"], \"indices\": [{\"names\": [$(json "$indices")], \"privileges\": [\"read\", \"view_index_metadata\"]}]}"
call PUT /_security/user/storywire_writer \
  "{\"password\": $(json "$STORYWIRE_ES_WRITER_PASSWORD"), \"roles\": [\"storywire_writer\"], \"full_name\": \"Storywire index writer\"}"
call PUT /_security/user/storywire_reader \
  "{\"password\": $(json "$STORYWIRE_ES_READER_PASSWORD"), \"roles\": [\"storywire_reader\"], \"full_name\": \"Storywire API\"}"
if [ -n "${KIBANA_PASSWORD:-}" ]; then
  call POST /_security/user/kibana_system/_password "{\"password\": $(json "$KIBANA_PASSWORD")}"
fi
call PUT /_snapshot/storywire "{\"type\": \"fs\", \"settings\": {\"location\": $(json "$repo_path")}}"
call PUT /_slm/policy/storywire-nightly \
  "{\"schedule\": \"0 30 1 * * ?\", \"name\": \"<storywire-{now/d}>\", \"repository\": \"storywire\", \"config\": {\"indices\": [$(json "$indices")]}, \"retention\": {\"expire_after\": \"30d\", \"min_count\": 5, \"max_count\": 60}}"
echo "setup: done"
