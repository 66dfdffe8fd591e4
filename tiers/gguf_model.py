"""GgufModel: where the model of a GGUF tier (lambda-gguf, sagemaker-serverless) comes from.

Both tiers run the same runtime image (tiers/gguf_runtime), so the model source is one class
for both, chosen with a factory in the manner of ``lambda.DockerImageCode.from_ecr`` /
``from_image_asset``:

- ``GgufModel.baked(url, sha256=..., file=...)``: downloaded while the image is built and baked
  into it; the build fails when the download does not match ``sha256``.
- ``GgufModel.from_s3("s3://bucket/key" | bucket, key, sha256=...)``: read from S3 when the
  container starts; the runtime refuses a file that does not match ``sha256``.
- ``GgufModel.from_file(path, sha256=...)``: a local file uploaded as an S3 asset, then as from_s3.
- ``GgufModel.from_ecr_image(uri)``: an image a pipeline built and pushed, model inside.

The sha256 is checked here, and only here, for both tiers: its format when the source is made,
and its absence (a synth warning) when the source is bound to a construct. The check of the
bytes themselves happens where the bytes are: the image build (GGUF_SHA256) or the runtime
(MODEL_SHA256), both in tiers/gguf_runtime/image.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from tiers.gguf_runtime import BUILD_CONTEXT_EXCLUDES, RUNTIME_DIRECTORY, runtime_image_build_args
from tiers.images import ecr_image_repository_arn, s3_object_arn
from tiers.props import PropError, check_bucket_name, check_text, parse_ecr_image_uri, parse_s3_uri

SHA256 = r"[0-9a-f]{64}"
SHA256_WHAT = "64 lowercase hex digits"
PLATFORMS = {"x86_64": ecr_assets.Platform.LINUX_AMD64, "arm64": ecr_assets.Platform.LINUX_ARM64}
UNVERIFIED_WARNING = "tierwise:unverified-gguf"
KINDS = ("baked", "s3", "file", "ecr-image")


@dataclass(frozen=True)
class GgufModel:
    """A GGUF model source; make one with a factory (``baked``, ``from_s3``, ``from_file``,
    ``from_ecr_image``), never with the constructor."""

    kind: str  # "baked" | "s3" | "file" | "ecr-image"
    sha256: str | None = None
    url: str | None = None
    file: str | None = None
    bucket: str | s3.IBucket | None = None
    key: str | None = None
    path: Path | None = None
    image_uri: str | None = None
    # a pushed runtime image (no model inside) to run instead of building tiers/gguf_runtime/image
    runtime_image_uri: str | None = None

    # --- factories ------------------------------------------------------------------------------

    @classmethod
    def baked(cls, url: str, *, sha256: str | None = None, file: str | None = None) -> GgufModel:
        """Bake the GGUF at ``url`` (https) into the runtime image at build time.

        :param sha256: the file's sha256; the image build fails on a mismatch.
            Default: none, and synth warns that the model is unverified.
        :param file: the name of the file in the image. Default: the last part of ``url``.
        """
        return _baked("GgufModel.baked", ("url", "sha256"), url, sha256, file)

    @classmethod
    def from_s3(
        cls,
        bucket_or_uri: str | s3.IBucket,
        key: str | None = None,
        *,
        sha256: str | None = None,
        runtime_image_uri: str | None = None,
    ) -> GgufModel:
        """Read the GGUF from S3 when the container starts (Lambda: into /tmp, so the
        function's ``ephemeral_storage_mb`` must hold it).

        ``bucket_or_uri`` is ``"s3://bucket/key"`` (then no ``key``), a bucket name, or an
        ``s3.IBucket`` (its KMS key, if it has one, gets a decrypt grant too).

        :param sha256: the file's sha256; the runtime refuses to load a file that differs.
            Default: none, and synth warns that the model is unverified.
        :param runtime_image_uri: a pushed runtime image (ECR, no model inside) to run.
            Default: tiers/gguf_runtime/image, built at deploy time.
        """
        return _from_s3("GgufModel.from_s3", ("bucket_or_uri", "sha256", "runtime_image_uri"),
                        bucket_or_uri, key, sha256, runtime_image_uri)

    @classmethod
    def from_file(
        cls, path: str | Path, *, sha256: str | None = None, runtime_image_uri: str | None = None,
    ) -> GgufModel:
        """Upload a local GGUF file as an S3 asset at deploy time, then read it as ``from_s3`` does.

        :param sha256: as for ``from_s3``. Default: none (synth warns).
        :param runtime_image_uri: as for ``from_s3``. Default: tiers/gguf_runtime/image, built at deploy time.
        """
        return _from_file("GgufModel.from_file", ("path", "sha256", "runtime_image_uri"), path, sha256, runtime_image_uri)

    @classmethod
    def from_ecr_image(cls, uri: str) -> GgufModel:
        """Run an image a pipeline already built and pushed to ECR with the model baked in
        (its build checked the sha256). Nothing is built at synth or deploy time."""
        return _from_ecr_image("GgufModel.from_ecr_image", "uri", uri)

    @classmethod
    def from_props(
        cls,
        owner: str,
        *,
        gguf_url: str | None = None,
        gguf_sha256: str | None = None,
        gguf_file: str | None = None,
        model_uri: str | None = None,
        model_sha256: str | None = None,
        image_uri: str | None = None,
    ) -> GgufModel:
        """The source named by a construct's keyword shorthand (``gguf_url``/``gguf_sha256``/
        ``gguf_file``, ``model_uri``/``model_sha256``, ``image_uri``): exactly one of the three,
        or ``model_uri`` run by a pushed runtime ``image_uri``. Errors name ``owner``'s props."""
        if gguf_url is not None and (model_uri is not None or image_uri is not None):
            raise PropError(
                f"{owner}: gguf_url bakes the model into an image built here; it cannot be combined with "
                f"model_uri or image_uri (pick one model source: gguf_url, model_uri, or image_uri)"
            )
        if gguf_url is not None:
            return _baked(owner, ("gguf_url", "gguf_sha256"), gguf_url, gguf_sha256, gguf_file)
        if model_uri is not None:
            names = ("model_uri", "model_sha256", "image_uri")
            if isinstance(model_uri, str) and model_uri.startswith("s3://"):
                return _from_s3(owner, names, model_uri, None, model_sha256, image_uri)
            return _from_file(owner, names, model_uri, model_sha256, image_uri)
        if image_uri is not None:
            return _from_ecr_image(owner, "image_uri", image_uri)
        raise PropError(
            f"{owner}: no model: pass model=GgufModel.baked/from_s3/from_file/from_ecr_image(...), or gguf_url "
            f"(baked into the image), model_uri (s3://bucket/key or a local .gguf file) or image_uri (an ECR "
            f"image with the model baked in)"
        )

    # --- what a construct gets ------------------------------------------------------------------

    @property
    def source(self) -> str:
        """Where the running container finds the model: "baked-in", "s3" or "image"."""
        return {"baked": "baked-in", "s3": "s3", "file": "s3", "ecr-image": "image"}[self.kind]

    def bind(self, scope: Construct, owner: str, role: iam.IRole) -> BoundGgufModel:
        """The runtime environment for this source, with read access for ``role`` to an S3
        model; warns (once, on ``scope``) when nothing will check the model's bytes."""
        if self.kind not in KINDS:
            raise PropError(f"{owner}: model must come from GgufModel.baked, from_s3, from_file or from_ecr_image")
        environment: dict[str, str] = {}
        s3_uri = None
        if self.kind in ("s3", "file"):
            s3_uri, object_arn = self._s3_object(scope)
            role.add_to_principal_policy(
                iam.PolicyStatement(sid="ReadModelObject", actions=["s3:GetObject"], resources=[object_arn])
            )
            if _is_bucket(self.bucket) and self.bucket.encryption_key is not None:
                self.bucket.encryption_key.grant_decrypt(role)
            environment["MODEL_S3_URI"] = s3_uri
            if self.sha256:
                environment["MODEL_SHA256"] = self.sha256
        if self.kind != "ecr-image" and self.sha256 is None:
            where = self.url if self.kind == "baked" else s3_uri
            how = "baked into the image" if self.kind == "baked" else "loaded at start-up"
            cdk.Annotations.of(scope).add_warning_v2(
                UNVERIFIED_WARNING, f"{where} is {how} without a sha256 to check it against"
            )
        return BoundGgufModel(model=self, environment=environment, s3_uri=s3_uri)

    def _s3_object(self, scope: Construct) -> tuple[str, str]:
        if self.kind == "file":
            asset = s3_assets.Asset(scope, "ModelFile", path=str(self.path))
            bucket_name, key = asset.s3_bucket_name, asset.s3_object_key
            return f"s3://{bucket_name}/{key}", s3_object_arn(scope, bucket_name, key)
        assert self.key is not None
        if _is_bucket(self.bucket):
            return f"s3://{self.bucket.bucket_name}/{self.key}", self.bucket.arn_for_objects(self.key)
        return f"s3://{self.bucket}/{self.key}", s3_object_arn(scope, self.bucket, self.key)

    def _pushed_image(self) -> str | None:
        return self.image_uri if self.kind == "ecr-image" else self.runtime_image_uri

    def lambda_code(self, scope: Construct, owner: str, architecture: str,
                    runtime_directory: str | Path | None = None) -> lambda_.DockerImageCode:
        """The function's image: the pushed one, or tiers/gguf_runtime/image built for
        ``architecture`` (with the model baked in when the source is ``baked``)."""
        pushed = self._pushed_image()
        if pushed is not None:
            match, arn = ecr_image_repository_arn(scope, owner, "image_uri", pushed, rule="lambda_image")
            repository = ecr.Repository.from_repository_attributes(
                scope, "Image", repository_arn=arn, repository_name=match["repository"]
            )
            return lambda_.DockerImageCode.from_ecr(repository, tag_or_digest=match["tag"] or match["digest"])
        return lambda_.DockerImageCode.from_image_asset(
            str(runtime_directory or RUNTIME_DIRECTORY),
            platform=PLATFORMS[architecture],
            build_args=self._build_args(),
            exclude=BUILD_CONTEXT_EXCLUDES,
        )

    def container_image(self, scope: Construct, owner: str,
                        runtime_directory: str | Path | None = None) -> tuple[str, str]:
        """(image URI, repository ARN) for a SageMaker model: the pushed image, or
        tiers/gguf_runtime/image built for x86_64 (SageMaker Serverless runs nothing else)."""
        pushed = self._pushed_image()
        if pushed is not None:
            _, repository_arn = ecr_image_repository_arn(scope, owner, "image_uri", pushed, rule="sagemaker_image")
            return pushed, repository_arn
        asset = ecr_assets.DockerImageAsset(
            scope,
            "Image",
            directory=str(runtime_directory or RUNTIME_DIRECTORY),
            platform=ecr_assets.Platform.LINUX_AMD64,
            build_args=self._build_args(),
            exclude=BUILD_CONTEXT_EXCLUDES,
        )
        return asset.image_uri, asset.repository.repository_arn

    def _build_args(self) -> dict[str, str]:
        if self.kind == "baked":
            return runtime_image_build_args(self.url, self.sha256, self.file)
        return runtime_image_build_args(None, None, None)


