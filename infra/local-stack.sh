#!/usr/bin/env bash
# The development stack on 127.0.0.1: PostgreSQL (MLflow's backend store), an S3-compatible server (moto, from
# the venv) with the buckets `mlflow` and `dvc`, and an MLflow tracking server that proxies artifacts to s3://mlflow.
# The same shape as infra/k8s/ (PostgreSQL + object store + MLflow), without a cluster.
#
# Usage: infra/local-stack.sh [start|stop|status|env|help]
#   start   start what is not running (idempotent), then print the variables to export
#   stop    stop what this script started (by the pids it recorded; idempotent)
#   status  one line per service; exit 0 when all run, 3 when any does not
#   env     only the export lines:  eval "$(infra/local-stack.sh env)"
# Settings (environment): LOCAL_STACK_DIR (state, logs, PostgreSQL data; default .cache/local-stack),
#   LOCAL_STACK_PG_PORT (5433), LOCAL_STACK_S3_PORT (9000), LOCAL_STACK_MLFLOW_PORT (5000),
#   LOCAL_STACK_PG_OSUSER (the unprivileged user PostgreSQL runs as when this runs as root; default postgres,
#   else nobody), LOCAL_STACK_VENV (the venv's bin folder; default .venv/bin).
# Credentials are fixed development values for 127.0.0.1 only. moto keeps objects in memory: they are gone after
# `stop` (PostgreSQL data stays under LOCAL_STACK_DIR/postgres).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${LOCAL_STACK_DIR:-$ROOT/.cache/local-stack}
VENV_BIN=${LOCAL_STACK_VENV:-$ROOT/.venv/bin}
HOST=127.0.0.1
PG_PORT=${LOCAL_STACK_PG_PORT:-5433}
S3_PORT=${LOCAL_STACK_S3_PORT:-9000}
MLFLOW_PORT=${LOCAL_STACK_MLFLOW_PORT:-5000}
PG_USER=mobileiqa
PG_PASSWORD=mobileiqa-local
PG_DB=mlflow
AWS_KEY=local-stack
AWS_SECRET=local-stack-secret
BUCKETS=(mlflow dvc)
S3_URL=http://$HOST:$S3_PORT
MLFLOW_URL=http://$HOST:$MLFLOW_PORT
BACKEND_URI=postgresql+psycopg://$PG_USER:$PG_PASSWORD@$HOST:$PG_PORT/$PG_DB

log() { echo "local-stack: $*" >&2; }
die() { echo "local-stack: error: $*" >&2; exit 1; }

