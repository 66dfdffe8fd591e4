"""MODEL_S3_URI: the model is fetched from S3 (moto) into /tmp at cold start, then served."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

import gguf_serving

BUCKET = "tierwise-models-test"
KEY = "llama/tiny/chat-tiny.gguf"


@pytest.fixture
def s3(fresh_process, tmp_path, chat_model):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_REGION": "us-east-1"}.items():
        fresh_process.setenv(name, value)
    fresh_process.delenv("AWS_PROFILE", raising=False)
    fresh_process.setenv("MODEL_DOWNLOAD_DIR", str(tmp_path / "models"))
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.upload_file(str(chat_model), BUCKET, KEY)
        yield client


def test_model_is_downloaded_from_s3_then_served(handler_module, s3, fresh_process, tmp_path, chat_model):
    fresh_process.setenv("MODEL_S3_URI", f"s3://{BUCKET}/{KEY}")
    answer = handler_module.handler({"prompt": "Hi", "max_tokens": 4, "temperature": 0}, None)

    assert answer["usage"]["completion_tokens"] == 4
    local = tmp_path / "models" / "chat-tiny.gguf"
    assert local.read_bytes() == chat_model.read_bytes()
    assert not list((tmp_path / "models").glob("*.part"))
    assert gguf_serving.get_engine().state.path == local


def test_a_file_already_in_tmp_is_not_downloaded_again(handler_module, s3, fresh_process, tmp_path, monkeypatch):
    fresh_process.setenv("MODEL_S3_URI", f"s3://{BUCKET}/{KEY}")
    handler_module.handler({"prompt": "Hi", "max_tokens": 1}, None)
    local = tmp_path / "models" / "chat-tiny.gguf"
    first_mtime = local.stat().st_mtime_ns

    gguf_serving.reset_engine(None)  # the runtime restarts in the same sandbox: /tmp survives
    downloads = []
    real_download = gguf_serving.download_from_s3

    def spy(uri, dest_dir, *, s3_client=None):
        downloads.append(uri)
        return real_download(uri, dest_dir, s3_client=s3_client)

    monkeypatch.setattr(gguf_serving.model_files, "download_from_s3", spy)
    answer = handler_module.handler({"prompt": "Hi", "max_tokens": 1}, None)
    assert answer["usage"]["completion_tokens"] == 1
    assert downloads == [f"s3://{BUCKET}/{KEY}"]  # asked S3 for the size...
    assert local.stat().st_mtime_ns == first_mtime  # ...but did not fetch the object again


def test_missing_s3_object_fails_cold_start_clearly(handler_module, s3, fresh_process):
    fresh_process.setenv("MODEL_S3_URI", f"s3://{BUCKET}/llama/absent.gguf")
    with pytest.raises(handler_module.ModelUnavailable) as caught:
        handler_module.handler({"prompt": "Hi"}, None)
    message = caught.value.message
    assert f"s3://{BUCKET}/llama/absent.gguf" in message and "404" in message


def test_missing_bucket_fails_cold_start_clearly(handler_module, s3, fresh_process):
    fresh_process.setenv("MODEL_S3_URI", "s3://no-such-bucket-here/m.gguf")
    with pytest.raises(handler_module.ModelUnavailable,
                       match="cannot read model object s3://no-such-bucket-here/m.gguf"):
        handler_module.handler({"prompt": "Hi"}, None)


def test_not_enough_tmp_space_says_to_raise_ephemeral_storage(handler_module, s3, fresh_process, monkeypatch):
    fresh_process.setenv("MODEL_S3_URI", f"s3://{BUCKET}/{KEY}")
    monkeypatch.setattr(gguf_serving.model_files.shutil, "disk_usage", lambda path: type("U", (), {"free": 1000})())
    with pytest.raises(handler_module.ModelUnavailable, match="ephemeral storage"):
        handler_module.handler({"prompt": "Hi"}, None)


def test_a_local_model_path_wins_over_s3(handler_module, s3, fresh_process, chat_model, tmp_path):
    fresh_process.setenv("MODEL_PATH", str(chat_model))
    fresh_process.setenv("MODEL_S3_URI", f"s3://{BUCKET}/llama/absent.gguf")
    answer = handler_module.handler({"prompt": "Hi", "max_tokens": 2}, None)
    assert answer["usage"]["completion_tokens"] == 2
    assert not (tmp_path / "models").exists()


def test_download_from_s3_with_an_explicit_client(s3, tmp_path, chat_model):
    path = gguf_serving.download_from_s3(f"s3://{BUCKET}/{KEY}", tmp_path / "d", s3_client=s3)
    assert path.name == "chat-tiny.gguf" and path.stat().st_size == chat_model.stat().st_size
