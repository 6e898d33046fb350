#!/usr/bin/env bash
# Build-time step (Dockerfile): make the AppCDS archives for both roles inside the image.
#
# Without them every pod's FIRST start is the slow one (it records classes and writes its archive
# at exit into a HOME that an emptyDir or tmpfs then throws away), so fast start would only ever
# help container restarts. This starts a master and a worker on 127.0.0.1 through the real
# entrypoint, waits until the worker has registered and stops both with SIGTERM; the entrypoint
# renames each finished archive into SPARK_CDS_DIR. At run time the entrypoint only reads them.
set -euo pipefail

: "${SPARK_CDS_DIR:?set SPARK_CDS_DIR to where the image keeps its archives}"
ENTRYPOINT="${ENTRYPOINT:-/opt/spark-stack/entrypoint.sh}"
SCRATCH="$(mktemp -d)"
export HOME="${SCRATCH}" POD_IP=127.0.0.1 SPARK_JVM_FAST_START=true
trap 'kill -TERM ${WORKER:-} ${MASTER:-} 2>/dev/null || true; rm -rf "${SCRATCH}"' EXIT

wait_for() {  # wait_for PYTHON-EXPRESSION-ON-STATUS WHAT
    local deadline=$(( $(date +%s) + 180 ))
    until python3 - "$1" <<'PY' 2>/dev/null
import json, sys, urllib.request
status = json.load(urllib.request.urlopen("http://127.0.0.1:8080/json/", timeout=2))
sys.exit(0 if eval(sys.argv[1], {"s": status}) else 1)
PY
    do
        if [ "$(date +%s)" -gt "${deadline}" ]; then
            echo "make-cds: timed out waiting for $2" >&2
            tail -n 40 "${SCRATCH}"/*.log >&2
            exit 1
        fi
        sleep 0.5
    done
}

echo "make-cds: recording the master's and the worker's classes into ${SPARK_CDS_DIR}"
"${ENTRYPOINT}" master >"${SCRATCH}/master.log" 2>&1 &
MASTER=$!
wait_for 's["status"] == "ALIVE"' "the master"
SPARK_MASTER_URL=spark://127.0.0.1:7077 SPARK_WORKER_DIR="${SCRATCH}/work" \
    "${ENTRYPOINT}" worker >"${SCRATCH}/worker.log" 2>&1 &
WORKER=$!
wait_for 's["aliveworkers"] == 1' "the worker to register"
kill -TERM "${WORKER}"; wait "${WORKER}" || true
kill -TERM "${MASTER}"; wait "${MASTER}" || true
WORKER="" MASTER=""
chmod -R a+rX "${SPARK_CDS_DIR}"
ls -l "${SPARK_CDS_DIR}"
for role in master worker; do
    compgen -G "${SPARK_CDS_DIR}/${role}-*.jsa" >/dev/null \
        || { echo "make-cds: no ${role} archive was written" >&2; exit 1; }
done
