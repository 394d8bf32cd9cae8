// Drive the emulator with the vendors' official Node clients, to catch what they trip over.
//
// `cargo test` runs it (tests/sdk.rs) when RUNBOOK_SDK_NODE names a copy of this directory
// with its packages installed (`npm ci`); CI (.ci/run) does that. By hand:
//
//     cp -r tests/sdk/node /tmp/sdknode && (cd /tmp/sdknode && npm ci)
//     runbook emulator > /tmp/emulator.env &     # prints `export NAME=value` lines
//     sleep 1; set -a; . /tmp/emulator.env; set +a
//     node /tmp/sdknode/check_official_clients.mjs
//
// The clients: Cloudflare's TypeScript SDK (`cloudflare`), GitHub's Octokit with
// libsodium-wrappers for the sealed box GitHub's docs show, Heroku's own Node client
// (`heroku-client`) and Infisical's Node SDK. Every check prints one line; the script exits
// non-zero on the first failure.

import { createHash } from 'node:crypto';

import Cloudflare from 'cloudflare';
import { Octokit } from '@octokit/rest';
import Heroku from 'heroku-client';
import { InfisicalSDK } from '@infisical/sdk';
import sodium from 'libsodium-wrappers';

const URL = process.env.RUNBOOK_EMULATOR_URL;
const ACCOUNT = process.env.CF_ACCOUNT_ID;
const FOLDER = '/MooseQuest/cloudflare/';

function check(label, condition) {
  console.log((condition ? 'ok   ' : 'FAIL ') + label);
  if (!condition) process.exit(1);
}

// The emulator's state dump shows values only as this fingerprint.
function fingerprint(value) {
  return createHash('sha256').update(value).digest('hex').slice(0, 8);
}

async function state() {
  const response = await fetch(`${URL}/_emulator/state`);
  return response.json();
}

// Runs `call`, which must fail; returns the error.
async function refused(call) {
  try {
    await call();
  } catch (error) {
    return error;
  }
  return null;
}

async function all(pages) {
  const items = [];
  for await (const item of pages) items.push(item);
  return items;
}

async function cloudflareChecks() {
  const baseURL = `${URL}/client/v4`;
  const management = new Cloudflare({ apiToken: process.env.CF_ACCESS_MGMT, baseURL, maxRetries: 0 });
  const verified = await management.user.tokens.verify();
  check('cloudflare user.tokens.verify() is active', verified.status === 'active');

  const tokens = management.zeroTrust.access.serviceTokens;
  const created = await tokens.create({ account_id: ACCOUNT, name: 'node-check-svc', duration: '8760h' });
  check('cloudflare serviceTokens.create() returns a client secret', Boolean(created.client_secret));
  const stored = (await state()).cloudflare.service_tokens.find((token) => token.id === created.id);
  check('cloudflare serviceTokens.create() stores the token', stored?.name === 'node-check-svc');
  const listed = await all(tokens.list({ account_id: ACCOUNT }));
  check('cloudflare serviceTokens.list() includes the new token', listed.some((token) => token.id === created.id));
  const read = await tokens.get(created.id, { account_id: ACCOUNT });
  check('cloudflare serviceTokens.get() reads it without its secret', read.id === created.id && !read.client_secret);
  const rotated = await tokens.rotate(created.id, { account_id: ACCOUNT });
  check('cloudflare serviceTokens.rotate() returns a new secret',
    Boolean(rotated.client_secret) && rotated.client_secret !== created.client_secret);
  const refreshed = await tokens.refresh(created.id, { account_id: ACCOUNT });
  check('cloudflare serviceTokens.refresh() keeps the id', refreshed.id === created.id);
  const deleted = await tokens.delete(created.id, { account_id: ACCOUNT });
  check('cloudflare serviceTokens.delete() returns the token', deleted.id === created.id);
  const again = await refused(() => tokens.delete(created.id, { account_id: ACCOUNT }));
  check('cloudflare a second delete raises NotFoundError', again instanceof Cloudflare.NotFoundError);

  const rotation = new Cloudflare({ apiToken: process.env.CF_ROTATION_TOKEN, baseURL, maxRetries: 0 });
  const userTokens = await all(rotation.user.tokens.list());
  const pagesRead = userTokens.find((token) => token.name === 'CF_PAGES_READ');
  check('cloudflare user.tokens.list() names the tokens', Boolean(pagesRead));
  const details = await rotation.user.tokens.get(pagesRead.id);
  check('cloudflare user.tokens.get() reads its policies', details.id === pagesRead.id && details.policies.length > 0);
  const oldValue = process.env.CF_PAGES_READ;
  // The SDK sends no body unless told to; the API needs `{}`.
  const bodiless = await refused(() => rotation.user.tokens.value.update(pagesRead.id));
  check('cloudflare value.update() without a body is refused (400)', bodiless instanceof Cloudflare.BadRequestError);
  const newValue = await rotation.user.tokens.value.update(pagesRead.id, { body: {} });
  check('cloudflare value.update({ body: {} }) returns the new value as a string',
    typeof newValue === 'string' && newValue !== oldValue);
  const rolledAway = await refused(() =>
    new Cloudflare({ apiToken: oldValue, baseURL, maxRetries: 0 }).user.tokens.verify());
  check('cloudflare verify with the rolled-away value raises AuthenticationError (401)',
    rolledAway instanceof Cloudflare.AuthenticationError && rolledAway.status === 401);
  const pages = new Cloudflare({ apiToken: newValue, baseURL, maxRetries: 0 });
  const projects = await all(pages.pages.projects.list({ account_id: ACCOUNT }));
  check('cloudflare pages.projects.list() with the new value is non-empty', projects.length > 0);
}

