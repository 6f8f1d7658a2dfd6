"""A real private_key_jwt client: Authlib's OAuth2Session with its PrivateKeyJWT auth method
(RFC 7523) gets client_credentials tokens from grantd, knowing only the issuer URL, its client
id and its private key (an ES256 PKCS#8 PEM file): the token endpoint comes from the RFC 8414
discovery document. Authlib builds and signs every assertion itself (aud, jti, iat, exp).

Prints one JSON line: the discovered token endpoint and, for each request, the HTTP status,
the access token or the error code, and the header and claims of the assertion Authlib sent,
read back from the request as sent (not verified: grantd verifies). Exits non-zero on anything
else (no discovery document, no response, a body that is not JSON).

LIFETIME "default" keeps Authlib's own assertion lifetime (exp = iat + 3600); a number of
seconds sets exp that far ahead, per request, through a subclass (Authlib's `claims=` argument
cannot: the library adds its jti to that dict, so every later assertion would repeat it).
Usage: python authlib_client.py ISSUER CLIENT_ID KEY_PEM_FILE KID COUNT LIFETIME
"""

import base64
import json
import sys
import time
from urllib.parse import parse_qs

import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc.jwk import ECKey


def discover(issuer):
    # RFC 8414 §3: the well-known suffix goes between the host and the issuer's path (none here).
    resp = requests.get(f"{issuer.rstrip('/')}/.well-known/oauth-authorization-server", timeout=30)
    resp.raise_for_status()
    meta = resp.json()
    if meta.get("issuer") != issuer.rstrip("/"):
        raise SystemExit(f"discovered issuer {meta.get('issuer')!r} is not {issuer!r}")
    if "private_key_jwt" not in meta.get("token_endpoint_auth_methods_supported", []):
        raise SystemExit("private_key_jwt is not in token_endpoint_auth_methods_supported")
    return meta


def b64json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def sent_assertion(resp):
    form = parse_qs(resp.request.body if isinstance(resp.request.body, str)
                    else resp.request.body.decode())
    header, claims, _ = form["client_assertion"][0].split(".")
    return {"header": b64json(header), "claims": b64json(claims),
            "client_assertion_type": form["client_assertion_type"][0]}


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """PrivateKeyJWT whose assertions expire `lifetime` seconds after they are made."""

    def __init__(self, lifetime, **kwargs):
        super().__init__(**kwargs)
        self.lifetime = lifetime

    def sign(self, auth, token_endpoint):
        self.claims = {"exp": int(time.time()) + self.lifetime}  # a fresh dict each time
        return super().sign(auth, token_endpoint)


def auth_method(kid, lifetime):
    # The auth method as Authlib documents it: the token endpoint (and so the assertion's aud)
    # is the URL the request goes to, here the discovered one.
    if lifetime == "default":
        return PrivateKeyJWT(alg="ES256", headers={"kid": kid})
    return ShortLivedPrivateKeyJWT(int(lifetime), alg="ES256", headers={"kid": kid})


def main():
    issuer, client_id, key_file, kid, count, lifetime = sys.argv[1:]
    meta = discover(issuer)
    with open(key_file, encoding="ascii") as f:
        key = ECKey.import_key(f.read())
    auth = auth_method(kid, lifetime)
    session = OAuth2Session(client_id, key, token_endpoint_auth_method=auth, scope="service")
    responses = []

    def keep(resp):
        responses.append(resp)
        return resp

    session.register_compliance_hook("access_token_response", keep)
    results = []
    for _ in range(int(count)):
        try:
            token = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
            outcome = {"access_token": token["access_token"], "token_type": token["token_type"]}
        except OAuthError as err:
            outcome = {"error": err.error}
        resp = responses[-1]
        outcome.update(status=resp.status_code, assertion=sent_assertion(resp))
        results.append(outcome)
    print(json.dumps({"token_endpoint": meta["token_endpoint"], "requests": results}))


if __name__ == "__main__":
    main()
