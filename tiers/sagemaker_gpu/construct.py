"""SageMakerGpuEndpoint: an open-weights model on a real-time SageMaker endpoint with GPUs,
served by the Large Model Inference (LMI, DJL Serving + vLLM) container, with target-tracking
autoscaling on invocations per instance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from tiers.checkov import SAGEMAKER_HUB_DOWNLOAD_NO_ISOLATION, acknowledge_checkov
from tiers.sagemaker_endpoint import VARIANT, SageMakerEndpointBase
from tiers.construct_base import EXAMPLE_REQUESTS, ForPlacement, TierOptions
from tiers.images import dlc_image_uri, dlc_repository_arn, ecr_image_repository_arn
from tiers.props import PropError, check_choice, check_int, check_text, parse_s3_prefix_uri
from tiers.security import acknowledge, alarm, nag_resource
from tierwise.facts import GpuInstance, containers, gpu_instances, realtime_limits, s3_weights
from tierwise.tiers import sagemaker_gpu
from tierwise.uris import KMS_KEY_ARN, UriProblem, secret as secret_reference

# the LMI image with an entrypoint that reads the Hub token from Secrets Manager at start
HF_TOKEN_DIRECTORY = Path(__file__).resolve().parent / "hf_token"

# serving dtype (model_profiles ServingDtype) -> LMI's option.dtype, and the runtime
# quantization LMI applies on top (option.quantize); see the vLLM user guide of djl-serving.
# INT4 is a published AWQ checkpoint (hf_model_id names it): vLLM runs AWQ in FP16.
LMI_DTYPE = {"F32": ("fp32", None), "F16": ("fp16", None), "BF16": ("bf16", None), "FP8": ("bf16", "fp8"),
             "INT4": ("fp16", "awq")}


def gpu_instance(instance_type: str) -> GpuInstance:
    """A GPU instance type of tierwise/data/gpu_instances.yaml (its GPU count, memory, local NVMe)."""
    known = {i.instance_type: i for i in gpu_instances()}
    if instance_type not in known:
        raise PropError(
            f"SageMakerGpuEndpoint: instance_type must be one of {', '.join(known)} (got {instance_type!r})"
        )
    return known[instance_type]


def check_hf_token_secret(owner: str, scope: Construct, given) -> tuple[str, object] | None:
    """("name", name), ("arn", arn) or ("secret", ISecret) for a hf_token_secret prop; anything else
    (a '*', a mangled ARN, another region's secret) is a PropError (tierwise/uris.py's rules)."""
    if given is None:
        return None
    if isinstance(given, str):
        region = cdk.Stack.of(scope).region
        agnostic = cdk.Token.is_unresolved(region)
        try:
            ref = secret_reference(given, stack_region=None if agnostic else region)
        except UriProblem as exc:
            if agnostic and given.startswith("arn:") and "pin the stack" in str(exc):
                return "arn", given  # an environment-agnostic stack: the ARN's region cannot be compared
            raise PropError(f"{owner}: hf_token_secret: {exc}") from None
        return ("arn", ref.arn) if ref.arn is not None else ("name", ref.name)
    if not hasattr(given, "secret_value") or not hasattr(given, "secret_arn"):
        raise PropError(f"{owner}: hf_token_secret must be a secretsmanager.ISecret, a secret's name or its full ARN "
                        f"(got {given!r})")
    return "secret", given


def check_lmi_props(owner: str, *, hf_model_id: str | None, spec: GpuInstance, tensor_parallel_degree: int | None,
                    serving_dtype: str, max_model_len: int, max_batch_size: int, hf_revision: str | None = None,
                    gated: bool | None = None) -> int:
    """The LMI container's props checked for `owner` on instance `spec`; the tensor-parallel degree
    (default: all its GPUs). `hf_model_id` None: the weights come from S3, not the Hub."""
    if hf_model_id is not None:
        check_text(owner, "hf_model_id", hf_model_id, r"[\w.-]+/[\w.-]+", "a Hugging Face Hub id, org/name")
    if hf_revision is not None:
        check_text(owner, "hf_revision", hf_revision, r"[0-9a-f]{40}", "a Hub commit sha, 40 hex digits")
    if gated is not None and not isinstance(gated, bool):
        raise PropError(f"{owner}: gated must be True, False or None (got {gated!r})")
    gpus = spec.gpu_count
    tp = gpus if tensor_parallel_degree is None else tensor_parallel_degree
    check_int(owner, "tensor_parallel_degree", tp, 1, gpus)
    if gpus % tp:
        raise PropError(
            f"{owner}: tensor_parallel_degree must divide the {gpus} GPUs of {spec.instance_type} "
            f"(allowed: {', '.join(str(d) for d in range(1, gpus + 1) if gpus % d == 0)}; got {tp})"
        )
    check_choice(owner, "serving_dtype", serving_dtype, LMI_DTYPE)
    check_int(owner, "max_model_len", max_model_len, 16)
    check_int(owner, "max_batch_size", max_batch_size, 1)
    return tp


@dataclass(frozen=True)
class LmiContainer:
    image: str
    environment: dict[str, str]
    pull_arns: list[str]  # the repositories the role may pull the image from
    dtype: str  # LMI's option.dtype as served (fp16 where the GPU has no bfloat16)
    secret: secretsmanager.ISecret | None = field(default=None)


def lmi_container(
    scope: Construct, owner: str, *, hf_model_id: str | None, spec: GpuInstance, tensor_parallel_degree: int,
    serving_dtype: str, max_model_len: int, max_batch_size: int, image_uri: str | None,
    hf_token_secret: secretsmanager.ISecret | str | None, predict_timeout_s: int, role: iam.IRole,
    hf_revision: str | None = None, gated: bool | None = None,
) -> LmiContainer:
    """The Large Model Inference container (DJL Serving + vLLM) serving `hf_model_id` from the Hub,
    as every tier on it runs it: the image (the region's LMI Deep Learning Container, or
    `image_uri`) and its environment, the Hub commit pinned (`hf_revision`, else a synth warning).
    A Hub token never enters the environment: with `hf_token_secret` the image is `image` with
    tiers/sagemaker_gpu/hf_token/ in front, which reads the secret at start (`role` may read that
    one secret). `predict_timeout_s` is LMI's own request timeout (option.predict_timeout;
    djl-serving docs/configurations_model.md). `hf_model_id` None: the model's files are in the
    container's model directory (SageMaker puts an S3 folder there), no Hub call at all."""
    dtype, quantize = LMI_DTYPE[serving_dtype]
    family = spec.instance_type.rsplit(".", 1)[0]
    if dtype == "bf16" and family in containers().image("lmi").no_bf16_families:
        dtype = "fp16"
        cdk.Annotations.of(scope).add_warning_v2(
            "tierwise:fp16-fallback",
            f"{spec.spec.gpu} ({family}) has no bfloat16: {serving_dtype} weights are served as FP16 (same memory)",
        )
    if hf_model_id is None:
        local = s3_weights().lmi
        model_id = {local.model_id_env: local.model_id_value}
    else:
        model_id = {"HF_MODEL_ID": hf_model_id}
    environment = {
        **model_id,
        "OPTION_TENSOR_PARALLEL_DEGREE": str(tensor_parallel_degree),
        "OPTION_DTYPE": dtype,
        "OPTION_MAX_MODEL_LEN": str(max_model_len),
        "OPTION_MAX_ROLLING_BATCH_SIZE": str(max_batch_size),
        "OPTION_PREDICT_TIMEOUT": str(predict_timeout_s),
    }
    if quantize:
        environment["OPTION_QUANTIZE"] = quantize
    lmi = containers().image("lmi")
    if hf_revision is not None:
        environment[lmi.revision_env] = hf_revision
    elif hf_model_id is not None:
        cdk.Annotations.of(scope).add_warning_v2(
            "tierwise:unpinned-hub-revision",
            f"{hf_model_id} is downloaded at its current main branch whenever an instance starts: pass hf_revision "
            "(a commit sha) to serve the weights you tested",
        )
    if image_uri is not None:
        _, repository_arn = ecr_image_repository_arn(scope, owner, "image_uri", image_uri, rule="sagemaker_image")
        base = image_uri
    else:
        base, repository_arn = dlc_image_uri(scope, "lmi"), dlc_repository_arn(scope, "lmi")
    secret, secret_id = _hf_token_secret(scope, check_hf_token_secret(owner, scope, hf_token_secret))
    if gated and secret is None:
        cdk.Annotations.of(scope).add_warning_v2(
            "tierwise:gated-model-without-token",
            f"{hf_model_id} is gated on the Hugging Face Hub: without hf_token_secret the container cannot download "
            "it and the endpoint never becomes InService",
        )
    if secret is None:
        return LmiContainer(base, environment, [repository_arn], dtype)
    asset = ecr_assets.DockerImageAsset(
        scope, "TokenImage", directory=str(HF_TOKEN_DIRECTORY), build_args={"BASE_IMAGE": base},
        platform=ecr_assets.Platform.LINUX_AMD64,
    )
    secret.grant_read(role)
    environment["HF_TOKEN_SECRET_ID"] = secret_id
    environment["HF_TOKEN_SECRET_REGION"] = cdk.Aws.REGION
    return LmiContainer(asset.image_uri, environment, [asset.repository.repository_arn], dtype, secret)


