// A real OAuth 2.0 / OpenID Connect authorization server for the tests (panva's
// oidc-provider, the certified implementation), configured like PagerDuty's:
// PKCE S256 required, 30-second authorization codes, rotating refresh tokens, an
// id_token with `region` and `subdomain` claims, and an invalid scope silently
// dropped (PagerDuty downgrades it to `openid`). Started by tests/fakes/oidc_provider.py.
//
// argv: the absolute path of oidc-provider's lib/index.js (installed at test-session
// time into a cache directory, so no node_modules live in the repository).
// Prints one line of JSON ({"issuer": ...}) once it listens on 127.0.0.1.
//
// Test controls (not part of any real provider):
//   POST /__test/advance?seconds=N  moves the provider's clock forward (codes and
//                                   tokens expire without the tests sleeping)
import http from 'node:http';
import { pathToFileURL } from 'node:url';

const realNow = Date.now.bind(Date);
let offsetMs = 0;
// oidc-provider reads the time through Date.now() (helpers/epoch_time.js)
Date.now = () => realNow() + offsetMs;

const { default: Provider } = await import(pathToFileURL(process.argv[2]).href);

export const CLIENT_ID = 'oncall-notifier-test';
export const API_CLIENT_ID = 'pagerduty-api';
export const API_CLIENT_SECRET = 'pagerduty-api-introspection-secret';

const server = http.createServer();
await new Promise((resolve) => { server.listen(0, '127.0.0.1', resolve); });
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: CLIENT_ID,
      // a public native app: no secret, PKCE instead; loopback redirect (RFC 8252)
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
    },
    {
      // the fake PagerDuty API checks Bearer tokens through introspection
      client_id: API_CLIENT_ID,
      client_secret: API_CLIENT_SECRET,
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ],
  scopes: ['openid', 'offline_access', 'read', 'write'],
  claims: { openid: ['sub', 'region', 'subdomain'] },
  conformIdTokenClaims: false, // the region claims go into the id_token itself
  async findAccount(ctx, id) {
    // any login works (devInteractions); a login starting "eu" is in the EU region
    const region = id.toLowerCase().startsWith('eu') ? 'eu' : 'us';
    return {
      accountId: id,
      async claims() {
        return { sub: id, region, subdomain: `${region}-acme` };
      },
    };
  },
  pkce: { methods: ['S256'], required: () => true },
  // refresh tokens for every sign-in, as PagerDuty issues them, rotated on each use
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: () => true,
  ttl: {
    AuthorizationCode: 30,
    AccessToken: 3600,
    IdToken: 3600,
    RefreshToken: 30 * 24 * 3600,
    Grant: 30 * 24 * 3600,
    Session: 3600,
    Interaction: 600,
  },
  features: {
    devInteractions: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
  },
  cookies: { keys: ['oncall-notifier-tests-only'] },
});

provider.on('server_error', (ctx, err) => { console.error('server_error', err); });

const handle = provider.callback();
server.on('request', (req, res) => {
  if (req.method === 'POST' && req.url.startsWith('/__test/advance')) {
    const seconds = Number(new URL(req.url, issuer).searchParams.get('seconds'));
    offsetMs += seconds * 1000;
    res.writeHead(204).end();
    return;
  }
  handle(req, res);
});

process.stdout.write(`${JSON.stringify({ issuer })}\n`);
