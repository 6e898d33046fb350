"""The stack as the rendered manifests describe it: workloads, Services and what cannot be honored.

Built ONLY from rendered (and validated) manifests, never from values: the backends must run what
Helm would install, so a chart bug shows up here exactly as it would on a cluster. Secrets and
ConfigMaps referenced by ``valueFrom`` are resolved against the rendered objects plus any extra
objects the caller adds (the owner Secret the simulator creates outside the release, as
``kubectl create secret`` would). Everything a local backend cannot reproduce is collected as a
``Note`` so ``up`` can report it instead of ignoring it.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

WORKLOAD_KINDS = ("Deployment", "StatefulSet")
COMPONENT_LABEL = "app.kubernetes.io/component"
# Kinds that only carry data or identity: nothing to run and nothing lost by not enforcing them.
_PASSIVE_KINDS = {"Secret", "ConfigMap", "ServiceAccount", "Role", "RoleBinding", "ClusterRole",
                  "ClusterRoleBinding", "PodDisruptionBudget"}
# A claim is honored through the volumes that mount it: a directory of the run that outlives
# the pods (its size and storage class are not).
_CLAIM_NOTE = "a directory of the run that outlives its pods; size and storageClass not honored"
_HONORED_VOLUMES = ("emptyDir", "secret", "configMap", "persistentVolumeClaim")
FIELD_REFS = ("status.podIP", "metadata.name", "metadata.namespace")


class TopologyError(ValueError):
    """The manifests reference something that does not exist (a Secret key, a port name)."""


@dataclass(frozen=True)
class Note:
    """Something in the manifests the backend does not honor, and why it matters."""

    subject: str
    what: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.what}"


@dataclass(frozen=True)
class EnvVar:
    """One container env var: a literal (already resolved from Secret/ConfigMap) or a fieldRef.

    fieldRefs stay symbolic because they differ per pod (``status.podIP``, ``metadata.name``).
    """

    name: str
    value: str | None = None
    field_ref: str | None = None
    secret: bool = False  # came from a Secret: never print it

    def resolve(self, pod_name: str, pod_ip: str, namespace: str) -> str:
        if self.field_ref is None:
            return self.value or ""
        return {"status.podIP": pod_ip, "metadata.name": pod_name,
                "metadata.namespace": namespace}[self.field_ref]


@dataclass(frozen=True)
class ContainerPort:
    name: str | None
    port: int


@dataclass(frozen=True)
class Probe:
    """A startup, readiness or liveness probe: ``kind`` is httpGet | tcpSocket | exec."""

    kind: str
    port: int | None = None
    path: str = "/"
    command: tuple[str, ...] = ()
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    failure_threshold: int = 3


@dataclass(frozen=True)
class VolumeMount:
    name: str
    mount_path: str
    kind: str  # emptyDir | secret | configMap | <other kind, not honored>
    files: tuple[tuple[str, str], ...] = ()  # (relative path, content) for secret/configMap
    read_only: bool = False
    size_limit: str | None = None  # an emptyDir's sizeLimit (Kubernetes quantity)
    claim: str | None = None       # a persistentVolumeClaim's claimName


@dataclass(frozen=True)
class Security:
    """The pod's and the container's securityContext, merged as the kubelet applies them."""

    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool = False
    fs_group: int | None = None
    read_only_root: bool = False
    allow_privilege_escalation: bool = True
    drop_capabilities: tuple[str, ...] = ()
    add_capabilities: tuple[str, ...] = ()
    seccomp: str | None = None  # RuntimeDefault | Unconfined | Localhost


@dataclass(frozen=True)
class Resources:
    """``resources.limits`` as numbers: bytes of memory, CPUs (``500m`` → 0.5)."""

    memory_limit: int | None = None
    cpu_limit: float | None = None


@dataclass(frozen=True)
class Container:
    name: str
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: tuple[EnvVar, ...]
    ports: tuple[ContainerPort, ...]
    readiness: Probe | None
    mounts: tuple[VolumeMount, ...] = ()
    startup: Probe | None = None
    liveness: Probe | None = None
    security: Security = Security()
    resources: Resources = Resources()
    pre_stop: tuple[str, ...] = ()  # lifecycle.preStop.exec.command (run before SIGTERM)

    @property
    def image_repo(self) -> str:
        """The image without tag or digest: ``registry/ns/spark-job:4.3.0`` → ``.../spark-job``."""
        repo = self.image.split("@", 1)[0]
        last = repo.rsplit("/", 1)[-1]
        if ":" in last:
            repo = repo[: len(repo) - len(last)] + last.split(":", 1)[0]
        return repo

    def port_number(self, port: int | str) -> int:
        """A probe's or Service's target port, by number or by container port name."""
        if isinstance(port, int) or str(port).isdigit():
            return int(port)
        for p in self.ports:
            if p.name == port:
                return p.port
        raise TopologyError(f"container {self.name!r}: no port named {port!r} "
                            f"(it has {[p.name for p in self.ports]})")


@dataclass(frozen=True)
class Workload:
    kind: str
    name: str
    namespace: str
    labels: Mapping[str, str]
    replicas: int
    pod_labels: Mapping[str, str]
    containers: tuple[Container, ...]
    template_hash: str  # changes when the pod template changes: the reconcile key
    restart_policy: str = "Always"
    termination_grace: float = 30.0

    @property
    def component(self) -> str:
        return self.labels.get(COMPONENT_LABEL) or self.pod_labels.get(COMPONENT_LABEL, "")

    @property
    def main(self) -> Container:
        return self.containers[0]

    def pod_names(self, replicas: int | None = None) -> list[str]:
        """Stable ordinal names (StatefulSet style) also for Deployments: the reconcile keeps
        ``name-0`` running while it adds ``name-2``."""
        n = self.replicas if replicas is None else replicas
        return [f"{self.name}-{i}" for i in range(n)]


@dataclass(frozen=True)
class ServicePort:
    name: str | None
    port: int
    target_port: int | str


@dataclass(frozen=True)
class Service:
    name: str
    namespace: str
    headless: bool
    selector: Mapping[str, str]
    ports: tuple[ServicePort, ...]

    def selects(self, workload: Workload) -> bool:
        return bool(self.selector) and all(
            workload.pod_labels.get(k) == v for k, v in self.selector.items())

    def host_names(self) -> list[str]:
        """Every spelling a pod may use for this Service, longest first."""
        base = self.name
        ns = self.namespace
        return [f"{base}.{ns}.svc.cluster.local", f"{base}.{ns}.svc", f"{base}.{ns}", base]


@dataclass
class Topology:
    namespace: str
    workloads: list[Workload] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    def workload(self, name: str) -> Workload:
        for w in self.workloads:
            if w.name == name:
                return w
        raise KeyError(name)

    def by_component(self, component: str) -> list[Workload]:
        return [w for w in self.workloads if w.component == component]

    def service(self, name: str) -> Service:
        for s in self.services:
            if s.name == name:
                return s
        raise KeyError(name)

    def endpoints_of(self, service: Service) -> list[Workload]:
        return [w for w in self.workloads if service.selects(w)]

    def referenced_services(self, workload: Workload) -> list[Service]:
        """Services named in the workload's env values or args: what it depends on."""
        text = "\n".join([v.value or "" for c in workload.containers for v in c.env]
                         + [a for c in workload.containers for a in c.args])
        return [s for s in self.services if _host_pattern(s).search(text)]

    def start_order(self) -> list[list[Workload]]:
        """Workloads in waves: a wave starts once every workload it references is ready.

        A reference cycle (or a reference to the workload itself) is not a dependency.
        """
        deps: dict[str, set[str]] = {}
        for w in self.workloads:
            deps[w.name] = {e.name for s in self.referenced_services(w)
                            for e in self.endpoints_of(s) if e.name != w.name}
        waves: list[list[Workload]] = []
        done: set[str] = set()
        remaining = list(self.workloads)
        while remaining:
            wave = [w for w in remaining if deps[w.name] <= done]
            if not wave:  # a cycle: start the rest together rather than never
                wave = remaining
            waves.append(wave)
            done |= {w.name for w in wave}
            remaining = [w for w in remaining if w.name not in done]
        return waves


