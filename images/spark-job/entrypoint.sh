#!/usr/bin/env bash
# spark-job entrypoint: start a Spark standalone master or worker in the foreground.
#
#   entrypoint.sh master | worker
#
# Settings come only from the environment (docs/contracts.md, "spark-job image"). The same script
# runs in the image (SPARK_HOME=/opt/spark) and on the simulator's process backend (SPARK_HOME =
# the installed pyspark package directory), so it assumes nothing about the filesystem except
# SPARK_HOME and writes only under $HOME, the worker's work dir and the CDS dir. It runs under an
# arbitrary UID with GID 0 (OpenShift restricted-v2) and never needs a passwd entry.
#
# JVM fast start (SPARK_JVM_FAST_START=true, the default): C1 only plus an AppCDS archive per
# role, Spark version and Java version (measured: master + 2 workers ALIVE in ~2.5 s instead of
# ~7-8 s, ~80 MB less RSS per daemon; docs/design.md section 4). The archive is created by the first
# run of a role (-XX:ArchiveClassesAtExit, written when the JVM stops gracefully on SIGTERM) into a
# per-PID temporary name and renamed into place only once complete, so several daemons starting
# at once never write the same file and nobody ever maps a half-written archive. Only that first
# run keeps this shell alive as a thin supervisor (it forwards SIGTERM/SIGINT and does the rename);
# every other run execs the JVM directly.
#
# Drivers and executors (worker role): the worker starts them with a plain `java` and its own
# environment, so the entrypoint adds -XX:SharedArchiveFile=<SPARK_CDS_DIR>/job-*.jsa to the
# JAVA_TOOL_OPTIONS they inherit (the worker's own archive, on its command line, wins for the
# worker). That archive is never made here: make-cds.sh records it from a real warm-up job at
# image build, or once per machine on the process backend. The job API sets no path: a missing
# or mismatched archive only means a JVM without CDS (warning on stderr, never on stdout).
# Measured: pi submit -> FINISHED ~12 s -> ~8 s (bench/results/job_cds.json).
set -euo pipefail
# shellcheck source=jvm-cds.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/jvm-cds.sh"   # archive names, versions

usage() {
    echo "usage: $(basename "$0") master|worker" >&2
    echo "  settings come from the environment: see docs/contracts.md (spark-job image)" >&2
    exit 64
}

die() {
    echo "entrypoint: error: $*" >&2
    exit 78
}

[ $# -eq 1 ] || usage
ROLE="$1"
case "$ROLE" in
    master) CLASS=org.apache.spark.deploy.master.Master ;;
    worker) CLASS=org.apache.spark.deploy.worker.Worker ;;
    *) usage ;;
esac

# --- writable places: $HOME may be unset or "/" (arbitrary UID without a passwd entry) ---
if [ -z "${HOME:-}" ] || [ "${HOME}" = "/" ] || ! mkdir -p "${HOME}" 2>/dev/null \
        || [ ! -w "${HOME}" ]; then
    HOME="${TMPDIR:-/tmp}/spark-home-$(id -u)"
    mkdir -p "${HOME}" && [ -w "${HOME}" ] \
        || die "no writable HOME: set HOME to a writable directory"
fi
export HOME
# The daemons' working directory (anything Spark drops in its cwd lands somewhere writable).
cd "${HOME}"

: "${SPARK_HOME:?SPARK_HOME must point at the Spark installation (bin/spark-class)}"
[ -x "${SPARK_HOME}/bin/spark-class" ] \
    || die "SPARK_HOME=${SPARK_HOME} has no bin/spark-class: set SPARK_HOME to the Spark install"

if [ -z "${POD_IP:-}" ]; then
    POD_IP="$(hostname -i 2>/dev/null | awk '{print $1}')" || true
    [ -n "${POD_IP}" ] || die "POD_IP is empty and 'hostname -i' found no address: set POD_IP"
