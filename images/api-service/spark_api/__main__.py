"""`python -m spark_api`: serve on SPARK_API_HOST:SPARK_API_PORT with uvicorn (no reload)."""
from __future__ import annotations

import logging
import sys

import uvicorn
from pydantic import ValidationError

from .main import create_app
from .settings import Settings


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = Settings()  # type: ignore[call-arg]
    except ValidationError as exc:
        # Never echo the offending values: one of them may be the owner secret.
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            print(f"spark-api: invalid configuration: {where}: {err['msg']}", file=sys.stderr)
        return 2
    try:
        app = create_app(settings)
    except RuntimeError as exc:
        print(f"spark-api: cannot start: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=settings.host, port=settings.port, reload=False,
                proxy_headers=False, access_log=True, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