// GitHub's documented way to seal a secret for its public key.
async function seal(value, key) {
  await sodium.ready;
  const sealed = sodium.crypto_box_seal(
    sodium.from_string(value),
    sodium.from_base64(key, sodium.base64_variants.ORIGINAL),
  );
  return sodium.to_base64(sealed, sodium.base64_variants.ORIGINAL);
}

async function githubChecks() {
  const octokit = new Octokit({ auth: process.env.GITHUB_TOKEN, baseUrl: URL, log: { warn() {}, error() {} } });
  const [owner, repo] = process.env.GITHUB_REPOSITORY.split('/');
  const repository = await octokit.rest.repos.get({ owner, repo });
  check('github repos.get() reads the repository', repository.data.full_name === 'MooseQuest/raxx');

  const key = (await octokit.rest.actions.getRepoPublicKey({ owner, repo })).data;
  const put = async (value) => octokit.rest.actions.createOrUpdateRepoSecret({
    owner, repo, secret_name: 'NODE_CHECK', encrypted_value: await seal(value, key.key), key_id: key.key_id,
  });
  const created = await put('sealed by octokit');
  check('github createOrUpdateRepoSecret() creates it (201)', created.status === 201);
  const secrets = () => state().then((world) => Object.fromEntries(world.github.secrets.map((s) => [s.name, s])));
  check('github the emulator unsealed the value',
    (await secrets()).NODE_CHECK?.value_fingerprint === fingerprint('sealed by octokit'));
  const first = (await octokit.rest.actions.getRepoSecret({ owner, repo, secret_name: 'NODE_CHECK' })).data;
  const updated = await put('sealed again');
  check('github updating it answers 204', updated.status === 204);
  const second = (await octokit.rest.actions.getRepoSecret({ owner, repo, secret_name: 'NODE_CHECK' })).data;
  check('github updating a secret moves updated_at', second.updated_at > first.updated_at);
  const listed = (await octokit.rest.actions.listRepoSecrets({ owner, repo })).data;
  check('github listRepoSecrets() lists it', listed.secrets.some((secret) => secret.name === 'NODE_CHECK'));
  const deleted = await octokit.rest.actions.deleteRepoSecret({ owner, repo, secret_name: 'NODE_CHECK' });
  check('github deleteRepoSecret() answers 204', deleted.status === 204 && !('NODE_CHECK' in await secrets()));
  const gone = await refused(() => octokit.rest.actions.getRepoSecret({ owner, repo, secret_name: 'NODE_CHECK' }));
  check('github a deleted secret is 404', gone?.status === 404);

  const environmentKey = (await octokit.rest.actions.getEnvironmentPublicKey({
    owner, repo, environment_name: 'production',
  })).data;
  await octokit.rest.actions.createOrUpdateEnvironmentSecret({
    owner, repo, environment_name: 'production', secret_name: 'NODE_ENV_CHECK',
    encrypted_value: await seal('environment value', environmentKey.key), key_id: environmentKey.key_id,
  });
  const environment = Object.fromEntries((await state()).github.environments.production.map((s) => [s.name, s]));
  check('github createOrUpdateEnvironmentSecret() stores the unsealed value',
    environment.NODE_ENV_CHECK?.value_fingerprint === fingerprint('environment value'));
  const wrongToken = await refused(() =>
    new Octokit({ auth: 'ghp_wrong', baseUrl: URL, log: { warn() {}, error() {} } }).rest.repos.get({ owner, repo }));
  check('github with a wrong token raises 401', wrongToken?.status === 401);
}