def _host_pattern(service: Service) -> re.Pattern[str]:
    names = "|".join(re.escape(h) for h in service.host_names())
    # Not part of a longer DNS name on either side (``rel-spark-master`` must not match inside
    # ``rel-spark-master-headless``), optionally followed by ``:port``.
    return re.compile(rf"(?<![\w.-])(?:{names})(?![\w-]|\.[\w-])(?::(\d+))?")


def resolve_hosts(value: str, addresses: Mapping[str, str], services: Iterable[Service]) -> str:
    """Replace Service host names in ``value`` by the address the backend gives each Service.

    ``addresses`` maps Service name → IP (a headless Service's endpoint pod IP, or a ClusterIP
    Service's proxy IP). A ``:port`` suffix is kept: the proxy listens on the Service port, and a
    headless Service's port is the pod's own.
    """
    for svc in services:
        if svc.name not in addresses:
            continue
        ip = addresses[svc.name]
        value = _host_pattern(svc).sub(
            lambda m, ip=ip: ip + (f":{m.group(1)}" if m.group(1) else ""), value)
    return value


def _decode_secret(obj: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for key, raw in (obj.get("data") or {}).items():
        out[key] = base64.b64decode(raw).decode("utf-8")
    for key, raw in (obj.get("stringData") or {}).items():
        out[key] = str(raw)
    return out


def _lookup(store: Mapping[str, Mapping[str, str]], kind: str, ref: Mapping[str, Any],
            subject: str) -> str | None:
    name, key = ref.get("name"), ref.get("key")
    optional = bool(ref.get("optional"))
    if name not in store:
        if optional:
            return None
        raise TopologyError(f"{subject}: {kind} {name!r} is not among the rendered objects "
                            f"nor the extra objects; create it or fix the reference")
    if key not in store[name]:
        if optional:
            return None
        raise TopologyError(f"{subject}: {kind} {name!r} has no key {key!r} "
                            f"(keys: {sorted(store[name])})")
    return store[name][key]


def _probe(spec: Mapping[str, Any] | None, container_ports: list[ContainerPort],
           subject: str, which: str = "readiness") -> Probe | None:
    if not spec:
        return None
    common = dict(initial_delay=float(spec.get("initialDelaySeconds", 0)),
                  period=float(spec.get("periodSeconds", 10)),
                  timeout=float(spec.get("timeoutSeconds", 1)),
                  failure_threshold=int(spec.get("failureThreshold", 3)))

    def port(p: int | str) -> int:
        if isinstance(p, int) or str(p).isdigit():
            return int(p)
        for cp in container_ports:
            if cp.name == p:
                return cp.port
        raise TopologyError(f"{subject}: {which} probe names port {p!r}, which the container "
                            f"does not declare")

    if "httpGet" in spec:
        h = spec["httpGet"]
        return Probe("httpGet", port=port(h["port"]), path=h.get("path", "/"), **common)
    if "tcpSocket" in spec:
        return Probe("tcpSocket", port=port(spec["tcpSocket"]["port"]), **common)
    if "exec" in spec:
        return Probe("exec", command=tuple(spec["exec"].get("command") or ()), **common)
    raise TopologyError(f"{subject}: {which} probe kind {sorted(spec)} is not supported")


def _env(specs: list[Mapping[str, Any]], secrets: Mapping[str, Mapping[str, str]],
         configmaps: Mapping[str, Mapping[str, str]], subject: str,
         notes: list[Note]) -> tuple[EnvVar, ...]:
    out: list[EnvVar] = []
    for spec in specs or []:
        name = spec["name"]
        where = f"{subject} env {name}"
        if "valueFrom" not in spec:
            out.append(EnvVar(name, value=str(spec.get("value", ""))))
            continue
        src = spec["valueFrom"]
        if "secretKeyRef" in src:
            val = _lookup(secrets, "Secret", src["secretKeyRef"], where)
            if val is not None:
                out.append(EnvVar(name, value=val, secret=True))
        elif "configMapKeyRef" in src:
            val = _lookup(configmaps, "ConfigMap", src["configMapKeyRef"], where)
            if val is not None:
                out.append(EnvVar(name, value=val))
        elif "fieldRef" in src:
            path = src["fieldRef"].get("fieldPath", "")
            if path not in FIELD_REFS:
                notes.append(Note(where, f"fieldRef {path!r} is not provided (only "
                                         f"{', '.join(FIELD_REFS)}); left unset"))
                continue
            out.append(EnvVar(name, field_ref=path))
        else:
            notes.append(Note(where, f"valueFrom {sorted(src)} is not honored; left unset"))
    return tuple(out)


def _mounts(container: Mapping[str, Any], volumes: Mapping[str, Mapping[str, Any]],
            secrets: Mapping[str, Mapping[str, str]], configmaps: Mapping[str, Mapping[str, str]],
            subject: str, notes: list[Note]) -> tuple[VolumeMount, ...]:
    out = []
    for m in container.get("volumeMounts") or []:
        vol = volumes.get(m["name"], {})
        kind = next((k for k in vol if k != "name"), "unknown")
        files: tuple[tuple[str, str], ...] = ()
        if kind not in _HONORED_VOLUMES:
            notes.append(Note(f"{subject} volume {m['name']}",
                              f"{kind} volumes are not honored (only emptyDir, Secret, "
                              f"ConfigMap); {m['mountPath']} is an empty directory"))
        elif kind in ("secret", "configMap"):
            ref = vol[kind].get("secretName" if kind == "secret" else "name")
            store = secrets if kind == "secret" else configmaps
            data = store.get(ref)
            if data is None:
                if not vol[kind].get("optional"):
                    raise TopologyError(f"{subject} volume {m['name']}: {kind} {ref!r} does "
                                        f"not exist")
                data = {}
            items = vol[kind].get("items")
            if items:
                files = tuple((it["path"], data[it["key"]]) for it in items if it["key"] in data)
            else:
                files = tuple(sorted(data.items()))
            if m.get("subPath"):
                files = tuple((p, c) for p, c in files if p == m["subPath"])
        size = vol.get("emptyDir", {}).get("sizeLimit") if kind == "emptyDir" else None
        claim = vol["persistentVolumeClaim"]["claimName"] \
            if kind == "persistentVolumeClaim" else None
        out.append(VolumeMount(m["name"], m["mountPath"], kind, files,
                               read_only=bool(m.get("readOnly")),
                               size_limit=str(size) if size is not None else None, claim=claim))
    return tuple(out)


_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SUFFIX = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20,
           "Gi": 2**30, "Ti": 2**40, "m": 1e-3}


