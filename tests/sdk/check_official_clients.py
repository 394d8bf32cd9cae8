"""Drive the emulator with the vendors' official Python clients, to catch what they trip over.

`cargo test` runs it (tests/sdk.rs) when RUNBOOK_SDK_PYTHON names a Python with the clients;
CI (.ci/run) installs pinned versions and sets it. By hand:

    python3 -m venv /tmp/sdkvenv
    /tmp/sdkvenv/bin/pip install cloudflare==5.9.0 PyGithub==2.10.0 infisicalsdk==1.0.17 requests==2.34.2
    RUNBOOK_SDK_PYTHON=/tmp/sdkvenv/bin/python cargo test --test integration sdk

or against a running emulator:

    runbook emulator > /tmp/emulator.env &     # prints `export NAME=value` lines
    sleep 1; set -a; . /tmp/emulator.env; set +a
    /tmp/sdkvenv/bin/python tests/sdk/check_official_clients.py

Heroku has no official Python client (its official clients are the CLI and the Ruby
platform-api gem), so the Heroku part uses plain `requests` with the headers those send.
Every check prints one line; the script exits non-zero on the first failure.
"""

import base64
import hashlib
import os
import sys
import time

import requests

URL = os.environ["RUNBOOK_EMULATOR_URL"]
ACCOUNT = os.environ["CF_ACCOUNT_ID"]
FOLDER = "/MooseQuest/cloudflare/"


def check(label, condition):
    print(("ok   " if condition else "FAIL ") + label)
    if not condition:
        sys.exit(1)


def fingerprint(value):
    """The emulator's state dump shows values only as this fingerprint."""
    return hashlib.sha256(value.encode()).hexdigest()[:8]


def state():
    return requests.get(f"{URL}/_emulator/state", timeout=5).json()


def cloudflare_checks():
    import cloudflare
    from cloudflare import Cloudflare

    base = f"{URL}/client/v4"
    management = Cloudflare(api_token=os.environ["CF_ACCESS_MGMT"], base_url=base, max_retries=0)
    verified = management.user.tokens.verify()
    check("cloudflare user.tokens.verify() is active", verified.status == "active")

    tokens = management.zero_trust.access.service_tokens
    created = tokens.create(account_id=ACCOUNT, name="sdk-check-svc", duration="8760h")
    check("cloudflare service_tokens.create() returns a client secret", bool(created.client_secret))
    listed = [token.id for token in tokens.list(account_id=ACCOUNT)]
    check("cloudflare service_tokens.list() includes the new token", created.id in listed)
    read = tokens.get(created.id, account_id=ACCOUNT)
    check("cloudflare service_tokens.get() reads it without its secret",
          read.id == created.id and not getattr(read, "client_secret", None))
    rotated = tokens.rotate(created.id, account_id=ACCOUNT)
    check("cloudflare service_tokens.rotate() returns a new secret",
          rotated.client_secret and rotated.client_secret != created.client_secret)
    refreshed = tokens.refresh(created.id, account_id=ACCOUNT)
    check("cloudflare service_tokens.refresh() keeps the id", refreshed.id == created.id)
    deleted = tokens.delete(created.id, account_id=ACCOUNT)
    check("cloudflare service_tokens.delete() returns the token", deleted.id == created.id)
    try:
        tokens.delete(created.id, account_id=ACCOUNT)
        check("cloudflare second delete raises", False)
    except cloudflare.NotFoundError:
        check("cloudflare second delete raises NotFoundError", True)

    rotation = Cloudflare(api_token=os.environ["CF_ROTATION_TOKEN"], base_url=base, max_retries=0)
    by_name = {token.name: token for token in rotation.user.tokens.list()}
    check("cloudflare user.tokens.list() names the tokens", "CF_PAGES_READ" in by_name)
    details = rotation.user.tokens.get(by_name["CF_PAGES_READ"].id)
    check("cloudflare user.tokens.get() reads its policies", len(details.policies) > 0)
    old_value = os.environ["CF_PAGES_READ"]
    try:
        # The SDK sends no body unless told to; the API needs `{}`.
        rotation.user.tokens.value.update(by_name["CF_PAGES_READ"].id)
        check("cloudflare value.update() without a body is refused", False)
    except cloudflare.BadRequestError:
        check("cloudflare value.update() without a body is refused (400)", True)
    new_value = rotation.user.tokens.value.update(by_name["CF_PAGES_READ"].id, extra_body={})
    check("cloudflare value.update(extra_body={}) returns the new value as a string",
          isinstance(new_value, str) and new_value != old_value)
    try:
        Cloudflare(api_token=old_value, base_url=base, max_retries=0).user.tokens.verify()
        check("cloudflare verify with the rolled-away value fails", False)
    except cloudflare.AuthenticationError as error:
        check("cloudflare verify with the rolled-away value raises AuthenticationError (401)",
              error.status_code == 401)
    pages = Cloudflare(api_token=new_value, base_url=base, max_retries=0)
    projects = list(pages.pages.projects.list(account_id=ACCOUNT))
    check("cloudflare pages.projects.list() with the new value is non-empty", len(projects) > 0)