async function herokuChecks() {
  const heroku = new Heroku({ token: process.env.HEROKU_API_KEY, host: URL });
  const app = '/apps/raxx-api-staging';
  const apps = await heroku.get('/apps');
  check('heroku GET /apps lists the app', apps.some((listed) => listed.name === 'raxx-api-staging'));
  const info = await heroku.get(app);
  check('heroku GET app reads it', info.name === 'raxx-api-staging');
  const before = await heroku.get(`${app}/releases`, { headers: { Range: 'version ..; order=desc, max=1' } });
  const patched = await heroku.patch(`${app}/config-vars`, { body: { NODE_CHECK: '1' } });
  check('heroku PATCH config-vars returns the full hash', patched.NODE_CHECK === '1' && 'CF_PAGES_DEPLOY' in patched);
  const stored = (await state()).heroku.apps.find((listed) => listed.name === 'raxx-api-staging');
  check('heroku the config var is stored', stored.config_var_fingerprints.NODE_CHECK === fingerprint('1'));
  const dynos = await heroku.get(`${app}/dynos`);
  check('heroku dynos are starting on the new release',
    dynos.length > 0 && dynos.every((dyno) => dyno.state === 'starting' && dyno.release.version === before[0].version + 1));
  const unset = await heroku.patch(`${app}/config-vars`, { body: { NODE_CHECK: null } });
  check('heroku PATCH with null deletes the var', !('NODE_CHECK' in unset));
  const unknown = await refused(() => heroku.get('/apps/no-such-app/config-vars'));
  check('heroku an unknown app is 404 not_found', unknown?.statusCode === 404 && unknown.body.id === 'not_found');
  const wrongKey = await refused(() => new Heroku({ token: 'not-the-key', host: URL }).get(app));
  check('heroku with a wrong key is 401', wrongKey?.statusCode === 401);
}

async function infisicalChecks() {
  const client = new InfisicalSDK({ siteUrl: URL });
  await client.auth().universalAuth.login({
    clientId: process.env.INFISICAL_UNIVERSAL_AUTH_CLIENT_ID,
    clientSecret: process.env.INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET,
  });
  const where = { projectId: process.env.INFISICAL_PROJECT_ID, environment: 'prod', secretPath: FOLDER };
  const seeded = await client.secrets().getSecret({ ...where, secretName: 'CF_PAGES_DEPLOY' });
  check('infisical getSecret() reads the seeded value', seeded.secretValue === process.env.CF_PAGES_DEPLOY);
  const created = await client.secrets().createSecret('NODE_CHECK', { ...where, secretValue: 'one' });
  check('infisical createSecret() starts at version 1', created.secret.secretKey === 'NODE_CHECK' && created.secret.version === 1);
  const updated = await client.secrets().updateSecret('NODE_CHECK', { ...where, secretValue: 'two' });
  check('infisical updateSecret() bumps the version', updated.secret.version === 2);
  const current = await client.secrets().getSecret({ ...where, secretName: 'NODE_CHECK' });
  check('infisical getSecret() reads the new value', current.secretValue === 'two');
  const listed = await client.secrets().listSecrets(where);
  check('infisical listSecrets() lists it', listed.secrets.some((secret) => secret.secretKey === 'NODE_CHECK'));
  const deleted = await client.secrets().deleteSecret('NODE_CHECK', where);
  check('infisical deleteSecret() returns the secret', deleted.secret.secretKey === 'NODE_CHECK');
  const gone = await refused(() => client.secrets().getSecret({ ...where, secretName: 'NODE_CHECK' }));
  check('infisical a deleted secret is not found', gone !== null);
}

await cloudflareChecks();
await githubChecks();
await herokuChecks();
await infisicalChecks();
console.log('all official-client checks passed');