def quantity(value: Any) -> float:
    """A Kubernetes quantity (``512Mi``, ``1G``, ``500m``, ``2``) as a number."""
    m = _QUANTITY.match(str(value).strip())
    if not m or m.group(2) not in _SUFFIX:
        raise TopologyError(f"{value!r} is not a Kubernetes quantity (e.g. 512Mi, 1Gi, 500m)")
    return float(m.group(1)) * _SUFFIX[m.group(2)]


def _security(pod: Mapping[str, Any], spec: Mapping[str, Any]) -> Security:
    psc, csc = pod.get("securityContext") or {}, spec.get("securityContext") or {}

    def pick(key: str) -> Any:  # the container's setting wins over the pod's
        return csc.get(key, psc.get(key))

    caps = csc.get("capabilities") or {}
    seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    return Security(run_as_user=pick("runAsUser"), run_as_group=pick("runAsGroup"),
                    run_as_non_root=bool(pick("runAsNonRoot")), fs_group=psc.get("fsGroup"),
                    read_only_root=bool(csc.get("readOnlyRootFilesystem")),
                    allow_privilege_escalation=csc.get("allowPrivilegeEscalation", True),
                    drop_capabilities=tuple(caps.get("drop") or ()),
                    add_capabilities=tuple(caps.get("add") or ()), seccomp=seccomp)


