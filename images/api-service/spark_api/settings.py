"""Service settings from the environment (prefix SPARK_API_, see docs/contracts.md).

The service refuses to start with a missing or placeholder owner secret unless auth is
explicitly ``disabled``: the secret is what ties job ids to their owners.
"""
from __future__ import annotations

import json
import os
import re
import ssl
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .rest_auth import load_key
from .subject_scopes import SubjectScopes

PACKAGED_CATALOG = Path(__file__).resolve().parent / "catalog.json"
_PLACEHOLDERS = {"", "changeme", "change-me", "secret", "placeholder", "default", "xxx",
                 "todo", "password", "insecure"}
_MEMORY = re.compile(r"^[1-9][0-9]*[mMgG]$")
MIN_MEMORY_MB = 512  # below ~450 MiB of heap Spark refuses to start a driver or an executor


class AuthMode(str, Enum):
    OIDC = "oidc"
    OPENSHIFT_PROXY = "openshift-proxy"
    DISABLED = "disabled"


def memory_mb(value: str) -> int:
    """'512m' -> 512, '2g' -> 2048 (the only forms Spark and the API accept)."""
    if not _MEMORY.match(value):
        raise ValueError(f"{value!r} is not a memory size like '512m' or '1g'")
    number, unit = int(value[:-1]), value[-1].lower()
    return number * 1024 if unit == "g" else number