usage() {
  sed -n '6,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# --- probes (no state is written) ---
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

pid_of() {  # pid_of NAME -> the recorded pid when that process is alive
  local f=$STATE/$1.pid pid
  [ -f "$f" ] || return 1
  pid=$(head -n1 "$f")
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

pg_pid() { [ -f "$STATE/postgres/data/postmaster.pid" ] || return 1
  local pid; pid=$(head -n1 "$STATE/postgres/data/postmaster.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"; }

service_line() {  # service_line NAME PID_FN PORT URL -> prints a line, returns 0 when running
  local name=$1 pid
  if pid=$($2 "$name") && port_open "$3"; then
    echo "$name: running (pid $pid, $4)"
  elif pid=$($2 "$name"); then
    echo "$name: starting or unhealthy (pid $pid, nothing answers on $HOST:$3)"; return 1
  elif [ -f "$STATE/$name.pid" ]; then
    echo "$name: stopped (stale pid file $STATE/$name.pid)"; return 1
  elif port_open "$3"; then
    echo "$name: stopped (but another process listens on $HOST:$3)"; return 1
  else
    echo "$name: stopped"; return 1
  fi
}

pg_status_pid() { pg_pid; }

status() {
  local rc=0
  service_line postgres pg_status_pid "$PG_PORT" "$BACKEND_URI" || rc=3
  service_line s3 pid_of "$S3_PORT" "$S3_URL" || rc=3
  service_line mlflow pid_of "$MLFLOW_PORT" "$MLFLOW_URL" || rc=3
  return $rc
}

print_env() {
  cat <<EOF
export MLFLOW_TRACKING_URI=$MLFLOW_URL
export MLFLOW_S3_ENDPOINT_URL=$S3_URL
export AWS_ENDPOINT_URL=$S3_URL
export AWS_ACCESS_KEY_ID=$AWS_KEY
export AWS_SECRET_ACCESS_KEY=$AWS_SECRET
export AWS_DEFAULT_REGION=us-east-1
# DVC remote on the local S3 (git-ignored config.local):
#   dvc remote add --local -d local-s3 s3://dvc/mobileiqa && dvc remote modify --local local-s3 endpointurl $S3_URL
# MLflow's backend store: $BACKEND_URI
EOF
}

# --- start ---
wait_for() {  # wait_for WHAT SECONDS CMD...
  local what=$1 secs=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@"; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.5
  done
  log "$what is up"
}

pg_bin() {  # the PostgreSQL server binaries: on PATH, else Debian's newest /usr/lib/postgresql/N/bin
  if command -v pg_ctl >/dev/null 2>&1; then dirname "$(readlink -f "$(command -v pg_ctl)")"; return; fi
  local d; d=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n1)
  [ -n "$d" ] || die "PostgreSQL is not installed: apt-get install -y postgresql (or scripts/install-services.sh)"
  echo "$d"
}

as_pg() {  # run a PostgreSQL command as the unprivileged user (PostgreSQL refuses to run as root)
  if [ "$(id -u)" = 0 ]; then runuser -u "$PG_OSUSER" -- "$@"; else "$@"; fi
}

start_postgres() {
  if pg_pid >/dev/null && port_open "$PG_PORT"; then log "postgres already running"; ensure_db; return; fi
  port_open "$PG_PORT" && die "port $HOST:$PG_PORT is taken by another process: set LOCAL_STACK_PG_PORT"
  local bin data=$STATE/postgres/data sock=$STATE/postgres/run
  bin=$(pg_bin)
  if [ "$(id -u)" = 0 ]; then
    PG_OSUSER=${LOCAL_STACK_PG_OSUSER:-$(id -u postgres >/dev/null 2>&1 && echo postgres || echo nobody)}
    log "running PostgreSQL as the unprivileged user $PG_OSUSER"
  fi
  mkdir -p "$STATE/postgres" "$sock" "$STATE/logs"
  if [ "$(id -u)" = 0 ]; then
    touch "$STATE/logs/postgres.log"
    chown "$PG_OSUSER" "$STATE/postgres" "$sock" "$STATE/logs/postgres.log"
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    log "initdb $data"
    rm -rf "$data"
    local pw=$STATE/postgres/pwfile
    (umask 077; echo "$PG_PASSWORD" > "$pw")
    if [ "$(id -u)" = 0 ]; then chown "$PG_OSUSER" "$pw"; fi
    as_pg "$bin/initdb" -D "$data" -U "$PG_USER" --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 >"$STATE/logs/initdb.log" 2>&1 || { rm -f "$pw"; die "initdb failed: see $STATE/logs/initdb.log"; }
    rm -f "$pw"
  fi
  as_pg "$bin/pg_ctl" -D "$data" -l "$STATE/logs/postgres.log" -w -t 60 \
    -o "-c listen_addresses=$HOST -p $PG_PORT -k $sock" start >/dev/null \
    || die "PostgreSQL did not start: see $STATE/logs/postgres.log"
  log "postgres is up on $HOST:$PG_PORT"
  ensure_db
}

ensure_db() {  # the MLflow database exists (created once)
  local bin; bin=$(pg_bin)
  if ! PGPASSWORD=$PG_PASSWORD "$bin/psql" -h "$HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname='$PG_DB'" | grep -q 1; then
    PGPASSWORD=$PG_PASSWORD "$bin/createdb" -h "$HOST" -p "$PG_PORT" -U "$PG_USER" "$PG_DB"
    log "created database $PG_DB"
  fi
}

spawn() {  # spawn NAME CMD... : detached, in its own process group (pid = group id), pid recorded
  local name=$1; shift
  mkdir -p "$STATE/logs"
  setsid "$@" >>"$STATE/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$STATE/$name.pid"
}

http_ok() { "$VENV_BIN/python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" "$1" \
  2>/dev/null; }

start_s3() {
  if pid_of s3 >/dev/null && port_open "$S3_PORT"; then log "s3 already running"
  else
    port_open "$S3_PORT" && die "port $HOST:$S3_PORT is taken by another process: set LOCAL_STACK_S3_PORT"
    [ -x "$VENV_BIN/moto_server" ] || die "$VENV_BIN/moto_server is missing: run scripts/setup.sh (moto[server])"
    spawn s3 "$VENV_BIN/moto_server" -H "$HOST" -p "$S3_PORT"
    wait_for "s3 (moto) on $S3_URL" 60 http_ok "$S3_URL/moto-api/" || die "moto did not start: see $STATE/logs/s3.log"
  fi
  # moto keeps buckets in memory: (re)create them every time (idempotent)
  AWS_ACCESS_KEY_ID=$AWS_KEY AWS_SECRET_ACCESS_KEY=$AWS_SECRET AWS_DEFAULT_REGION=us-east-1 "$VENV_BIN/python" -c '
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
have = {b["Name"] for b in s3.list_buckets()["Buckets"]}
for name in sys.argv[2:]:
    if name not in have:
        s3.create_bucket(Bucket=name)
' "$S3_URL" "${BUCKETS[@]}"
  log "buckets: ${BUCKETS[*]}"
}

start_mlflow() {
  if pid_of mlflow >/dev/null && port_open "$MLFLOW_PORT"; then log "mlflow already running"; return; fi
  port_open "$MLFLOW_PORT" && die "port $HOST:$MLFLOW_PORT is taken by another process: set LOCAL_STACK_MLFLOW_PORT"
  [ -x "$VENV_BIN/mlflow" ] || die "$VENV_BIN/mlflow is missing: run scripts/setup.sh"
  "$VENV_BIN/python" -c "import psycopg" 2>/dev/null \
    || die "MLflow needs the PostgreSQL driver psycopg 3 in the venv: pip install 'psycopg[binary]' (see requirements/lock.txt)"
  spawn mlflow env MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false MLFLOW_S3_ENDPOINT_URL="$S3_URL" \
    AWS_ACCESS_KEY_ID="$AWS_KEY" AWS_SECRET_ACCESS_KEY="$AWS_SECRET" AWS_DEFAULT_REGION=us-east-1 \
    "$VENV_BIN/mlflow" server --backend-store-uri "$BACKEND_URI" --artifacts-destination s3://mlflow \
    --serve-artifacts --host "$HOST" --port "$MLFLOW_PORT" --workers 1
  if ! wait_for "mlflow on $MLFLOW_URL" 180 http_ok "$MLFLOW_URL/health"; then
    stop_group mlflow
    die "MLflow did not start: see $STATE/logs/mlflow.log"
  fi
}

start() {
  mkdir -p "$STATE"
  start_postgres
  start_s3
  start_mlflow
  status >&2 || true
  print_env
}

# --- stop ---
stop_group() {  # stop_group NAME: TERM the recorded process group, KILL after 20 s
  local name=$1 pid
  if pid=$(pid_of "$name"); then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    local end=$((SECONDS + 20))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && { kill -KILL -- "-$pid" 2>/dev/null || true; }
    log "$name stopped"
  else
    log "$name not running"
  fi
  rm -f "$STATE/$name.pid"
}

stop_postgres() {
  if pg_pid >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
      PG_OSUSER=$(stat -c %U "$STATE/postgres/data")
    fi
    as_pg "$(pg_bin)/pg_ctl" -D "$STATE/postgres/data" -m fast -w stop >/dev/null
    log "postgres stopped"
  else
    log "postgres not running"
  fi
}

stop() {
  stop_group mlflow
  stop_group s3
  stop_postgres
}

case "${1:-status}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) print_env ;;
  help | -h | --help) usage ;;
  *) echo "local-stack: unknown command '$1'" >&2; usage >&2; exit 2 ;;
esac
