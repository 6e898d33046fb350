#!/usr/bin/env bash
# Make the AppCDS archives: master, worker, and the one drivers and executors share (job-*.jsa).
#
#   make-cds.sh [--if-missing]
#
# Runs at image build (Dockerfile) and, on the simulator's process backend, once per machine
# into ~/.cache/spark-stack/cds (--if-missing: return at once when every archive is there).
# Without the archives every pod's FIRST start is the slow one (it records classes and writes its
# archive at exit into a HOME that an emptyDir or tmpfs then throws away), so fast start would
# only ever help container restarts.
#
# How: start a master and a worker on $POD_IP (default 127.0.0.1) through the real entrypoint,
# wait until the worker has registered, then (if the job archive is missing) submit the catalog's
# `pi` job through the REST gateway with -XX:ArchiveClassesAtExit for the driver: a REAL driver
# launched by the worker, so the archive matches the classpath the worker gives every driver and
# executor. The driver writes it at exit into a per-PID temporary name; it is checked
# (java -Xshare:on maps it with that classpath) and only then renamed into place. Executors use
# the same archive (an executor's own cannot be recorded: the worker SIGKILLs executors 10 s
# after the app ends, before the dump completes). Finally SIGTERM both daemons; the entrypoint
# renames their archives. At run time the entrypoint only reads them (jvm-cds.sh names them).
set -euo pipefail

IF_MISSING=false
case "${1:-}" in
    --if-missing) IF_MISSING=true ;;
    "") ;;
    *) echo "usage: $(basename "$0") [--if-missing]" >&2; exit 64 ;;
esac

: "${SPARK_CDS_DIR:?set SPARK_CDS_DIR to where the archives are kept}"
: "${SPARK_HOME:?set SPARK_HOME to the Spark installation}"
HERE="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
# shellcheck source=jvm-cds.sh
. "${HERE}/jvm-cds.sh"
ENTRYPOINT="${ENTRYPOINT:-${HERE}/entrypoint.sh}"
export SPARK_JOBS_DIR="${SPARK_JOBS_DIR:-/opt/spark-jobs}"
# The daemons below must run with the conf dir the real pods will have: it is on the classpath.
export SPARK_CONF_DIR="${SPARK_CONF_DIR:-$(default_conf_dir)}"
MASTER_ARCHIVE="$(daemon_archive master)"
WORKER_ARCHIVE="$(daemon_archive worker)"
JOB_ARCHIVE="$(job_archive)"

if [ "${IF_MISSING}" = true ] && [ -s "${MASTER_ARCHIVE}" ] && [ -s "${WORKER_ARCHIVE}" ] \
        && [ -s "${JOB_ARCHIVE}" ]; then
    exit 0
fi

SCRATCH="$(mktemp -d)"
export HOME="${SCRATCH}" POD_IP="${POD_IP:-127.0.0.1}" SPARK_JVM_FAST_START=true
MASTER_UI="http://${POD_IP}:8080" REST="http://${POD_IP}:6066"
JOB_TMP="${JOB_ARCHIVE}.$$.$(hostname 2>/dev/null || echo h).tmp"
STARTED=$(date +%s)
# shellcheck disable=SC2086  # an unset PID must expand to nothing, not to ""
cleanup() {
    kill -TERM ${WORKER:-} ${MASTER:-} 2>/dev/null || true
    wait ${WORKER:-} ${MASTER:-} 2>/dev/null || true
    rm -rf "${SCRATCH}" "${JOB_TMP}"
}
trap cleanup EXIT

