"""A mock OAuth 2.0 / OIDC authorization server for the simulator and the tests.

Outside the system under test (docs/design.md section 1): it plays the identity provider the job API
trusts. Real RS256 keys and real signed JWTs (joserfc), discovery, JWKS, the client-credentials
grant (client_secret_basic and client_secret_post), key rotation with a grace period, and an
opt-in ``POST /test/mint`` that signs arbitrary claims with the real key for negative tests.
"""
from .config import ClientConfig, load_clients
from .server import MockOAuthServer, RunningOAuth

__all__ = ["ClientConfig", "MockOAuthServer", "RunningOAuth", "load_clients"]
