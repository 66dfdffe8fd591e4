"""A moto server that the CDK CLI can bootstrap, deploy and destroy tierwise stacks on, offline.

    .venv/bin/python scripts/moto_deploy.py [--port 5000] [--push-image REPOSITORY:TAG]

starts moto on http://localhost:PORT, prints the environment to export in another shell, then
`npx cdk bootstrap aws://123456789012/us-east-1` and `npx cdk deploy -c model=...` go to moto
instead of AWS. tests/deploy runs the same functions (CI: `make test`).

Two things learned the hard way (moto 5.2.5, CDK CLI 2.1148):
- the host must be `localhost`, not 127.0.0.1: moto finds the bucket of the template URL the
  CLI uploads only under that host ("The specified bucket does not exist" otherwise);
- moto's CloudFormation crashes on every AWS::KMS::Key that carries Tags (KeyError 'TagKey')
  and keeps its KeyPolicy as an object that DescribeKey then cannot read (TypeError). CDK tags
  every resource, so no tierwise stack deploys without `patch_moto_kms_from_cloudformation`:
  it hands moto's KMS the shapes its CreateKey API takes (tags as TagKey/TagValue, the policy
  as a JSON string) — what CloudFormation's own KMS handler does. It checks first and patches
  nothing once moto gets this right.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
# AWS_* variables that could point the CLI or boto3 at a real account
_AWS_LEAKS = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CA_BUNDLE",
)


# --- moto ------------------------------------------------------------------------------------


def _kms_from_cloudformation_problems() -> set[str]:
    """Which of moto's two AWS::KMS::Key bugs this moto has: 'tags', 'policy', both or none."""
    from moto.kms.models import Key, kms_backends

    probe_account = "000000000000"
    policy = {"Version": "2012-10-17", "Statement": []}
    problems: set[str] = set()
    create = Key.create_from_cloudformation_json
    try:
        key = create("Probe", {"Properties": {"KeyPolicy": policy, "Tags": [{"Key": "k", "Value": "v"}]}},
                     probe_account, REGION)
    except KeyError:
        problems.add("tags")
        key = create("Probe", {"Properties": {"KeyPolicy": policy}}, probe_account, REGION)
    if not isinstance(key.policy, str):
        problems.add("policy")
    kms_backends[probe_account][REGION].keys.pop(key.id, None)
    return problems


def patch_moto_kms_from_cloudformation() -> Callable[[], None]:
    """Let moto's CloudFormation create the tagged KMS keys every tierwise stack has (see the
    module docstring). Returns the function that undoes the patch."""
    from moto.kms.models import Key

    problems = _kms_from_cloudformation_problems()
    if not problems:
        return lambda: None
    original = Key.__dict__["create_from_cloudformation_json"]

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = dict(cloudformation_json.get("Properties", {}))
        if "tags" in problems and properties.get("Tags"):
            properties["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in properties["Tags"]]
        if "policy" in problems and not isinstance(properties.get("KeyPolicy"), str):
            properties["KeyPolicy"] = json.dumps(properties["KeyPolicy"])
        return original.__func__(
            cls, resource_name, {**cloudformation_json, "Properties": properties}, account_id, region_name, **kwargs
        )

    Key.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)

    def undo() -> None:
        Key.create_from_cloudformation_json = original

    return undo


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def start_server(port: int | None = None):
    """A ThreadedMotoServer on localhost (see the module docstring for why not 127.0.0.1).
    Returns (server, endpoint URL); `server.stop()` ends it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="localhost", port=port or free_port(), verbose=False)
    server.start()
    _, bound = server.get_host_and_port()
    return server, f"http://localhost:{bound}"


# --- the CDK CLI's environment ------------------------------------------------------------------


def cli_environment(endpoint_url: str, home: str | os.PathLike[str], base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the CDK CLI (and the `python app.py` it starts) that reaches moto only:
    dummy credentials, no profile or token of a real account, a HOME of its own (the CLI keeps
    ~/.cdk there), no notices, no telemetry."""
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if k not in _AWS_LEAKS and not k.startswith("CDK_")}
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        AWS_ENDPOINT_URL=endpoint_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(home / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        NPM_CONFIG_UPDATE_NOTIFIER="false",
        CDK_DISABLE_CLI_TELEMETRY="true",
        FORCE_COLOR="0",
    )
    return env


def boto3_client(service: str, endpoint_url: str):
    import boto3

    return boto3.client(
        service, endpoint_url=endpoint_url, region_name=REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )


# --- a pushed image, as a CI pipeline would leave it -------------------------------------------


def push_placeholder_image(endpoint_url: str, repository: str, tag: str) -> tuple[str, str]:
    """Create `repository` in moto's ECR and put an image manifest under `tag` (no layers: moto
    stores manifests, not blobs). Returns (image URI, image digest)."""
    ecr = boto3_client("ecr", endpoint_url)
    try:
        ecr.create_repository(repositoryName=repository)
    except ecr.exceptions.RepositoryAlreadyExistsException:
        pass
    config = b"{}"
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": len(config),
            "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
        },
        "layers": [],
    }
    image = ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)["image"]
    uri = f"{image['registryId']}.dkr.ecr.{REGION}.amazonaws.com/{repository}:{tag}"
    return uri, image["imageId"]["imageDigest"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--push-image", metavar="REPOSITORY:TAG",
                        help="create an ECR repository in moto with one image, for -c image_uri=...")
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_LAMBDA_STUB_ECR", "false")  # a function's image must exist in moto's ECR
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not one line per request
    patch_moto_kms_from_cloudformation()
    server, url = start_server(args.port)
    print(f"moto serving on {url}; in another shell, from the repository root with .venv active "
          f"(cdk.json runs `python app.py`):\n")
    print(f"export AWS_ENDPOINT_URL={url} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
          f"AWS_REGION={REGION} AWS_DEFAULT_REGION={REGION} JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20")
    print("unset AWS_PROFILE AWS_SESSION_TOKEN")
    print(f"npx cdk bootstrap aws://{ACCOUNT}/{REGION}")
    if args.push_image:
        repository, _, tag = args.push_image.partition(":")
        uri, _ = push_placeholder_image(url, repository, tag or "latest")
        print(f"npx cdk deploy -c model=llama3-8b -c image_uri={uri} --require-approval never")
    print("npx cdk deploy -c model=distilbert-sst2 --require-approval never")
    print("npx cdk destroy --force tierwise-distilbert-sst2\n")
    print("moto 5.2.5 cannot take a second deploy of a changed stack (tests/deploy says why): destroy, then deploy.")
    print("Ctrl-C stops the server.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