fail() {
    echo "make-cds: $*" >&2
    tail -n 40 "${SCRATCH}"/*.log >&2 || true
    exit 1
}

wait_for() {  # wait_for PYTHON-EXPRESSION-ON-STATUS WHAT
    local deadline=$(( $(date +%s) + 180 ))
    until python3 - "$1" "${MASTER_UI}/json/" <<'PY' 2>/dev/null
import json, sys, urllib.request
status = json.load(urllib.request.urlopen(sys.argv[2], timeout=2))
sys.exit(0 if eval(sys.argv[1], {"s": status}) else 1)
PY
    do
        [ "$(date +%s)" -le "${deadline}" ] || fail "timed out waiting for $2"
        sleep 0.5
    done
}

echo "make-cds: making AppCDS archives in ${SPARK_CDS_DIR} (master, worker, drivers+executors;" \
     "a master, a worker and one warm-up job on ${POD_IP}, ~1 min)"
mkdir -p "${SPARK_CDS_DIR}"
"${ENTRYPOINT}" master >"${SCRATCH}/master.log" 2>&1 &
MASTER=$!
wait_for 's["status"] == "ALIVE"' "the master"
SPARK_MASTER_URL="spark://${POD_IP}:7077" SPARK_WORKER_DIR="${SCRATCH}/work" \
    "${ENTRYPOINT}" worker >"${SCRATCH}/worker.log" 2>&1 &
WORKER=$!
wait_for 's["aliveworkers"] == 1' "the worker to register"
echo "make-cds: master and worker up after $(( $(date +%s) - STARTED )) s"

if [ ! -s "${JOB_ARCHIVE}" ]; then
    echo "make-cds: warm-up job (pi) recording the driver's classes into ${JOB_ARCHIVE}"
    # Prints the driver's -cp (from its launch command) once the driver FINISHED.
    CLASSPATH_OF_DRIVER="$(python3 - "${REST}" "spark://${POD_IP}:7077" \
        "${SPARK_JOBS_DIR}/pi.py" "${JOB_TMP}" "${SCRATCH}/work" <<'PY'
import json, re, sys, time, urllib.request
rest, master, script, archive, work = sys.argv[1:]
c1 = "-XX:TieredStopAtLevel=1"
body = {"action": "CreateSubmissionRequest", "appResource": f"file:{script}",
        "mainClass": "org.apache.spark.deploy.PythonRunner",
        "appArgs": [script, "", json.dumps({"samples": 1000, "partitions": 1})],
        "clientSparkVersion": "4.3.0",
        "sparkProperties": {"spark.app.name": "make-cds-warmup", "spark.master": master,
                            "spark.submit.deployMode": "cluster", "spark.driver.cores": "0",
                            "spark.driver.memory": "512m", "spark.executor.memory": "512m",
                            "spark.cores.max": "1", "spark.driver.supervise": "false",
                            "spark.driver.extraJavaOptions":
                                f"{c1} -XX:ArchiveClassesAtExit={archive}",
                            "spark.executor.extraJavaOptions": c1},
        "environmentVariables": {"SPARK_ENV_LOADED": "1"}}
def call(path, data=None):
    req = urllib.request.Request(rest + "/v1/submissions/" + path,
                                 method="POST" if data else "GET",
                                 data=json.dumps(data).encode() if data else None,
                                 headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=30))
driver = call("create", body)["submissionId"]
deadline = time.monotonic() + 300
while (state := call(f"status/{driver}").get("driverState")) not in (
        "FINISHED", "FAILED", "KILLED", "ERROR"):
    if time.monotonic() > deadline:
        sys.exit(f"warm-up driver {driver} still {state} after 300 s")
    time.sleep(0.5)
if state != "FINISHED":
    sys.exit(f"warm-up driver {driver} ended {state}")
head = open(f"{work}/{driver}/stderr", errors="replace").read(16384)
match = re.search(r'"-cp" "([^"]+)"', head)
if not match:
    sys.exit(f"no -cp in the launch command of {driver}")
print(match.group(1))
PY
    )" || fail "the warm-up job did not finish"
    [ -s "${JOB_TMP}" ] || fail "the warm-up driver wrote no archive"
    # A truncated archive crashes the JVM that maps it: map it once, strictly, before using it.
    "${JAVA_HOME:+${JAVA_HOME}/bin/}java" -Xshare:on -XX:SharedArchiveFile="${JOB_TMP}" \
        -cp "${CLASSPATH_OF_DRIVER}" -version >/dev/null 2>&1 \
        || fail "the warm-up archive does not map with the driver's classpath"
    if [ -e "${JOB_ARCHIVE}" ]; then
        rm -f "${JOB_TMP}"   # another warm-up finished first; its archive is as good
    else
        chmod a+r "${JOB_TMP}" && mv -f "${JOB_TMP}" "${JOB_ARCHIVE}"
    fi
    echo "make-cds: driver/executor archive ready after $(( $(date +%s) - STARTED )) s:" \
         "${JOB_ARCHIVE}"
fi

kill -TERM "${WORKER}"; wait "${WORKER}" || true
kill -TERM "${MASTER}"; wait "${MASTER}" || true
WORKER="" MASTER=""
chmod -R a+rX "${SPARK_CDS_DIR}" 2>/dev/null || true
for archive in "${MASTER_ARCHIVE}" "${WORKER_ARCHIVE}" "${JOB_ARCHIVE}"; do
    [ -s "${archive}" ] || fail "no archive was written at ${archive}"
done
echo "make-cds: all archives ready in $(( $(date +%s) - STARTED )) s"
ls -l "${SPARK_CDS_DIR}"