def _hf_token_secret(scope: Construct, checked) -> tuple[secretsmanager.ISecret | None, str | None]:
    """The secret holding the Hub token and the id the entrypoint reads it by: a secret's name
    stays a name and a full ARN stays an ARN."""
    if checked is None:
        return None, None
    kind, value = checked
    if kind == "name":
        return secretsmanager.Secret.from_secret_name_v2(scope, "HfToken", value), value
    if kind == "arn":
        return secretsmanager.Secret.from_secret_complete_arn(scope, "HfToken", value), value
    return value, value.secret_arn


class SageMakerGpuEndpoint(ForPlacement, SageMakerEndpointBase):
    """A Hugging Face model on GPU instances behind a real-time SageMaker endpoint.

    The LMI container downloads ``hf_model_id`` from the Hub at start-up and shards it over
    ``tensor_parallel_degree`` GPUs (default: all GPUs of ``instance_type``). The endpoint
    config gets the KMS key for the ML storage volume unless the instance type keeps its
    volume on local NVMe instance storage (ml.g5, g6, g6e, p4d, p5...), which rejects a key
    and takes no VolumeSizeInGB either. ``min_instances``..``max_instances`` bound a target-
    tracking policy on SageMakerVariantInvocationsPerInstance (Application Auto Scaling's
    service-linked role does the scaling). A BF16 model on a GPU without bfloat16 (the T4 of
    ml.g4dn) is served as FP16, with a synth warning: the same memory, and vLLM refuses bf16
    there. ``hf_token_secret`` (a Secrets Manager secret, its name or its full ARN) supplies the
    Hub token for gated models without putting it in the model's environment: the image is then
    the LMI image with tiers/sagemaker_gpu/hf_token/ in front, which reads the secret at start
    (the execution role may read that one secret) and hands over to LMI's own entrypoint.
    ``hf_revision`` pins the Hub commit LMI downloads (HF_REVISION). With ``weights_uri`` the
    model's Hugging Face files come from an S3 folder instead: SageMaker downloads them to
    /opt/ml/model (ModelDataSource, uncompressed) as the execution role, which may read only that
    folder, and the container runs with network isolation (no outbound call at all), so the
    endpoint can sit in isolated subnets with no NAT.
    (tiers/sagemaker_gpu/README.md). Props (all keyword):

    - ``hf_model_id``: the Hugging Face Hub id, ``org/name``. Required unless ``weights_uri`` is given.
    - ``hf_revision``: the Hub commit to download, 40 hex digits. Default: none, the repository's
      main branch as it is when an instance starts (a synth warning says so).
    - ``gated``: whether the Hub repository is gated (a catalogue profile's ``hub.gated``); gated
      without ``hf_token_secret`` is a synth warning: the endpoint cannot download the model.
      Default: None, unknown.
    - ``weights_uri``: ``s3://bucket/prefix/``, a folder of the model's Hugging Face files
      (safetensors, config.json, tokenizer files), loaded instead of the Hub, with network
      isolation. Default: none (the Hub).
    - ``weights_key``: the KMS key (or its ARN) that bucket encrypts the files with. Default: none (SSE-S3).
    - ``instance_type``: a GPU instance of tierwise/data/gpu_instances.yaml. Default ``"ml.g5.2xlarge"``.
    - ``tensor_parallel_degree``: GPUs one copy of the model spans; divides the instance's GPU
      count. Default: all GPUs of ``instance_type``.
    - ``serving_dtype``: ``"F32"``, ``"F16"``, ``"BF16"``, ``"FP8"`` (quantized by vLLM at load, on GPUs
      with FP8 tensor cores) or ``"INT4"`` (``hf_model_id`` names a published AWQ checkpoint). Default ``"BF16"``.
    - ``max_model_len``: longest sequence (prompt + output) in tokens, >= 16. Default 4096.
    - ``max_batch_size``: requests batched together (rolling batch: vLLM's max_num_seqs), >= 1. Default 8;
      a plan sets the operating concurrency of its capacity curve.
    - ``volume_size_gb``: ML storage volume, 1..512 (instances without NVMe only). Default: SageMaker's.
    - ``startup_health_check_timeout_s``: time to download and load the model, 60..3600. Default 900.
    - ``min_instances`` / ``max_instances``: autoscaling bounds, 1 <= min <= max. Default 1 / 1.
    - ``invocations_per_instance_target``: the target-tracking value per minute, >= 1. Default 60; a
      plan sets what one instance serves at its target utilization.
    - ``local_nvme``: whether the instance keeps its volume on NVMe (no KMS key, no volume size).
      Default: from the instance type's data.
    - ``image_uri``: a pushed LMI-compatible image (ECR). Default: the LMI Deep Learning
      Container of the stack's region (tierwise/data/containers.yaml).
    - ``hf_token_secret``: a Secrets Manager secret, its name or its full ARN, holding a Hub token
      (plain text, or JSON with an "HF_TOKEN" key). Building the token image needs Docker at
      deploy time, logged in to the LMI registry. Default: none (public models only).
    - ``options``: a ``tiers.TierOptions``. Default: a new key and execution role, one month of
      logs, destroyed with the stack, alarms without actions.
    - ``vpc``, ``vpc_subnets``, ``security_groups``: put the model containers' network
      interfaces in that VPC's subnets (default: its private subnets, in at least two
      Availability Zones) with those groups (default: one of its own). Default: no VPC. From the
      Hub the container downloads the model at start-up, so the subnets need a NAT; with
      ``weights_uri`` they need only the S3 gateway endpoint (isolated subnets).
    """

    TIER = sagemaker_gpu.ID

    @classmethod
    def props_for_placement(
        cls, placement, *, min_instances: int | None = None, max_instances: int | None = None, **props,
    ) -> dict:
        s = placement.settings
        own_weights = props.get("weights_uri") is not None
        if s.hf_model_id is None and not own_weights:
            raise PropError(f"{cls.__name__}: {placement.model} names no hf_model_id for the GPU container to download: "
                            "upload its files to S3 and give weights_uri (-c weights_uri=s3://bucket/prefix/)")
        hub = placement.profile.hub
        minimum = s.min_instances if min_instances is None else min_instances
        maximum = max(s.max_instances, minimum) if max_instances is None else max_instances
        return {
            "hf_model_id": None if own_weights else s.hf_model_id,
            "hf_revision": None if own_weights else s.hf_revision,
            "gated": None if own_weights or hub is None else hub.gated,
            "instance_type": s.instance_type,
            "tensor_parallel_degree": s.tensor_parallel_degree,
            "serving_dtype": s.serving_dtype,
            "max_model_len": s.max_model_len,
            "max_batch_size": s.max_batch_size,
            "volume_size_gb": s.volume_size_gb,
            "startup_health_check_timeout_s": s.startup_health_check_timeout_s,
            "min_instances": minimum,
            "max_instances": maximum,
            "local_nvme": s.local_nvme,
            "invocations_per_instance_target": s.invocations_per_instance_target,
            **props,
        }

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        hf_model_id: str | None = None,
        hf_revision: str | None = None,
        gated: bool | None = None,
        instance_type: str = "ml.g5.2xlarge",
        tensor_parallel_degree: int | None = None,
        serving_dtype: str = "BF16",
        max_model_len: int = 4096,
        max_batch_size: int = 8,
        volume_size_gb: int | None = None,
        startup_health_check_timeout_s: int = 900,
        min_instances: int = 1,
        max_instances: int = 1,
        invocations_per_instance_target: int = 60,
        local_nvme: bool | None = None,
        image_uri: str | None = None,
        hf_token_secret: secretsmanager.ISecret | str | None = None,
        options: TierOptions | None = None,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        weights_uri: str | None = None,
        weights_key: kms.IKey | str | None = None,
    ) -> None:
        owner = type(self).__name__
        lim = realtime_limits()
        if (hf_model_id is None) == (weights_uri is None):
            raise PropError(f"{owner}: give hf_model_id (the Hub) or weights_uri (an S3 folder), one of them")
        if weights_uri is not None:
            weights_bucket, weights_prefix = parse_s3_prefix_uri(owner, "weights_uri", weights_uri)
            for name, given in (("hf_token_secret", hf_token_secret), ("hf_revision", hf_revision)):
                if given is not None:
                    raise PropError(f"{owner}: {name}: with weights_uri the container never calls the Hugging Face Hub")
        if weights_key is not None and weights_uri is None:
            raise PropError(f"{owner}: weights_key is the KMS key of weights_uri's bucket: give weights_uri")
        if isinstance(weights_key, str) and not KMS_KEY_ARN.fullmatch(weights_key):
            raise PropError(f"{owner}: weights_key must be a kms.IKey or a KMS key ARN (got {weights_key!r})")
        spec = gpu_instance(instance_type)
        tp = check_lmi_props(owner, hf_model_id=hf_model_id, spec=spec, tensor_parallel_degree=tensor_parallel_degree,
                             serving_dtype=serving_dtype, max_model_len=max_model_len, max_batch_size=max_batch_size,
                             hf_revision=hf_revision, gated=gated)
        check_int(
            owner, "startup_health_check_timeout_s", startup_health_check_timeout_s,
            lim.startup_health_check_timeout_s_min, lim.startup_health_check_timeout_s_max,
        )
        check_int(owner, "min_instances", min_instances, 1)
        check_int(owner, "max_instances", max_instances, min_instances)
        check_int(owner, "invocations_per_instance_target", invocations_per_instance_target, 1)
        nvme = spec.spec.local_nvme if local_nvme is None else local_nvme
        if volume_size_gb is not None:
            check_int(owner, "volume_size_gb", volume_size_gb, 1, lim.volume_size_gb_max)
        token = check_hf_token_secret(owner, scope, hf_token_secret)
        if token is not None and image_uri is None and cdk.Token.is_unresolved(cdk.Stack.of(scope).region):
            raise PropError(
                f"{owner}: hf_token_secret needs a stack with a region: the image that reads the token is built on "
                "the LMI image of that region (give the stack an env with a region)"
            )
        opts = TierOptions.checked(owner, options, uses=self.OPTIONS)
        super().__init__(scope, id, options=opts)
        self.instance_type = instance_type
        self.tensor_parallel_degree = tp
        self.local_nvme = nvme

        container = lmi_container(
            self, owner, hf_model_id=hf_model_id, spec=spec, tensor_parallel_degree=tp, serving_dtype=serving_dtype,
            max_model_len=max_model_len, max_batch_size=max_batch_size, image_uri=image_uri,
            hf_token_secret=hf_token_secret, role=self.role, hf_revision=hf_revision, gated=gated,
            # LMI's own request timeout held to the 60 s SageMaker allows an InvokeEndpoint
            predict_timeout_s=lim.invocation_timeout_s,
        )
        self.dtype = container.dtype
        self._allow_image_pull(container.pull_arns)
        self.hf_token_secret = container.secret
        self.image_uri = container.image
        self.network_isolation = weights_uri is not None
        model_data: dict = {}
        if weights_uri is not None:
            model_data["model_data_source"] = self._weights_from_s3(weights_uri, weights_bucket, weights_prefix,
                                                                    weights_key)
        self.example_request = EXAMPLE_REQUESTS["lmi"]

        variant = {
            "instance_type": instance_type,
            "initial_instance_count": min_instances,
            "initial_variant_weight": 1,
            "container_startup_health_check_timeout_in_seconds": startup_health_check_timeout_s,
        }
        if not nvme and volume_size_gb is not None:
            # instance types with NVMe instance storage reject VolumeSizeInGB
            # (aws/sagemaker-python-sdk, utils.volume_size_supported)
            variant["volume_size_in_gb"] = volume_size_gb
        self._build_endpoint(
            container={"image": container.image, "environment": container.environment, **model_data},
            variant=variant,
            kms_key_on_config=not nvme,
            vpc_config=self._vpc_config(owner, vpc, vpc_subnets, security_groups),
            network_isolation=self.network_isolation,
        )
        if not self.network_isolation:
            acknowledge_checkov(self.cfn_model, SAGEMAKER_HUB_DOWNLOAD_NO_ISOLATION)

        self.scaling_target = appscaling.ScalableTarget(
            self,
            "Scaling",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{self.cfn_endpoint.attr_endpoint_name}/variant/{VARIANT}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=min_instances,
            max_capacity=max_instances,
        )
        # Without a RoleARN, Application Auto Scaling uses (and creates if needed) its
        # service-linked role for SageMaker endpoints; the role CDK would make has no permissions.
        self.scaling_target.node.try_remove_child("Role")
        self.scaling_target.node.default_child.add_property_deletion_override("RoleARN")
        self.scaling_target.scale_to_track_metric(
            "InvocationsPerInstance",
            target_value=invocations_per_instance_target,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            scale_in_cooldown=cdk.Duration.minutes(10),
            scale_out_cooldown=cdk.Duration.minutes(5),
        )
        alarm_actions = opts.alarm_actions
        # which alarms exist is the tier's (its bill counts them): tierwise/tiers/sagemaker_gpu.py
        make = {
            "Errors": lambda: self._errors_alarm(alarm_actions),
            "GpuMemory": lambda: alarm(
                self, "GpuMemoryAlarm",
                metric=self.metric("GPUMemoryUtilization", namespace="/aws/sagemaker/Endpoints", statistic="Maximum"),
                # per instance the metric adds up its GPUs: 100% per GPU
                threshold=95 * spec.gpu_count, evaluation_periods=3, actions=alarm_actions,
                description="GPU memory has stayed above 95% for 15 minutes: the KV cache is full, requests queue",
            ),
        }
        self.alarms = [make[name]() for name in sagemaker_gpu.TIER.alarms]

    def _weights_from_s3(self, uri: str, bucket_name: str, prefix: str,
                         key: kms.IKey | str | None) -> sagemaker.CfnModel.ModelDataSourceProperty:
        """ModelDataSource for the uncompressed files under `uri`, and the execution role's right to
        read that folder (SageMaker downloads as the role; an isolated container gets no credentials)."""
        facts = s3_weights().model_data_source
        bucket = s3.Bucket.from_bucket_name(self, "Weights", bucket_name)
        self.role.add_to_principal_policy(iam.PolicyStatement(
            sid="ReadTheWeights", actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{prefix}*")]))
        self.role.add_to_principal_policy(iam.PolicyStatement(
            sid="ListTheWeights", actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}}))
        if self._own_role:
            acknowledge(
                self.role,
                f"AwsSolutions-IAM5[Resource::{nag_resource(self, bucket.arn_for_objects(f'{prefix}*'))}]",
                "SageMaker downloads every file of the model's folder (safetensors shards, config.json, tokenizer "
                "files) as the execution role: the statement allows only objects under that one prefix",
            )
        if key is not None:
            key_arn = key if isinstance(key, str) else key.key_arn
            stack = cdk.Stack.of(self)
            self.role.add_to_principal_policy(iam.PolicyStatement(
                sid="DecryptTheWeights", actions=["kms:Decrypt"], resources=[key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.{stack.url_suffix}"}}))
        return sagemaker.CfnModel.ModelDataSourceProperty(s3_data_source=sagemaker.CfnModel.S3DataSourceProperty(
            s3_uri=uri, s3_data_type=facts.s3_data_type, compression_type=facts.compression_type))
