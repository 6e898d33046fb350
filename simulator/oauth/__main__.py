"""`python -m simulator.oauth --host H --port P --clients FILE --audience A` (foreground)."""
from __future__ import annotations

import argparse
import logging
import os
import sys

import uvicorn

from .config import load_clients
from .server import MockOAuthServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator.oauth",
                                     description="mock OAuth 2.0/OIDC server (client credentials)")
    parser.add_argument("--host", default=os.environ.get("POD_IP", "127.0.0.1"),
                        help="bind address (default: $POD_IP, else 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--clients", required=True,
                        help='JSON file: {"clients": {"<id>": {"secret": "...", "scopes": [...]}}}')
    parser.add_argument("--audience", default="spark-api")
    parser.add_argument("--issuer", help="issuer URL as clients see it (default http://HOST:PORT)")
    parser.add_argument("--token-lifetime", type=int, default=300, help="seconds")
    parser.add_argument("--rotation-grace", type=float, default=None,
                        help="seconds a rotated-out key stays in the JWKS (default: lifetime)")
    parser.add_argument("--enable-test-mint", action="store_true",
                        help="expose POST /test/mint (tests only: signs arbitrary claims)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        clients = load_clients(args.clients)
    except (OSError, ValueError, KeyError) as exc:
        print(f"mock-oauth: cannot load clients from {args.clients}: {exc}", file=sys.stderr)
        return 2
    server = MockOAuthServer(args.host, args.port, clients, args.audience, args.token_lifetime,
                             args.rotation_grace, args.enable_test_mint, args.issuer)
    issuer = args.issuer or f"http://{args.host}:{args.port}"
    logging.getLogger("simulator.oauth").info(
        "mock OAuth issuer %s, %d client(s): %s (secrets not shown)", issuer, len(clients),
        ", ".join(sorted(clients)))
    uvicorn.run(server.app(issuer), host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