class Settings(BaseSettings):
    """Everything configurable, read once at start."""

    model_config = SettingsConfigDict(env_prefix="SPARK_API_", extra="ignore")

    host: str = Field(default_factory=lambda: os.environ.get("POD_IP") or "127.0.0.1")
    port: int = Field(default=8000, ge=1, le=65535)
    master_url: str
    master_rest_port: int = Field(default=6066, ge=1, le=65535)
    master_ui_port: int = Field(default=8080, ge=1, le=65535)
    auth_mode: AuthMode = AuthMode.OIDC
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    # TLS trust for discovery/JWKS (alone, replacing the system store), e.g. the cluster CA.
    oidc_ca_file: Path | None = None
    # Sent as a bearer token on discovery/JWKS fetches, only to the issuer's hosts over https
    # (issuer_access.py states the rule); read again on every fetch (the kubelet rotates it).
    oidc_discovery_token_file: Path | None = None
    # Scopes for tokens without a scope claim, by subject pattern (subject_scopes.py).
    oidc_subject_scopes: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    owner_secret: SecretStr | None = None
    # The same key read from a file (a mounted Secret), so it is never in the environment.
    owner_secret_file: Path | None = None
    catalog_path: Path = PACKAGED_CATALOG
    jobs_dir: str = "/opt/spark-jobs"
    driver_java_options: str = "-XX:TieredStopAtLevel=1"
    # Caps on what one submission may ask for (over a cap -> 422 naming the field).
    max_driver_memory: str = "1g"
    max_executor_memory: str = "1g"
    max_executor_cores: int = Field(default=2, ge=1)
    max_cores: int = Field(default=4, ge=1)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # The master's REST gateway key (base64url text in a mounted Secret): every REST call is
    # signed with it (rest_auth.py). Unset: calls go unsigned (a master without the filter).
    rest_jws_key_file: Path | None = None
    # The cluster's RPC needs spark.authenticate: every submission asks for it (never the secret).
    spark_authenticate: bool = False
    # The Authorization header's size cap, checked before any parsing (over it: 401). Kubernetes
    # ServiceAccount tokens are ~1-2 KB, OAuth access tokens usually smaller.
    max_token_bytes: int = Field(default=8192, ge=1024, le=65536)
    # Longest token accepted: exp - iat (and exp - now) in seconds; longer-lived tokens are
    # refused with 401, as is an iat in the future (beyond a 30 s leeway).
    oidc_max_token_lifetime: int = Field(default=86400, ge=60)
    # JWKS refresh for an unknown kid: at most once per interval; after failures the wait
    # doubles up to the backoff cap (seconds).
    oidc_refresh_interval: float = Field(default=5.0, gt=0, le=3600)
    oidc_refresh_max_backoff: float = Field(default=60.0, gt=0, le=86400)
    # Admission control (admission.py): refuse with 429 + Retry-After a job the cluster has no
    # room for now (its driver and one executor), instead of letting it wait forever.
    admission_control: bool = True
    # `supervise: true` in a submission (spark.driver.supervise: the master relaunches a driver
    # whose worker died, and the worker restarts one that exits non-zero, without limit): off
    # unless the operator allows it, since a failing supervised job is restarted forever.
    allow_supervise: bool = False
    # Listing: how long one GET /v1/jobs waits for owner lookups (worker log reads) before it
    # answers with what it knows (partial: true), and how many lookups run at once (own pool).
    list_owner_budget: float = Field(default=3.0, gt=0, le=60)
    owner_lookup_concurrency: int = Field(default=8, ge=1, le=64)
    # Owner facts appended to a file on the pod's disk (owners.py): read by every process of the
    # replica and after a restart, so a job that never ran on a worker stays listed. Unset: kept
    # in memory only.
    owner_facts_file: Path | None = None
    # /livez fails when the master client's pool has only timed out for this long (watchdog.py).
    liveness_stall_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Prometheus /metrics is served on its own port (never through the API's Route or Ingress);
    # the address defaults to the main server's (SPARK_API_HOST). In openshift-proxy mode the API
    # listens on 127.0.0.1, so set SPARK_API_METRICS_HOST to the pod IP there. Port 0: off.
    metrics_host: str | None = None
    metrics_port: int = Field(default=9090, ge=0, le=65535)

    @field_validator("master_url")
    @classmethod
    def _spark_url(cls, value: str) -> str:
        if not re.match(r"^spark://[^/:\s]+(:\d+)?(,[^/:\s]+(:\d+)?)*$", value):
            raise ValueError(f"SPARK_API_MASTER_URL={value!r}: expected spark://host:7077")
        return value

    @field_validator("oidc_subject_scopes", mode="before")
    @classmethod
    def _subject_scopes(cls, value: Any) -> Any:
        SubjectScopes.parse(value)  # raises naming the pattern and the fix
        if isinstance(value, str):
            return {} if not value.strip() else json.loads(value)
        return value

    @field_validator("oidc_ca_file")
    @classmethod
    def _ca_file(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        try:
            ssl.create_default_context(cafile=str(value))
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"SPARK_API_OIDC_CA_FILE={str(value)!r} is not a readable PEM CA "
                             f"bundle ({exc}): mount the CA there, e.g. the ServiceAccount "
                             "ca.crt") from None
        return value

    @field_validator("oidc_discovery_token_file")
    @classmethod
    def _token_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"SPARK_API_OIDC_DISCOVERY_TOKEN_FILE={str(value)!r} is not a file: "
                             "mount a ServiceAccount token there (projected volume) or unset it")
        return value

    @field_validator("rest_jws_key_file")
    @classmethod
    def _rest_key(cls, value: Path | None) -> Path | None:
        if value is not None:
            load_key(value)  # raises naming SPARK_API_REST_JWS_KEY_FILE and the fix
        return value

    @field_validator("max_driver_memory", "max_executor_memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        memory_mb(value)
        return value

    @model_validator(mode="after")
    def _metrics_host(self) -> "Settings":
        if not self.metrics_host:
            self.metrics_host = self.host
        return self

    @model_validator(mode="after")
    def _owner_secret_from_file(self) -> "Settings":
        if self.owner_secret_file is None:
            return self
        if self.owner_secret is not None:
            raise ValueError("set SPARK_API_OWNER_SECRET or SPARK_API_OWNER_SECRET_FILE, not both")
        try:
            text = self.owner_secret_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"SPARK_API_OWNER_SECRET_FILE={str(self.owner_secret_file)!r} cannot "
                             f"be read ({exc.strerror}): mount the owner Secret there") from None
        self.owner_secret = SecretStr(text.rstrip("\r\n"))
        return self

    @model_validator(mode="after")
    def _auth_complete(self) -> "Settings":
        if self.auth_mode is AuthMode.DISABLED:
            return self
        secret = self.owner_secret.get_secret_value() if self.owner_secret else ""
        if secret.strip().lower() in _PLACEHOLDERS or len(secret) < 16:
            raise ValueError(
                "SPARK_API_OWNER_SECRET is missing, a placeholder or shorter than 16 characters: "
                "set it from a Secret (e.g. `openssl rand -hex 32`), or set "
                "SPARK_API_AUTH_MODE=disabled for local development only")
        if self.auth_mode is AuthMode.OIDC:
            missing = [name for name, value in (("SPARK_API_OIDC_ISSUER", self.oidc_issuer),
                                                ("SPARK_API_OIDC_AUDIENCE", self.oidc_audience))
                       if not value]
            if missing:
                raise ValueError(f"auth mode oidc needs {', '.join(missing)}")
            if (self.oidc_discovery_token_file is not None
                    and not (self.oidc_issuer or "").lower().startswith("https://")):
                raise ValueError("SPARK_API_OIDC_DISCOVERY_TOKEN_FILE is only ever sent over "
                                 f"https, but SPARK_API_OIDC_ISSUER={self.oidc_issuer!r} is not "
                                 "https: unset the token file or use the issuer's https URL")
        return self

    @property
    def subject_scopes(self) -> SubjectScopes:
        return SubjectScopes.parse(self.oidc_subject_scopes)

    @property
    def master_host(self) -> str:
        """The first host of spark://h1:p1[,h2:p2]: the REST gateway and UI live there."""
        return self.master_url[len("spark://"):].split(",")[0].split(":")[0]

    @property
    def master_rest_base(self) -> str:
        return f"http://{self.master_host}:{self.master_rest_port}"

    @property
    def master_ui_base(self) -> str:
        return f"http://{self.master_host}:{self.master_ui_port}"

    @property
    def secret_bytes(self) -> bytes:
        """The owner HMAC key; with auth disabled a fixed development key (one owner)."""
        if self.owner_secret is None:
            return b"spark-api-auth-disabled"
        return self.owner_secret.get_secret_value().encode()
