#!/usr/bin/env bash
# decommission.sh: the worker pod's preStop hook (chart value spark.worker.decommission).
#
#   decommission.sh MAX_SECONDS
#
# 1. Sends the worker JVM its decommission signal (SIGPWR, Spark's
#    spark.worker.decommission.signal default): the worker tells the master, which marks it
#    DECOMMISSIONED, places no new driver or executor on it and tells the apps that their
#    executors here are going. Drivers already running here go on (Spark does not move them).
# 2. Waits until the drivers and executors the worker hosts have finished, i.e. its own UI's
#    /json/ reports no memory in use, at most MAX_SECONDS (the chart passes the pod's
#    terminationGracePeriodSeconds minus a margin for the worker's own SIGTERM shutdown).
#
# Exit 0: nothing is left running on the worker (or the worker is already gone).
# Exit 1: MAX_SECONDS passed with work still running (the kubelet then stops the worker, which
#         kills it; the output says what was left). Exit 64/78: usage or setup errors.
# Settings come from the pod's environment, as for entrypoint.sh: SPARK_WORKER_DECOMMISSION,
# SPARK_WORKER_DIR (where the entrypoint wrote .worker.pid), POD_IP, SPARK_WORKER_WEBUI_PORT.
# Needs only bash and coreutils (no curl in the image); any UID: it only reads.
set -euo pipefail

die() {
    echo "decommission: error: $*" >&2
    exit 78
}

[ $# -eq 1 ] || { echo "usage: $(basename "$0") MAX_SECONDS" >&2; exit 64; }
MAX="$1"
case "${MAX}" in
    '' | *[!0-9]*) die "MAX_SECONDS='${MAX}' is not a number of seconds" ;;
esac
EVERY="${SPARK_DECOMMISSION_POLL_SECONDS:-1}"     # how often the worker is asked
REPORT="${SPARK_DECOMMISSION_REPORT_SECONDS:-5}"  # how often progress is printed

if [ "${SPARK_WORKER_DECOMMISSION:-false}" != true ]; then
    # Without spark.decommission.enabled the worker has no SIGPWR handler: the signal would
    # kill the JVM (and every job on it) at once.
    echo "decommission: SPARK_WORKER_DECOMMISSION is not true: nothing to do"
    exit 0
fi
PID_FILE="${SPARK_WORKER_DIR:-${HOME:-/tmp}/work}/.worker.pid"
[ -r "${PID_FILE}" ] || die "no ${PID_FILE}: the worker was not started by entrypoint.sh"
PID="$(cat "${PID_FILE}")"
case "${PID}" in
    '' | *[!0-9]*) die "${PID_FILE} holds '${PID}', not a PID" ;;
esac
if ! kill -0 "${PID}" 2>/dev/null; then
    echo "decommission: the worker (pid ${PID}) is not running: nothing to wait for"
    exit 0
fi
HOST="${POD_IP:-127.0.0.1}"
UI_PORT="${SPARK_WORKER_WEBUI_PORT:-8081}"

worker_json() {  # the worker UI's /json/, over bash's /dev/tcp (HTTP/1.0: the server closes)
    local reply
    exec 3<>"/dev/tcp/${HOST}/${UI_PORT}" || return 1
    printf 'GET /json/ HTTP/1.0\r\nHost: %s\r\n\r\n' "${HOST}" >&3
    reply="$(timeout 5 cat <&3)" || { exec 3<&-; return 1; }
    exec 3<&-
    printf '%s' "${reply}"
}

field() {  # field NAME JSON: a top-level number of the worker's /json/
    printf '%s' "$2" | grep -o "\"$1\" *: *[0-9]*" | head -n 1 | grep -o '[0-9]*$'
}

kill -s PWR "${PID}"
echo "decommission: sent SIGPWR to the worker (pid ${PID}, ${HOST}:${UI_PORT}); waiting up to" \
     "${MAX}s for the drivers and executors it hosts"
START="${SECONDS}"
LAST_REPORT=-1
while :; do
    WAITED=$(( SECONDS - START ))
    if ! kill -0 "${PID}" 2>/dev/null; then
        echo "decommission: the worker exited after ${WAITED}s"
        exit 0
    fi
    if JSON="$(worker_json)"; then
        MEMORY="$(field memoryused "${JSON}")" || MEMORY=""
        CORES="$(field coresused "${JSON}")" || CORES=""
        if [ "${MEMORY}" = 0 ] && [ "${CORES:-0}" = 0 ]; then
            echo "decommission: no driver or executor left on the worker after ${WAITED}s"
            exit 0
        fi
        STATE="still hosting ${MEMORY:-?} MB / ${CORES:-?} cores of drivers and executors"
    else
        STATE="not answering on its UI ${HOST}:${UI_PORT}"
    fi
    if [ "${WAITED}" -ge "${MAX}" ]; then
        echo "decommission: gave up after ${WAITED}s: the worker is ${STATE}; stopping it" \
             "kills them"
        exit 1
    fi
    if [ $(( WAITED / REPORT )) -ne "${LAST_REPORT}" ]; then
        LAST_REPORT=$(( WAITED / REPORT ))
        echo "decommission: ${WAITED}s of ${MAX}s: the worker is ${STATE}"
    fi
    sleep "${EVERY}"
done
