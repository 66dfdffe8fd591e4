"""Print the Hugging Face token held in the Secrets Manager secret HF_TOKEN_SECRET_ID (a name or
an ARN, in HF_TOKEN_SECRET_REGION), for hf_token_entrypoint.sh.

Only botocore is imported: the LMI image installs awscli, hence botocore, but not boto3. The
secret holds the token as plain text, or a JSON object with an "HF_TOKEN" key. Every failure is
one line on stderr naming the secret and exit status 1; the token itself is never printed there.
"""

from __future__ import annotations

import json
import os
import sys


def fail(message: str) -> None:
    print(f"tierwise: cannot read the Hugging Face token: {message}", file=sys.stderr)
    sys.exit(1)


def token_from(secret_string: str) -> str:
    text = secret_string.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text).get("HF_TOKEN")
        except (ValueError, AttributeError):
            value = None
        if not isinstance(value, str):
            fail("the secret is a JSON object without an \"HF_TOKEN\" string; store the token as plain text "
                 "or under the key HF_TOKEN")
        text = value.strip()
    if not text or any(c.isspace() for c in text):
        fail("the secret's value is empty or contains white space: store the token alone")
    return text


def main() -> None:
    secret_id = os.environ.get("HF_TOKEN_SECRET_ID", "").strip()
    region = os.environ.get("HF_TOKEN_SECRET_REGION", "").strip() or os.environ.get("AWS_REGION") or None
    if not secret_id:
        fail("HF_TOKEN_SECRET_ID is not set")
    try:
        import botocore.session
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        fail("botocore is not installed in this image")
    try:
        client = botocore.session.get_session().create_client("secretsmanager", region_name=region)
        answer = client.get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        fail(f"{secret_id}: {error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": "))
    except BotoCoreError as exc:
        fail(f"{secret_id}: {exc}")
    if "SecretString" not in answer:
        fail(f"{secret_id} holds binary data; store the token as a string")
    sys.stdout.write(token_from(answer["SecretString"]))


if __name__ == "__main__":
    main()