@dataclass(frozen=True)
class BoundGgufModel:
    """A model source bound to one construct: the container environment it needs."""

    model: GgufModel
    environment: dict[str, str]
    s3_uri: str | None  # s3://bucket/key the container reads, when the model comes from S3

    @property
    def source(self) -> str:
        return self.model.source


# --- the checks, once for the factories and the constructs' shorthand --------------------------
# `names` are the prop names the caller knows (the factory's parameters, or a construct's props)


def _is_bucket(value: object) -> bool:
    # jsii interfaces are not runtime-checkable: an s3.IBucket is what has a bucket name and object ARNs
    return hasattr(value, "bucket_name") and hasattr(value, "arn_for_objects")


def _check_sha256(owner: str, prop: str, value: str | None) -> None:
    if value is not None:
        check_text(owner, prop, value, SHA256, SHA256_WHAT)


def _baked(owner: str, names: tuple[str, str], url: str, sha256: str | None, file: str | None) -> GgufModel:
    check_text(owner, names[0], url, r"https://\S+", "an https:// URL of a .gguf file")
    _check_sha256(owner, names[1], sha256)
    if file is not None:
        check_text(owner, "file" if names[0] == "url" else "gguf_file", file, r"[\w.-]+", "a file name (letters, digits, '.', '-', '_')")
    return GgufModel(kind="baked", url=url, sha256=sha256, file=file)


