#!/bin/sh
# One image, two hosts.
#   SageMaker runs the container as `docker run <image> serve`: answer /ping and
#   /invocations on port 8080 (sagemaker_server.py).
#   Lambda runs it with the image's CMD (handler.handler) or the function's ImageConfig
#   command: hand that to lambda_runtime.py, the runtime's own Runtime API loop (it
#   streams responses, which the Python runtime interface client cannot), which calls
#   handler.handler(event, context).
# Outside Lambda (no AWS_LAMBDA_RUNTIME_API) the runtime interface emulator, when one
# has been added to the image as /usr/local/bin/aws-lambda-rie, stands in for Lambda
# so that `docker run -p 9000:8080 <image>` can be tried locally.
set -eu

PYTHON="${PYTHON:-python}"

if [ "${1:-}" = "serve" ]; then
    shift
    exec "$PYTHON" -m sagemaker_server "$@"
fi

if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ] && [ -x /usr/local/bin/aws-lambda-rie ]; then
    exec /usr/local/bin/aws-lambda-rie "$PYTHON" -m lambda_runtime "$@"
fi
exec "$PYTHON" -m lambda_runtime "$@"
