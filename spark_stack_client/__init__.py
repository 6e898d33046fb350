"""A client for the spark-stack job API (and the ``spark-stack`` CLI, spark_stack_client.cli).

Needs only httpx and authlib::

    from spark_stack_client import Client
    with Client(api_url, token_url=..., client_id=..., client_secret=...) as api:
        job = api.wait(api.submit("pi", {"samples": 1000}).id, timeout=300)
"""
from .client import Client, RetryPolicy, client_credentials_token
from .errors import (
                     ApiError,
                     ApiUnreachable,
                     AuthError,
                     ClientError,
                     Conflict,
                     InvalidRequest,
                     NotFound,
                     Unavailable,
                     WaitTimeout,
)
from .models import STATES, TERMINAL, CatalogEntry, Job, JobPage, LogChunk

__all__ = ["STATES", "TERMINAL", "ApiError", "ApiUnreachable", "AuthError", "CatalogEntry",
           "Client", "ClientError", "Conflict", "InvalidRequest", "Job", "JobPage", "LogChunk",
           "NotFound", "RetryPolicy", "Unavailable", "WaitTimeout", "client_credentials_token"]
