# shellcheck shell=bash
# Sourced by entrypoint.sh and make-cds.sh: where the AppCDS archives live and what they are called.
#
# One place for the names, so the build-time/warm-up step (make-cds.sh) writes exactly the files
# the entrypoint later maps. An archive is only valid for one Java build, one Spark build and one
# classpath, so all three are in the name:
#   <role>-<spark>-<java>-<cp hash>.jsa    master / worker daemons (classpath: spark-class's)
#   job-<spark>-<java>-<cp hash>.jsa       drivers AND executors the worker launches
# Every one of these classpaths is "<SPARK_CONF_DIR>/:<SPARK_HOME>/jars/...", hence the hash of
# both paths: two Spark installs sharing one cache (two checkouts, two tox envs) never map each
# other's archives and silently lose CDS.
# Needs SPARK_HOME and SPARK_CDS_DIR set; defines functions only.

java_version() {
    local java real release
    java="${JAVA_HOME:+${JAVA_HOME}/bin/java}"
    java="${java:-$(command -v java || true)}"
    [ -n "${java}" ] || { echo "no java: install a JRE 17 or set JAVA_HOME" >&2; return 1; }
    real="$(readlink -f "${java}")"
    release="$(dirname "$(dirname "${real}")")/release"
    if [ -r "${release}" ] && grep -q '^JAVA_VERSION=' "${release}"; then
        sed -n 's/^JAVA_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "${release}"
    else
        "${java}" -version 2>&1 | sed -n '1s/.*version "\([^"]*\)".*/\1/p'
    fi
}

# The JDK's own default CDS archive (JDK classes only), or nothing if this JRE has none.
jdk_default_archive() {
    local java real
    java="${JAVA_HOME:+${JAVA_HOME}/bin/java}"
    java="${java:-$(command -v java || true)}"
    [ -n "${java}" ] || return 0
    real="$(readlink -f "${java}")"
    real="$(dirname "$(dirname "${real}")")/lib/server/classes.jsa"
    if [ -s "${real}" ]; then echo "${real}"; fi
}

spark_version() {
    local jar
    for jar in "${SPARK_HOME}"/jars/spark-core_*.jar; do
        [ -e "${jar}" ] || break
        jar="${jar##*/spark-core_}"   # 2.13-4.3.0.jar
        jar="${jar#*-}"               # 4.3.0.jar
        echo "${jar%.jar}"
        return
    done
    echo unknown
}

# SPARK_CONF_DIR when the caller did not set one: it is on every classpath (daemons, drivers,
# executors), must be EMPTY (CDS refuses a non-empty directory) and must not move between runs.
default_conf_dir() {
    echo "${SPARK_CDS_DIR}/empty-conf"
}

classpath_hash() {  # of the two paths every Spark JVM's classpath is made of
    printf '%s\n%s\n' "${SPARK_CONF_DIR:-$(default_conf_dir)}" "${SPARK_HOME}" \
        | sha256sum | cut -c1-12
}

daemon_archive() {  # daemon_archive ROLE
    echo "${SPARK_CDS_DIR}/$1-$(spark_version)-$(java_version)-$(classpath_hash).jsa"
}

job_archive() {  # needs SPARK_CONF_DIR (the worker's, which its drivers and executors inherit)
    echo "${SPARK_CDS_DIR}/job-$(spark_version)-$(java_version)-$(classpath_hash).jsa"
}