def _from_s3(owner: str, names: tuple[str, str, str], bucket_or_uri, key, sha256, runtime_image_uri) -> GgufModel:
    if isinstance(bucket_or_uri, str) and bucket_or_uri.startswith("s3://"):
        if key is not None:
            raise PropError(f"{owner}: key must be left out when {names[0]} is an s3:// URI (got key={key!r})")
        bucket, key = parse_s3_uri(owner, names[0], bucket_or_uri)
    else:
        bucket = bucket_or_uri
        if isinstance(bucket, str):
            check_bucket_name(owner, names[0], bucket)
        elif not _is_bucket(bucket):
            raise PropError(f"{owner}: {names[0]} must be s3://bucket/key, a bucket name or an s3.IBucket (got {bucket!r})")
        if not isinstance(key, str) or not key or key.endswith("/") or not key.lower().endswith(".gguf"):
            raise PropError(f"{owner}: key must be the object key of one .gguf file, not a prefix (got {key!r})")
    _check_sha256(owner, names[1], sha256)
    if runtime_image_uri is not None:
        parse_ecr_image_uri(owner, names[2], runtime_image_uri)
    return GgufModel(kind="s3", bucket=bucket, key=key, sha256=sha256, runtime_image_uri=runtime_image_uri)


def _from_file(owner: str, names: tuple[str, str, str], path, sha256, runtime_image_uri) -> GgufModel:
    if not isinstance(path, (str, Path)) or not Path(path).is_file():
        allowed = "s3://bucket/key or an existing local file" if names[0] == "model_uri" else "an existing local file"
        raise PropError(f"{owner}: {names[0]} must be {allowed} (got {str(path)!r})")
    _check_sha256(owner, names[1], sha256)
    if runtime_image_uri is not None:
        parse_ecr_image_uri(owner, names[2], runtime_image_uri)
    return GgufModel(kind="file", path=Path(path), sha256=sha256, runtime_image_uri=runtime_image_uri)


