// A real private_key_jwt client: openid-client's PrivateKeyJwt (RFC 7523) gets
// client_credentials tokens from grantd, knowing only the issuer URL, its client id and its
// private key (an ES256 PKCS#8 PEM file): everything else comes from the RFC 8414 discovery
// document. openid-client builds and signs every assertion itself (aud, jti, iat, exp).
//
// Prints one JSON line: the discovered token endpoint and, for each request, the HTTP status,
// the access token or the error code, and the header and claims of the assertion openid-client
// sent, read back from the request as sent (not verified: grantd verifies). Exits non-zero on
// anything else (failed discovery, an error that is not an OAuth error response).
// Usage: node openid_client.mjs ISSUER CLIENT_ID KEY_PEM_FILE KID COUNT
import { readFile } from 'node:fs/promises';
import * as client from 'openid-client';

const [issuer, clientId, keyFile, kid, count] = process.argv.slice(2);
const pem = await readFile(keyFile, 'ascii');
const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
const key = await crypto.subtle.importKey(
  'pkcs8',
  der,
  { name: 'ECDSA', namedCurve: 'P-256' },
  false,
  ['sign'],
);

// Every token request as it went on the wire, with the answer's status and body.
const sent = [];
const spy = async (url, options) => {
  const response = await fetch(url, options);
  if (options.method === 'POST') {
    const body = await response.clone().json();
    sent.push({ form: new URLSearchParams(options.body), status: response.status, body });
  }
  return response;
};

const decode = (part) => JSON.parse(Buffer.from(part, 'base64url').toString());
const assertionOf = (form) => {
  const [header, claims] = form.get('client_assertion').split('.');
  return {
    header: decode(header),
    claims: decode(claims),
    client_assertion_type: form.get('client_assertion_type'),
    client_id: form.get('client_id'),
  };
};

// grantd is an OAuth 2.0 authorization server (RFC 8414 metadata), not an OpenID provider:
// discovery is asked for the oauth2 algorithm (openid-client's default is OIDC's).
const config = await client.discovery(
  new URL(issuer),
  clientId,
  {},
  client.PrivateKeyJwt({ key, kid }),
  { algorithm: 'oauth2', execute: [client.allowInsecureRequests], [client.customFetch]: spy },
);

const requests = [];
for (let i = 0; i < Number(count); i++) {
  let outcome;
  try {
    const tokens = await client.clientCredentialsGrant(config, { scope: 'service' });
    outcome = { access_token: tokens.access_token, token_type: tokens.token_type };
  } catch (err) {
    if (!(err instanceof client.ResponseBodyError || err instanceof client.WWWAuthenticateChallengeError)) {
      throw err;
    }
    outcome = { error: sent.at(-1).body.error };
  }
  const last = sent.at(-1);
  requests.push({ ...outcome, status: last.status, assertion: assertionOf(last.form) });
}
console.log(
  JSON.stringify({ token_endpoint: config.serverMetadata().token_endpoint, requests }),
);