def _resources(spec: Mapping[str, Any]) -> Resources:
    limits = (spec.get("resources") or {}).get("limits") or {}
    return Resources(
        memory_limit=int(quantity(limits["memory"])) if "memory" in limits else None,
        cpu_limit=quantity(limits["cpu"]) if "cpu" in limits else None)


def _container(spec: Mapping[str, Any], volumes: Mapping[str, Mapping[str, Any]],
               secrets: Mapping[str, Mapping[str, str]],
               configmaps: Mapping[str, Mapping[str, str]], subject: str,
               notes: list[Note], pod: Mapping[str, Any] | None = None) -> Container:
    where = f"{subject} container {spec['name']}"
    ports = [ContainerPort(p.get("name"), int(p["containerPort"])) for p in spec.get("ports") or []]
    return Container(
        name=spec["name"], image=str(spec.get("image", "")),
        command=tuple(str(c) for c in spec.get("command") or ()),
        args=tuple(str(a) for a in spec.get("args") or ()),
        env=_env(spec.get("env") or [], secrets, configmaps, where, notes),
        ports=tuple(ports), readiness=_probe(spec.get("readinessProbe"), ports, where),
        mounts=_mounts(spec, volumes, secrets, configmaps, where, notes),
        startup=_probe(spec.get("startupProbe"), ports, where, "startup"),
        liveness=_probe(spec.get("livenessProbe"), ports, where, "liveness"),
        security=_security(pod or {}, spec), resources=_resources(spec),
        pre_stop=_pre_stop(spec, where, notes))