def _from_ecr_image(owner: str, name: str, uri: str) -> GgufModel:
    parse_ecr_image_uri(owner, name, uri)
    return GgufModel(kind="ecr-image", image_uri=uri)


def sha256_matches_file(model: GgufModel, gguf_file: str, sha256: str | None) -> GgufModel:
    """``model`` with the plan's ``sha256`` when it reads the very file the plan names (same file
    name) and carries no checksum of its own: a plan's checksum is for that file only."""
    if sha256 is None or model.sha256 is not None or model.kind not in ("s3", "file"):
        return model
    name = model.path.name if model.kind == "file" else Path(model.key or "").name
    if name != gguf_file:
        return model
    return replace(model, sha256=sha256)


def gguf_model_for(owner: str, model: GgufModel | None, **shorthand) -> GgufModel:
    """A construct's model source: its `model` prop, or the source its shorthand props name; never both."""
    named = [name for name, value in shorthand.items() if value is not None]
    if model is not None:
        if named:
            raise PropError(f"{owner}: model and {', '.join(named)} both name the model; pass model alone")
        if not isinstance(model, GgufModel):
            raise PropError(f"{owner}: model must be a tiers.GgufModel (baked, from_s3, from_file, from_ecr_image; got {model!r})")
        return model
    return GgufModel.from_props(owner, **shorthand)


__all__ = ["BoundGgufModel", "GgufModel", "gguf_model_for", "SHA256", "UNVERIFIED_WARNING", "sha256_matches_file"]
