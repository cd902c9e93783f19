// A real OpenID provider (the npm package oidc-provider) on loopback for the desk's sign-in
// tests (tests/oidc_signin.rs). Not a mock: discovery, the authorization endpoint, PKCE, the
// token endpoint, signed ID tokens and the JWKS are oidc-provider's own.
//
// Test-only parts:
// - the sign-in page takes the account from the authorization request's login_hint when there
//   is one (the HTTP tests play the person choosing an account), else shows a form asking for
//   it (the browser test fills it in); no password, and consent is skipped, as an enterprise
//   tenant does for its own applications;
// - POST /test/clock?advance=SECONDS moves the provider's clock (Date.now) forward, so an
//   expired authorization code is tested without waiting.
//
// Usage: node provider.mjs --redirect URL [--issuer-host 127.0.0.1|localhost]
//                          [--auth client_secret_post|client_secret_basic] [--now UNIX_SECONDS]
// Prints one JSON line {"port":…,"issuer":…,"client_id":…,"client_secret":…} when ready.

import http from "node:http";
import crypto from "node:crypto";
import { Provider } from "oidc-provider";

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const redirect = arg("redirect");
if (!redirect) {
  console.error("--redirect URL is required");
  process.exit(2);
}
const issuerHost = arg("issuer-host", "127.0.0.1");
const authMethod = arg("auth", "client_secret_post");

// The provider's clock, movable by the test: --now UNIX_SECONDS starts it at the test's
// injected time.
const realNow = Date.now;
let offsetMs = arg("now") ? Number(arg("now")) * 1000 - realNow() : 0;
Date.now = () => realNow() + offsetMs;

// Test accounts: a reviewer by group, an admin by e-mail, and one with no mapped role.
const ACCOUNTS = {
  "rut.granskare@rjl.test": { name: "Rut Granskare", groups: ["grp-vardval-granskare"] },
  "adam.admin@rjl.test": { name: "Adam Admin", groups: ["grp-annat"] },
  "otto.obehorig@rjl.test": { name: "Otto Obehörig", groups: ["grp-annat"] },
};

const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: "jwk" }), kid: "test-key-1", use: "sig", alg: "RS256" };

const clientId = "vardval-desk";
const clientSecret = crypto.randomBytes(24).toString("hex");

const server = http.createServer();
server.listen(0, "127.0.0.1", () => {
  const port = server.address().port;
  const issuer = `http://${issuerHost}:${port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [redirect],
        response_types: ["code"],
        grant_types: ["authorization_code"],
        token_endpoint_auth_method: authMethod,
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: [crypto.randomBytes(16).toString("hex")] },
    pkce: { required: () => true },
    conformIdTokenClaims: false,
    claims: {
      openid: ["sub", "groups"],
      email: ["email", "email_verified"],
      profile: ["name", "preferred_username"],
    },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: { AuthorizationCode: 60 },
    async findAccount(ctx, id) {
      const a = ACCOUNTS[id];
      if (!a) return undefined;
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            email: id,
            email_verified: true,
            preferred_username: id,
            name: a.name,
            groups: a.groups,
          };
        },
      };
    },
    async loadExistingGrant(ctx) {
      const existing = ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (existing) return ctx.oidc.provider.Grant.find(existing);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope("openid email profile");
      await grant.save();
      return grant;
    },
  });

  provider.use(async (ctx, next) => {
    if (ctx.method === "POST" && ctx.path === "/test/clock") {
      offsetMs += Number(ctx.query.advance || 0) * 1000;
      ctx.body = { offset_seconds: offsetMs / 1000 };
      return;
    }
    const m = ctx.path.match(/^\/interaction\/([^/]+)(\/login)?$/);
    if (m) {
      const details = await provider.interactionDetails(ctx.req, ctx.res);
      let account = details.params.login_hint;
      if (ctx.method === "POST" && m[2]) {
        account = new URLSearchParams(await readBody(ctx.req)).get("account");
      } else if (ctx.method === "GET" && !account) {
        ctx.type = "html";
        ctx.body = loginPage(m[1]);
        return;
      }
      if (!ACCOUNTS[account]) {
        ctx.status = 400;
        ctx.body = `no test account ${account}`;
        return;
      }
      const to = await provider.interactionResult(
        ctx.req,
        ctx.res,
        { login: { accountId: account } },
        { mergeWithLastSubmission: false },
      );
      ctx.redirect(to);
      return;
    }
    await next();
  });

  server.on("request", provider.callback());
  process.stdout.write(
    JSON.stringify({ port, issuer, client_id: clientId, client_secret: clientSecret }) + "\n",
  );
});

function readBody(req) {
  return new Promise((resolve, reject) => {
    let data = "";
    req.setEncoding("utf8");
    req.on("data", (c) => {
      data += c;
      if (data.length > 10000) reject(new Error("body too large"));
    });
    req.on("end", () => resolve(data));
    req.on("error", reject);
  });
}

function loginPage(uid) {
  return `<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>Regionens inloggning (test)</title></head>
<body><main><h1>Regionens inloggning (test)</h1>
<form method="post" action="/interaction/${uid}/login">
<p><label for="account">Konto</label> <input id="account" name="account" type="email"></p>
<p><button type="submit" id="sign-in">Logga in</button></p>
</form></main></body></html>`;
}

// Stop with the test: a closed stdin means the test process is gone.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
