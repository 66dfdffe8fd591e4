"""Fixtures for tierwise.client: the GGUF runtime's SageMaker door on a loopback port, and
in front of it a stand-in for the SageMaker runtime API that checks each request's SigV4
signature against botocore's own signer and relays it the way SageMaker does (InvokeEndpoint,
InvokeEndpointWithResponseStream as an AWS event stream, ModelError for a container's 4xx)."""

from __future__ import annotations

import http.client
import json
import re
import struct
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNTIME_DIR = REPO / "tiers" / "gguf_runtime" / "image"
if str(RUNTIME_DIR) not in sys.path:
    sys.path.insert(0, str(RUNTIME_DIR))

import gguf_serving  # noqa: E402
import sagemaker_server  # noqa: E402
from tests.gguf_factory import SIMPLE_CHAT_TEMPLATE, write_tiny_llama  # noqa: E402

REGION = "us-east-1"
ACCESS_KEY, SECRET_KEY = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
ENDPOINT = "tierwise-llama-endpoint"


def event_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One message of the AWS event stream encoding (prelude, string headers, payload, CRCs)."""
    encoded = b"".join(bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(value)) + value.encode()
                       for name, value in headers.items())
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def payload_part(data: bytes) -> bytes:
    return event_message({":event-type": "PayloadPart", ":message-type": "event",
                          ":content-type": "application/octet-stream"}, data)


def expected_signature(method: str, path: str, host: str, headers, body: bytes) -> str:
    """The signature botocore's SigV4 gives the same request (same headers, same date)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    signed_names = re.search(r"SignedHeaders=([^,]+)", headers["Authorization"]).group(1).split(";")
    request = AWSRequest(method=method, url=f"http://{host}{path}", data=body,
                         headers={name: headers[name] for name in signed_names if name != "host"})
    request.context["timestamp"] = headers["X-Amz-Date"]
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "sagemaker", REGION)
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)


class FakeSageMakerRuntime(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, container_port: int):
        super().__init__(("127.0.0.1", 0), _FrontHandler)
        self.container_port = container_port
        self.calls: list[dict] = []


class _FrontHandler(BaseHTTPRequestHandler):
    server: FakeSageMakerRuntime
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _json(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = re.fullmatch(r"/endpoints/([^/]+)/(invocations|invocations-response-stream)", self.path)
        signature = re.search(r"Signature=([0-9a-f]+)", self.headers.get("Authorization", ""))
        host = self.headers["Host"]
        good = bool(signature) and signature.group(1) == expected_signature("POST", self.path, host, self.headers, body)
        self.server.calls.append({"path": self.path, "signed": good,
                                  "custom_attributes": self.headers.get("X-Amzn-SageMaker-Custom-Attributes")})
        if not good:
            self._json(403, {"message": "The request signature we calculated does not match"},
                       {"x-amzn-ErrorType": "InvalidSignatureException"})
            return
        if not match or match.group(1) != ENDPOINT:
            self._json(400, {"message": f"Endpoint {self.path} not found."}, {"x-amzn-ErrorType": "ValidationError"})
            return
        container = http.client.HTTPConnection("127.0.0.1", self.server.container_port, timeout=60)
        container.request("POST", "/invocations", body=body, headers={
            "Content-Type": self.headers.get("Content-Type", "application/json"),
            "X-Amzn-SageMaker-Custom-Attributes": self.headers.get("X-Amzn-SageMaker-Custom-Attributes", "")})
        answer = container.getresponse()
        if answer.status != 200:  # SageMaker wraps a container's error as a ModelError (424)
            original = answer.read().decode()
            self._json(424, {"OriginalStatusCode": answer.status, "OriginalMessage": original,
                             "message": f"Received client error ({answer.status}) from primary"},
                       {"x-amzn-ErrorType": "ModelError"})
            return
        if match.group(2) == "invocations":
            data = answer.read()
            self.send_response(200)
            self.send_header("Content-Type", answer.getheader("Content-Type"))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("X-Amzn-SageMaker-Content-Type", answer.getheader("Content-Type"))
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while chunk := answer.read1(65536):
            # SageMaker cuts the container's bytes where it likes: split each piece in two
            for piece in (chunk[: len(chunk) // 2], chunk[len(chunk) // 2:]):
                if piece:
                    message = payload_part(piece)
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(message), message))
        self.wfile.write(b"0\r\n\r\n")


@pytest.fixture(scope="session")
def chat_model(tmp_path_factory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("gguf") / "chat-tiny.gguf", chat_template=SIMPLE_CHAT_TEMPLATE,
                            weight_type="Q8_0", embedding_type="F16", norm_type="F32", seed=1)


@pytest.fixture(scope="session")
def container(chat_model):
    config = gguf_serving.RuntimeConfig(model_path=str(chat_model), n_ctx=256, n_threads=1, max_tokens_default=16,
                                        fallback_model_dirs=())
    server = sagemaker_server.make_server("127.0.0.1", 0, engine=gguf_serving.Engine(config))
    server.loader.join(30)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def sagemaker_front(container):
    front = FakeSageMakerRuntime(container.port)
    thread = threading.Thread(target=front.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield front
    front.shutdown()
    front.server_close()


@pytest.fixture
def aws_env(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    return monkeypatch


@pytest.fixture
def runtime_client(sagemaker_front, aws_env):
    import boto3

    return boto3.client("sagemaker-runtime", region_name=REGION, endpoint_url=f"http://127.0.0.1:{sagemaker_front.server_port}")