def github_checks():
    from github import Auth, Github, GithubException

    client = Github(auth=Auth.Token(os.environ["GITHUB_TOKEN"]), base_url=URL)
    repository = client.get_repo(os.environ["GITHUB_REPOSITORY"])
    check("github get_repo() reads the repository", repository.full_name == "MooseQuest/raxx")
    repository.create_secret("SDK_CHECK", "sealed by PyGithub")
    stored = {secret["name"]: secret for secret in state()["github"]["secrets"]}
    check("github create_secret() stores the decrypted value",
          stored["SDK_CHECK"]["value_fingerprint"] == fingerprint("sealed by PyGithub"))
    first = repository.get_secret("SDK_CHECK").updated_at
    repository.create_secret("SDK_CHECK", "sealed again")
    second = repository.get_secret("SDK_CHECK").updated_at
    check("github updating a secret moves updated_at", second > first)
    names = [secret.name for secret in repository.get_secrets()]
    check("github get_secrets() lists it", "SDK_CHECK" in names)
    check("github delete_secret() deletes it", repository.delete_secret("SDK_CHECK"))
    environment = repository.get_environment("production")
    environment.create_secret("SDK_ENV_CHECK", "environment value")
    stored = {s["name"]: s for s in state()["github"]["environments"]["production"]}
    check("github environment create_secret() stores the decrypted value",
          stored["SDK_ENV_CHECK"]["value_fingerprint"] == fingerprint("environment value"))
    check("github environment get_secrets() lists it",
          "SDK_ENV_CHECK" in [secret.name for secret in environment.get_secrets()])
    check("github get_environments() names the environment",
          "production" in [listed.name for listed in repository.get_environments()])
    check("github environment delete_secret() deletes it", environment.delete_secret("SDK_ENV_CHECK"))
    environments = state()["github"]["environments"]["production"]
    check("github the environment secret is gone",
          "SDK_ENV_CHECK" not in [secret["name"] for secret in environments])
    try:
        Github(auth=Auth.Token("ghp_wrong"), base_url=URL).get_repo("MooseQuest/raxx")
        check("github with a wrong token fails", False)
    except GithubException as error:
        check("github with a wrong token raises 401", error.status == 401)


def infisical_checks():
    from infisical_sdk import InfisicalSDKClient

    client = InfisicalSDKClient(host=URL, cache_ttl=None)
    client.auth.universal_auth.login(
        client_id=os.environ["INFISICAL_UNIVERSAL_AUTH_CLIENT_ID"],
        client_secret=os.environ["INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET"],
    )
    project = os.environ["INFISICAL_PROJECT_ID"]
    where = dict(project_id=project, environment_slug="prod", secret_path=FOLDER)
    secret = client.secrets.get_secret_by_name(secret_name="CF_PAGES_DEPLOY", **where)
    check("infisical get_secret_by_name() reads the seeded value",
          secret.secretValue == os.environ["CF_PAGES_DEPLOY"])
    created = client.secrets.create_secret_by_name(secret_name="SDK_CHECK", secret_value=" one ", **where)
    check("infisical create_secret_by_name() trims and starts at version 1",
          created.secretValue == "one" and created.version == 1)
    updated = client.secrets.update_secret_by_name(current_secret_name="SDK_CHECK", secret_value="two", **where)
    check("infisical update_secret_by_name() bumps the version", updated.version == 2)
    old = client.secrets.get_secret_by_name(secret_name="SDK_CHECK", version="1", **where)
    check("infisical get_secret_by_name(version=1) reads the old value", old.secretValue == "one")
    listed = client.secrets.list_secrets(project_id=project, environment_slug="prod", secret_path=FOLDER)
    check("infisical list_secrets() lists it", "SDK_CHECK" in [s.secretKey for s in listed.secrets])
    deleted = client.secrets.delete_secret_by_name(secret_name="SDK_CHECK", **where)
    check("infisical delete_secret_by_name() returns the secret", deleted.secretKey == "SDK_CHECK")
    client.close() if hasattr(client, "close") else None


def heroku_checks():
    headers = {
        "Accept": "application/vnd.heroku+json; version=3",
        "Authorization": f"Bearer {os.environ['HEROKU_API_KEY']}",
    }
    app = f"{URL}/apps/raxx-api-staging"
    before = requests.get(f"{app}/releases", headers={**headers, "Range": "version ..; order=desc, max=1"}).json()[0]
    patched = requests.patch(f"{app}/config-vars", headers=headers, json={"SDK_CHECK": "1"})
    check("heroku PATCH config-vars returns the full hash",
          patched.status_code == 200 and "CF_PAGES_DEPLOY" in patched.json())
    dynos = requests.get(f"{app}/dynos", headers=headers).json()
    check("heroku dynos are starting on the new release",
          all(d["state"] == "starting" and d["release"]["version"] == before["version"] + 1 for d in dynos))
    time.sleep(2)
    dynos = requests.get(f"{app}/dynos", headers=headers).json()
    check("heroku dynos are up after the restart window", all(d["state"] == "up" for d in dynos))
    refused = requests.get(f"{app}/config-vars", headers={"Authorization": headers["Authorization"]})
    check("heroku without the version 3 Accept header is 406", refused.status_code == 406)


if __name__ == "__main__":
    cloudflare_checks()
    github_checks()
    infisical_checks()
    heroku_checks()
    print("all official-client checks passed")
