#!/usr/bin/env bash
# Build the local base image debian:bookworm-slim from Debian packages (no registry pull).
#
#   images/base/build-base.sh            # does nothing if the image already exists
#   BASE_IMAGE=debian:bookworm-slim DEBIAN_MIRROR=http://deb.debian.org/debian \
#       images/base/build-base.sh
#
# No image can be pulled on these machines, so the Dockerfiles' `FROM debian:bookworm-slim` is
# satisfied by a debootstrap minbase root filesystem imported under that very name: the
# Dockerfiles stay unchanged and build the same way on users' machines, where the real image is
# pulled. HTTPS egress here goes through a proxy with its own CA, so the host's CA certificates
# go into the base and PIP_CERT / SSL_CERT_FILE / REQUESTS_CA_BUNDLE point at the bundle
# (docs/design.md section 6): without it pip inside a build fails with CERTIFICATE_VERIFY_FAILED.
# Needs root (debootstrap) and a running Docker engine.
set -euo pipefail

IMAGE="${BASE_IMAGE:-debian:bookworm-slim}"
SUITE="${DEBIAN_SUITE:-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
BUNDLE=/etc/ssl/certs/ca-certificates.crt

if docker image inspect "${IMAGE}" >/dev/null 2>&1; then
    echo "build-base: ${IMAGE} already exists: nothing to do"
    exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
    echo "build-base: installing debootstrap"
    apt-get install -y --no-install-recommends debootstrap >/dev/null || {
        apt-get update >/dev/null
        apt-get install -y --no-install-recommends debootstrap >/dev/null
    }
fi

ROOTFS="$(mktemp -d "${TMPDIR:-/tmp}/spark-stack-rootfs.XXXXXX")"
trap 'rm -rf "${ROOTFS}"' EXIT

started=$(date +%s)
echo "build-base: debootstrap --variant=minbase ${SUITE} from ${MIRROR} (~25 s)"
debootstrap --variant=minbase "${SUITE}" "${ROOTFS}" "${MIRROR}" >"${ROOTFS}.log" 2>&1 || {
    tail -n 30 "${ROOTFS}.log" >&2
    rm -f "${ROOTFS}.log"
    echo "build-base: debootstrap failed (see above); is ${MIRROR} reachable?" >&2
    exit 1
}
rm -f "${ROOTFS}.log"

# The host's CA certificates: the extra ones (so a later `apt-get install ca-certificates`
# inside an image keeps them) and the ready bundle (so tools work before that).
mkdir -p "${ROOTFS}/usr/local/share/ca-certificates" "${ROOTFS}/etc/ssl/certs"
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "${ROOTFS}/usr/local/share/ca-certificates/"
fi
if [ -r "${BUNDLE}" ]; then
    cp "${BUNDLE}" "${ROOTFS}${BUNDLE}"
fi

# Slim it the way the upstream -slim image is: no package lists, caches, docs or man pages.
rm -rf "${ROOTFS}"/var/lib/apt/lists/* "${ROOTFS}"/var/cache/apt/*.bin \
       "${ROOTFS}"/var/cache/apt/archives/*.deb "${ROOTFS}"/usr/share/doc/* \
       "${ROOTFS}"/usr/share/man/* "${ROOTFS}"/usr/share/info/*

echo "build-base: importing ${ROOTFS} as ${IMAGE}"
tar -C "${ROOTFS}" -c . | docker import \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV PIP_CERT=${BUNDLE}" \
    --change "ENV SSL_CERT_FILE=${BUNDLE}" \
    --change "ENV REQUESTS_CA_BUNDLE=${BUNDLE}" \
    --change 'CMD ["bash"]' \
    - "${IMAGE}" >/dev/null
echo "build-base: ${IMAGE} ready in $(( $(date +%s) - started )) s" \
     "($(docker image inspect -f '{{.Size}}' "${IMAGE}") bytes)"