fi
export POD_IP
# Drivers and executors the worker launches inherit this and bind to the pod's address too
# (driver RPC, block manager and UI all follow SPARK_LOCAL_IP); without it the UIs bind 0.0.0.0.
export SPARK_LOCAL_IP="${POD_IP}"
export SPARK_DAEMON_MEMORY="${SPARK_DAEMON_MEMORY:-512m}"
# Spark and Hadoop ask the OS for the user name. For a UID without a passwd entry (OpenShift)
# Hadoop's login fails in every executor ("invalid null input: name") and the app retries
# executors forever. With nss_wrapper (package libnss-wrapper, in the image) the pod gets a
# private passwd file naming the UID, inherited by drivers, executors and Python workers.
if ! id -un >/dev/null 2>&1; then
    NSS_LIB=""
    for lib in /usr/lib/*/libnss_wrapper.so /usr/lib64/libnss_wrapper.so \
               /usr/lib/libnss_wrapper.so; do
        if [ -e "${lib}" ]; then NSS_LIB="${lib}"; break; fi
    done
    if [ -n "${NSS_LIB}" ]; then
        mkdir -p "${HOME}/.nss"
        { cat /etc/passwd 2>/dev/null
          echo "${SPARK_USER:-spark}:x:$(id -u):$(id -g):Spark:${HOME}:/bin/false"
        } >"${HOME}/.nss/passwd"
        cat /etc/group >"${HOME}/.nss/group" 2>/dev/null || :
        export NSS_WRAPPER_PASSWD="${HOME}/.nss/passwd" NSS_WRAPPER_GROUP="${HOME}/.nss/group"
        export LD_PRELOAD="${NSS_LIB}${LD_PRELOAD:+ ${LD_PRELOAD}}"
    else
        echo "entrypoint: warning: UID $(id -u) has no passwd entry and nss_wrapper is" \
             "missing: Spark executors may fail to log in (install libnss-wrapper)" >&2
    fi
fi
if ! SPARK_USER="${SPARK_USER:-$(id -un 2>/dev/null)}" || [ -z "${SPARK_USER}" ]; then
    SPARK_USER=spark
fi
export SPARK_USER
export HADOOP_USER_NAME="${HADOOP_USER_NAME:-${SPARK_USER}}"
# Java takes user.home from the passwd entry, not $HOME ("?" without an entry: every driver
# FAILED with "basedir must be absolute: ?/.ivy2.5.2/local"; with one, Ivy writes outside
# $HOME). JAVA_TOOL_OPTIONS reaches every JVM of the pod: the daemon, its drivers, executors.
case " ${JAVA_TOOL_OPTIONS:-} " in
    *" -Duser.home="*) ;;
    *) export JAVA_TOOL_OPTIONS="${JAVA_TOOL_OPTIONS:+${JAVA_TOOL_OPTIONS} }-Duser.home=${HOME}" ;;
esac
export SPARK_SCALA_VERSION="${SPARK_SCALA_VERSION:-2.13}"
export SPARK_JOBS_DIR="${SPARK_JOBS_DIR:-/opt/spark-jobs}"

FAST_START="${SPARK_JVM_FAST_START:-true}"
case "${FAST_START}" in
    true | false) ;;
    *) die "SPARK_JVM_FAST_START='${FAST_START}' is not true or false" ;;
esac
SPARK_CDS_DIR="${SPARK_CDS_DIR:-${HOME}/cds}"

# SPARK_CONF_DIR is on the daemon's classpath. It must be an EMPTY directory (CDS refuses a
# non-empty one) at a path that does not change between runs (a CDS archive is only valid for
# the classpath it was made with), so by default it lives next to the archives.
if [ -z "${SPARK_CONF_DIR:-}" ]; then
    if [ "${FAST_START}" = true ]; then
        SPARK_CONF_DIR="$(default_conf_dir)"
    else
        SPARK_CONF_DIR="${HOME}/empty-conf"
    fi
fi
mkdir -p "${SPARK_CONF_DIR}" || die "cannot create SPARK_CONF_DIR=${SPARK_CONF_DIR}"
export SPARK_CONF_DIR

# Settings go through a properties file, never the conf dir (see above).
RUN_DIR="$(mktemp -d "${HOME}/${ROLE}-run.XXXXXX")" || die "cannot create a temp dir in ${HOME}"
PROPS="${RUN_DIR}/spark-defaults.conf"

port() {  # port NAME VALUE: refuse anything that is not an unprivileged TCP port
    case "$2" in
        '' | *[!0-9]*) die "$1='$2' is not a port number" ;;
    esac
    [ "$2" -ge 1024 ] && [ "$2" -le 65535 ] || die "$1=$2 must be within 1024..65535"
}

ARGS=()
case "${ROLE}" in
    master)
        MASTER_PORT="${SPARK_MASTER_PORT:-7077}"
        UI_PORT="${SPARK_MASTER_WEBUI_PORT:-8080}"
        REST_PORT="${SPARK_MASTER_REST_PORT:-6066}"
        port SPARK_MASTER_PORT "${MASTER_PORT}"
        port SPARK_MASTER_WEBUI_PORT "${UI_PORT}"
        port SPARK_MASTER_REST_PORT "${REST_PORT}"
        {
            echo "spark.master.rest.enabled true"
            echo "spark.master.rest.port ${REST_PORT}"
            echo "spark.master.rest.host ${POD_IP}"
        } >"${PROPS}"
        # Recovery: a master that restarts reads back its workers, apps and drivers from here
        # (spark.deploy.recoveryMode, docs/reliability.md); NONE forgets every job.
        RECOVERY="${SPARK_MASTER_RECOVERY_MODE:-NONE}"
        case "${RECOVERY}" in
            NONE) ;;
            FILESYSTEM | ROCKSDB)
                RECOVERY_DIR="${SPARK_MASTER_RECOVERY_DIR:-}"
                [ -n "${RECOVERY_DIR}" ] || die "SPARK_MASTER_RECOVERY_MODE=${RECOVERY} needs" \
                    "SPARK_MASTER_RECOVERY_DIR (a directory that outlives the master)"
                mkdir -p "${RECOVERY_DIR}" && [ -w "${RECOVERY_DIR}" ] \
                    || die "SPARK_MASTER_RECOVERY_DIR=${RECOVERY_DIR} is not writable"
                {
                    echo "spark.deploy.recoveryMode ${RECOVERY}"
                    echo "spark.deploy.recoveryDirectory ${RECOVERY_DIR}"
                } >>"${PROPS}"
                RECOVERY="${RECOVERY}:${RECOVERY_DIR}"
                ;;
            *) die "SPARK_MASTER_RECOVERY_MODE='${RECOVERY}' must be NONE, FILESYSTEM or ROCKSDB" ;;
        esac
        ARGS=(--host "${POD_IP}" --port "${MASTER_PORT}" --webui-port "${UI_PORT}"
              --properties-file "${PROPS}")
        SUMMARY="master spark://${POD_IP}:${MASTER_PORT} ui=${UI_PORT} rest=${REST_PORT}"
        SUMMARY="${SUMMARY} recovery=${RECOVERY}"
        ;;
    worker)
        MASTER_URL="${SPARK_MASTER_URL:-}"
        case "${MASTER_URL}" in
            spark://?*) ;;
            *) die "SPARK_MASTER_URL='${MASTER_URL}' must be set to spark://host:port" ;;
        esac
        CORES="${SPARK_WORKER_CORES:-1}"
        MEMORY="${SPARK_WORKER_MEMORY:-1g}"
        UI_PORT="${SPARK_WORKER_WEBUI_PORT:-8081}"
        WORKER_PORT="${SPARK_WORKER_PORT:-7078}"
        WORK_DIR="${SPARK_WORKER_DIR:-${HOME}/work}"
        case "${CORES}" in
            '' | *[!0-9]* | 0) die "SPARK_WORKER_CORES='${CORES}' must be a positive integer" ;;
        esac
        case "${MEMORY}" in
            [1-9]*[mMgG]) ;;
            *) die "SPARK_WORKER_MEMORY='${MEMORY}' must look like 512m or 1g" ;;
        esac
        port SPARK_WORKER_WEBUI_PORT "${UI_PORT}"
        port SPARK_WORKER_PORT "${WORKER_PORT}"
        mkdir -p "${WORK_DIR}" || die "cannot create SPARK_WORKER_DIR=${WORK_DIR}"
        : >"${PROPS}"
        # Decommission (docs/reliability.md, "Scale-down finishes its work"): on SIGPWR the worker
        # tells the master, which then places no driver or executor here and tells the apps that
        # their executors here are going; decommission.sh (the chart's preStop) sends the signal
        # and waits. Without it SIGPWR would kill the JVM, so the hook checks this file.
        DECOMMISSION="${SPARK_WORKER_DECOMMISSION:-false}"
        case "${DECOMMISSION}" in
            true)
                {
                    echo "spark.decommission.enabled true"
                    echo "spark.worker.decommission.signal PWR"
                } >>"${PROPS}"
                ;;
            false) ;;
            *) die "SPARK_WORKER_DECOMMISSION='${DECOMMISSION}' is not true or false" ;;
        esac
        ARGS=(--host "${POD_IP}" --port "${WORKER_PORT}" --webui-port "${UI_PORT}"
              --cores "${CORES}" --memory "${MEMORY}" --work-dir "${WORK_DIR}"
              --properties-file "${PROPS}" "${MASTER_URL}")
        SUMMARY="worker ${POD_IP}:${WORKER_PORT} ui=${UI_PORT} cores=${CORES} memory=${MEMORY}"
        SUMMARY="${SUMMARY} work-dir=${WORK_DIR} master=${MASTER_URL} decommission=${DECOMMISSION}"
        ;;
esac

# --- security (docs/security.md): secrets come only from FILES (a mounted Secret) ---
# Never from an env value or an argument: nothing secret appears in `ps`, in the startup line or
# in the daemon's log. Without the files the daemons start open, as before (local development).
#
# SPARK_AUTH_SECRET_FILE (master, worker): spark.authenticate=true, every RPC (7077, 7078, drivers,
# executors) needs the shared secret. Standalone takes it by conf or by the environment only (the
# `spark.authenticate.secret.file` variants are refused outside Kubernetes as resource manager),
# so the daemon gets it as _SPARK_AUTH_SECRET, which Spark's SecurityManager.getSecretKey reads
# before the conf. A worker hands the same variable to every driver and executor it launches
# and strips -Dspark.authenticate.secret from their options (deploy/worker/CommandUtils.scala,
# buildLocalCommand): so the job API never sends the secret. One catch (SPARK-25078, apache/spark
# PR 58078): a driver's SparkContext refuses to start on a spark:// master unless its conf
# CONTAINS spark.authenticate.secret (SecurityManager.initializeAuth), although it then uses the
# environment's. So the worker gives its drivers a non-secret placeholder for that check through
# JAVA_TOOL_OPTIONS (never used as a key while _SPARK_AUTH_SECRET is set, and if it ever were, it
# would fail closed), plus spark.authenticate=true so any submission authenticates.
#
# SPARK_REST_JWS_KEY_FILE (master): the REST gateway (6066) answers only requests carrying
# `Authorization: Bearer <JWS>`, HS256-signed with this key and carrying an unexpired `exp`
# (org.apache.spark.ui.JWSFilter through spark.master.rest.filters; jjwt in SPARK_HOME/jars).
# The file holds the key base64url-encoded (>= 43 characters, i.e. >= 256 bits), exactly what the
# filter's `secretKey` parameter takes and what the job API decodes to sign. It goes into the
# properties file, which lives in a 0700 directory of this UID.
#
# Always: spark.ui.killEnabled=false (no kill buttons or kill POSTs on the daemons' and drivers'
# UIs; jobs are killed through the API only).
secret_from_file() {  # secret_from_file VAR: print the content of the file named by $VAR
    local path="${!1}" value
    [ -f "${path}" ] && [ -r "${path}" ] \
        || die "$1=${path} is not a readable file: mount the Secret there or unset $1"
    value="$(cat "${path}")" || die "$1=${path} cannot be read"
    value="${value%$'\n'}"
    value="${value%$'\r'}"
    [ -n "${value}" ] || die "$1=${path} is empty: put the secret in it or unset $1"
    printf '%s' "${value}"
}

unset _SPARK_AUTH_SECRET   # only ever from SPARK_AUTH_SECRET_FILE, never inherited
echo "spark.ui.killEnabled false" >>"${PROPS}"
SECURITY="rpc-auth=off"
if [ -n "${SPARK_AUTH_SECRET_FILE:-}" ]; then
    _SPARK_AUTH_SECRET="$(secret_from_file SPARK_AUTH_SECRET_FILE)" || exit 78
    export _SPARK_AUTH_SECRET
    echo "spark.authenticate true" >>"${PROPS}"
    SECURITY="rpc-auth=on"
fi
if [ "${ROLE}" = worker ]; then
    DRIVER_OPTS="-Dspark.ui.killEnabled=false"
    # Drivers and executors of a decommissioning worker's apps: an executor told to decommission
    # finishes its tasks and exits instead of being killed with the worker.
    if [ "${DECOMMISSION}" = true ]; then
        DRIVER_OPTS="${DRIVER_OPTS} -Dspark.decommission.enabled=true"
    fi
    if [ -n "${_SPARK_AUTH_SECRET:-}" ]; then
        DRIVER_OPTS="${DRIVER_OPTS} -Dspark.authenticate=true"
        PLACEHOLDER="not-the-secret:see-_SPARK_AUTH_SECRET"
        DRIVER_OPTS="${DRIVER_OPTS} -Dspark.authenticate.secret=${PLACEHOLDER}"
    fi
    export JAVA_TOOL_OPTIONS="${JAVA_TOOL_OPTIONS:+${JAVA_TOOL_OPTIONS} }${DRIVER_OPTS}"
fi
if [ "${ROLE}" = master ]; then
    SECURITY="${SECURITY} rest-auth=off"
    if [ -n "${SPARK_REST_JWS_KEY_FILE:-}" ]; then
        JWS_KEY="$(secret_from_file SPARK_REST_JWS_KEY_FILE)" || exit 78
        case "${JWS_KEY}" in
            *[!A-Za-z0-9_-]*) die "SPARK_REST_JWS_KEY_FILE=${SPARK_REST_JWS_KEY_FILE} must hold" \
                                  "a base64url key (A-Z a-z 0-9 - _, no padding)" ;;
        esac
        [ "${#JWS_KEY}" -ge 43 ] && [ $(( ${#JWS_KEY} % 4 )) -ne 1 ] \
            || die "SPARK_REST_JWS_KEY_FILE=${SPARK_REST_JWS_KEY_FILE} holds ${#JWS_KEY}" \
                   "characters: a key needs >= 43 (256 bits) and no length of 4n+1" \
                   "(not base64); generate e.g. 64"
        {
            echo "spark.master.rest.filters org.apache.spark.ui.JWSFilter"
            echo "spark.org.apache.spark.ui.JWSFilter.param.secretKey ${JWS_KEY}"
            echo "spark.org.apache.spark.ui.JWSFilter.param.requireExpiration true"
        } >>"${PROPS}"
        unset JWS_KEY
        SECURITY="${SECURITY% rest-auth=off} rest-auth=jws"
    fi
fi
SUMMARY="${SUMMARY} ${SECURITY}"

# --- JVM flags ---
JVM_OPTS="${SPARK_DAEMON_JAVA_OPTS:-}"
CDS_NOTE="off"
ARCHIVE=""
ARCHIVE_TMP=""
if [ "${FAST_START}" = true ]; then
    JVM_OPTS="${JVM_OPTS} -XX:TieredStopAtLevel=1"
    ARCHIVE="$(daemon_archive "${ROLE}")"
    if [ -s "${ARCHIVE}" ]; then
        JVM_OPTS="${JVM_OPTS} -XX:SharedArchiveFile=${ARCHIVE}"
        CDS_NOTE="using ${ARCHIVE}"
    elif mkdir -p "${SPARK_CDS_DIR}" 2>/dev/null && [ -w "${SPARK_CDS_DIR}" ]; then
        # Per-PID name: this shell's PID is unique on the host while it lives (it supervises).
        ARCHIVE_TMP="${ARCHIVE}.$$.$(hostname 2>/dev/null || echo h).tmp"
        JVM_OPTS="${JVM_OPTS} -XX:ArchiveClassesAtExit=${ARCHIVE_TMP}"
        CDS_NOTE="creating ${ARCHIVE} on graceful stop"
    else
        CDS_NOTE="off (SPARK_CDS_DIR=${SPARK_CDS_DIR} is not writable)"
    fi
fi
export SPARK_DAEMON_JAVA_OPTS="${JVM_OPTS# }"

# Drivers and executors: the worker launches them with a plain `java` and the environment it
# inherited, so an archive named in JAVA_TOOL_OPTIONS reaches both without the job API knowing any
# worker path (the worker's own -XX:SharedArchiveFile on its command line wins over it). Only
# while the worker maps its own archive: a -XX:ArchiveClassesAtExit run must not see another.
# CDS warnings go to stderr: the JVM prints them on stdout by default, which is the job's output
# for a driver and the command channel for spark-class's launcher (which therefore keeps the
# JDK's default archive through SPARK_LAUNCHER_OPTS instead of a mismatched job archive).
JOB_CDS_NOTE="off"
if [ "${ROLE}" = worker ] && [ "${FAST_START}" = true ]; then
    JOB_ARCHIVE="$(job_archive)"
    if [ ! -s "${JOB_ARCHIVE}" ]; then
        JOB_CDS_NOTE="none (no ${JOB_ARCHIVE}: make-cds.sh makes it with a warm-up job)"
    elif [ -n "${ARCHIVE_TMP}" ] || [ ! -s "${ARCHIVE}" ]; then
        JOB_CDS_NOTE="not this run (the worker records its own archive)"
    else
        JOB_CDS_NOTE=use
        case " ${JAVA_TOOL_OPTIONS:-} " in
            *" -XX:SharedArchiveFile="*) JOB_CDS_NOTE="off (JAVA_TOOL_OPTIONS names an archive)" ;;
        esac
        case "${JOB_ARCHIVE}" in
            *[[:space:]]*) JOB_CDS_NOTE="off (whitespace in ${JOB_ARCHIVE})" ;;
        esac
    fi
    if [ "${JOB_CDS_NOTE}" = use ]; then
        JAVA_TOOL_OPTIONS="${JAVA_TOOL_OPTIONS:-} -XX:SharedArchiveFile=${JOB_ARCHIVE}"
        JAVA_TOOL_OPTIONS="${JAVA_TOOL_OPTIONS} -Xlog:cds*=off -Xlog:cds*=warning:stderr"
        export JAVA_TOOL_OPTIONS="${JAVA_TOOL_OPTIONS# }"
        JDK_ARCHIVE="$(jdk_default_archive)"
        if [ -n "${JDK_ARCHIVE}" ]; then
            SPARK_LAUNCHER_OPTS="${SPARK_LAUNCHER_OPTS:-} -XX:SharedArchiveFile=${JDK_ARCHIVE}"
            export SPARK_LAUNCHER_OPTS="${SPARK_LAUNCHER_OPTS# }"
        fi
        JOB_CDS_NOTE="using ${JOB_ARCHIVE}"
    fi
fi

echo "entrypoint: starting Spark ${SUMMARY} host=${POD_IP}" \
     "daemon-memory=${SPARK_DAEMON_MEMORY} fast-start=${FAST_START} cds=${CDS_NOTE}" \
     "job-cds=${JOB_CDS_NOTE}" \
     "spark-home=${SPARK_HOME} home=${HOME}"

# The worker JVM's PID for decommission.sh (spark-class execs java, so it is this shell's PID or
# the supervised child's), in the pod's work dir: the hook runs with the same environment.
pid_file() { [ "${ROLE}" != worker ] || echo "$1" >"${WORK_DIR}/${WORKER_PID_FILE}"; }
WORKER_PID_FILE=".worker.pid"

if [ -z "${ARCHIVE_TMP}" ]; then
    pid_file "$$"
    exec "${SPARK_HOME}/bin/spark-class" "${CLASS}" "${ARGS[@]}"
fi

# First run of this role: supervise the JVM so the archive can be renamed once it is complete.
"${SPARK_HOME}/bin/spark-class" "${CLASS}" "${ARGS[@]}" &
CHILD=$!
pid_file "${CHILD}"
# shellcheck disable=SC2317  # called by the traps below
forward() { kill -s "$1" "${CHILD}" 2>/dev/null || true; }
trap 'forward TERM' TERM
trap 'forward INT' INT
set +e
while :; do
    wait "${CHILD}"
    STATUS=$?
    # wait returns >128 when a trapped signal interrupts it; the child may still be running.
    kill -0 "${CHILD}" 2>/dev/null || break
done
set -e
if [ -s "${ARCHIVE_TMP}" ] && [ "${STATUS}" -ne 137 ]; then
    if [ -e "${ARCHIVE}" ]; then
        rm -f "${ARCHIVE_TMP}"   # another daemon finished first; its archive is as good
    else
        mv -f "${ARCHIVE_TMP}" "${ARCHIVE}" && echo "entrypoint: CDS archive ready: ${ARCHIVE}"
    fi
else
    rm -f "${ARCHIVE_TMP}"
fi
exit "${STATUS}"