def _pre_stop(spec: Mapping[str, Any], where: str, notes: list[Note]) -> tuple[str, ...]:
    """``lifecycle.preStop.exec.command``: the backends run it in the pod before SIGTERM,
    within the pod's grace period, as the kubelet does; other handlers are noted, not run."""
    hook = (spec.get("lifecycle") or {}).get("preStop") or {}
    if "exec" in hook:
        return tuple(str(c) for c in hook["exec"].get("command") or ())
    if hook:
        notes.append(Note(f"{where} preStop", f"handler {sorted(hook)} is not run by this "
                                              f"backend (only exec)"))
    return ()


def build(manifests: Iterable[Mapping[str, Any]], namespace: str = "default",
          extra_objects: Iterable[Mapping[str, Any]] = ()) -> Topology:
    """The topology of ``manifests`` (hooks such as ``helm test`` pods already filtered out).

    ``extra_objects`` are objects that exist in the namespace outside the release (the owner
    Secret): they resolve references but are not part of the release.
    """
    manifests = list(manifests)
    everything = manifests + list(extra_objects)
    secrets = {o["metadata"]["name"]: _decode_secret(o) for o in everything
               if o.get("kind") == "Secret"}
    configmaps = {o["metadata"]["name"]: {k: str(v) for k, v in (o.get("data") or {}).items()}
                  for o in everything if o.get("kind") == "ConfigMap"}
    topo = Topology(namespace=namespace)
    for obj in manifests:
        kind = obj.get("kind", "")
        meta = obj.get("metadata") or {}
        name = meta.get("name", "")
        subject = f"{kind}/{name}"
        if kind in WORKLOAD_KINDS:
            topo.workloads.append(_workload(obj, namespace, secrets, configmaps, topo.notes))
        elif kind == "Service":
            spec = obj.get("spec") or {}
            if spec.get("type") in ("NodePort", "LoadBalancer", "ExternalName"):
                topo.notes.append(Note(subject, f"type {spec['type']} is served as ClusterIP "
                                                f"on loopback"))
            topo.services.append(Service(
                name=name, namespace=meta.get("namespace", namespace),
                headless=spec.get("clusterIP") == "None",
                selector=dict(spec.get("selector") or {}),
                ports=tuple(ServicePort(p.get("name"), int(p["port"]),
                                        p.get("targetPort", p["port"]))
                            for p in spec.get("ports") or [])))
        elif kind == "NetworkPolicy":
            topo.notes.append(Note(subject, "NetworkPolicy is not enforced by this backend: "
                                            "every pod can reach every other"))
        elif kind == "PersistentVolumeClaim":
            topo.notes.append(Note(subject, _CLAIM_NOTE))
        elif kind in ("Route", "Ingress"):
            topo.notes.append(Note(subject, f"{kind} is not served: clients use the "
                                            f"endpoints `up --json` prints"))
        elif kind not in _PASSIVE_KINDS:
            topo.notes.append(Note(subject, f"kind {kind} is not acted on by this backend"))
    return topo


def _workload(obj: Mapping[str, Any], namespace: str, secrets: Mapping[str, Mapping[str, str]],
              configmaps: Mapping[str, Mapping[str, str]], notes: list[Note]) -> Workload:
    meta = obj["metadata"]
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    pod = template.get("spec") or {}
    subject = f"{obj['kind']}/{meta['name']}"
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    for ic in pod.get("initContainers") or []:
        notes.append(Note(f"{subject} initContainer {ic.get('name')}",
                          "init containers are not run by this backend"))
    containers = tuple(_container(c, volumes, secrets, configmaps, subject, notes, pod)
                       for c in pod.get("containers") or [])
    if not containers:
        raise TopologyError(f"{subject}: the pod template has no containers")
    template_hash = hashlib.sha256(
        json.dumps(template, sort_keys=True).encode()).hexdigest()[:16]
    return Workload(kind=obj["kind"], name=meta["name"],
                    namespace=meta.get("namespace", namespace),
                    labels=dict(meta.get("labels") or {}),
                    replicas=int(spec.get("replicas", 1)),
                    pod_labels=dict((template.get("metadata") or {}).get("labels") or {}),
                    containers=containers, template_hash=template_hash,
                    restart_policy=str(pod.get("restartPolicy", "Always")),
                    termination_grace=float(pod.get("terminationGracePeriodSeconds", 30)))


def secret_manifest(name: str, namespace: str, data: Mapping[str, str]) -> dict[str, Any]:
    """A Secret as ``kubectl create secret generic NAME --from-literal=k=v`` would create it."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
