// A real DPoP client (oauth4webapi) fetches a bound token from grantd, found through discovery;
// an independent library (jose) verifies the token through the JWKS and checks that cnf.jkt is
// the RFC 7638 thumbprint of the client's key. Prints one JSON line; exits non-zero on failure.
// Usage: node client.mjs ISSUER CLIENT_ID CLIENT_SECRET
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';

const [issuerUrl, clientId, secret] = process.argv.slice(2);
const insecure = { [oauth.allowInsecureRequests]: true };
const issuer = new URL(issuerUrl);
const as = await oauth
  .discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure })
  .then((r) => oauth.processDiscoveryResponse(issuer, r));
const client = { client_id: clientId };
const auth = oauth.ClientSecretBasic(secret);
const keyPair = await oauth.generateKeyPair('ES256', { extractable: true });
const DPoP = oauth.DPoP(client, keyPair);
const params = new URLSearchParams({ scope: 'service' });

let nonceChallenges = 0;
let result;
for (let attempt = 0; attempt < 2 && !result; attempt++) {
  const response = await oauth.clientCredentialsGrantRequest(as, client, auth, params, {
    DPoP,
    ...insecure,
  });
  try {
    result = await oauth.processClientCredentialsResponse(as, client, response);
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err;
    nonceChallenges++; // the DPoP handle kept the DPoP-Nonce; the retry sends a new proof
  }
}
if (!result) throw new Error('no token after the nonce retry');

const jwks = jose.createLocalJWKSet(await (await fetch(as.jwks_uri)).json());
const { payload } = await jose.jwtVerify(result.access_token, jwks, {
  issuer: as.issuer,
  typ: 'at+jwt',
});
const thumbprint = await jose.calculateJwkThumbprint(
  await jose.exportJWK(keyPair.publicKey),
  'sha256',
);
console.log(
  JSON.stringify({
    token_type: result.token_type,
    jkt: payload.cnf?.jkt ?? null,
    thumbprint,
    nonce_challenges: nonceChallenges,
    algs: as.dpop_signing_alg_values_supported,
  }),
);
if (payload.cnf?.jkt !== thumbprint) process.exit(2);
