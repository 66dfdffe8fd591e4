#!/bin/sh
# Read the Hugging Face token from Secrets Manager, then start the model server.
#
# SageMaker passes a container its environment from the model definition, which DescribeModel
# returns to anyone allowed to call it: a token there is a token in clear. The model definition
# carries only the secret's id (HF_TOKEN_SECRET_ID, a name or an ARN) and its region; this
# script, running as the endpoint's execution role (secretsmanager:GetSecretValue on that one
# secret), exports HF_TOKEN for the server process only. LMI reads HF_TOKEN from its environment
# and nothing else; it logs the variable as "***".
#
# A secret that cannot be read stops the container with one line on stderr (the endpoint's
# CloudWatch log), never with the token in it.
set -eu

HERE=$(dirname "$0")
PYTHON="${TIERWISE_PYTHON:-python3}"
NEXT="${LMI_ENTRYPOINT:-/usr/local/bin/dockerd-entrypoint.sh}"

if [ -n "${HF_TOKEN_SECRET_ID:-}" ]; then
    # command substitution in an assignment keeps the exit status; no `set -x` here, ever
    HF_TOKEN=$("$PYTHON" "$HERE/read_secret.py") || exit 1
    export HF_TOKEN
fi
exec "$NEXT" "$@"
