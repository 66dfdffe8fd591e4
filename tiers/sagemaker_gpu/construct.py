"""SageMakerGpuEndpoint: an open-weights model on a real-time SageMaker endpoint with GPUs,
served by the Large Model Inference (LMI, DJL Serving + vLLM) container, with target-tracking
autoscaling on invocations per instance."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_ec2 as ec2
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
from tierwise.uris import KMS_KEY_ARN
from tierwise.tiers import sagemaker_gpu

# serving dtype (model_profiles ServingDtype) -> LMI's option.dtype, and the runtime
# quantization LMI applies on top (option.quantize); see the vLLM user guide of djl-serving.
LMI_DTYPE = {"F32": ("fp32", None), "F16": ("fp16", None), "BF16": ("bf16", None), "FP8": ("bf16", "fp8")}


def gpu_instance(instance_type: str) -> GpuInstance:
    """A GPU instance type of tierwise/data/gpu_instances.yaml (its GPU count, memory, local NVMe)."""
    known = {i.instance_type: i for i in gpu_instances()}
    if instance_type not in known:
        raise PropError(
            f"SageMakerGpuEndpoint: instance_type must be one of {', '.join(known)} (got {instance_type!r})"
        )
    return known[instance_type]


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
    there. ``hf_token_secret`` (a Secrets Manager secret or its name) supplies HF_TOKEN for gated models.
    With ``weights_uri`` the model's Hugging Face files come from an S3 folder instead: SageMaker
    downloads them to /opt/ml/model (ModelDataSource, uncompressed) as the execution role, which
    may read only that folder, and the container runs with network isolation (no outbound call
    at all), so the endpoint can sit in isolated subnets with no NAT.
    (tiers/sagemaker_gpu/README.md). Props (all keyword):

    - ``hf_model_id``: the Hugging Face Hub id, ``org/name``. Required unless ``weights_uri`` is given.
    - ``weights_uri``: ``s3://bucket/prefix/``, a folder of the model's Hugging Face files
      (safetensors, config.json, tokenizer files), loaded instead of the Hub, with network
      isolation. Default: none (the Hub).
    - ``weights_key``: the KMS key (or its ARN) that bucket encrypts the files with. Default: none (SSE-S3).
    - ``instance_type``: a GPU instance of tierwise/data/gpu_instances.yaml. Default ``"ml.g5.2xlarge"``.
    - ``tensor_parallel_degree``: GPUs one copy of the model spans; divides the instance's GPU
      count. Default: all GPUs of ``instance_type``.
    - ``serving_dtype``: ``"F32"``, ``"F16"``, ``"BF16"`` or ``"FP8"``. Default ``"BF16"``.
    - ``max_model_len``: longest sequence (prompt + output) in tokens, >= 16. Default 4096.
    - ``max_batch_size``: requests batched together (rolling batch), >= 1. Default 8.
    - ``volume_size_gb``: ML storage volume, 1..512 (instances without NVMe only). Default: SageMaker's.
    - ``startup_health_check_timeout_s``: time to download and load the model, 60..3600. Default 900.
    - ``min_instances`` / ``max_instances``: autoscaling bounds, 1 <= min <= max. Default 1 / 1.
    - ``invocations_per_instance_target``: the target-tracking value per minute, >= 1. Default 60.
    - ``local_nvme``: whether the instance keeps its volume on NVMe (no KMS key, no volume size).
      Default: from the instance type's data.
    - ``image_uri``: a pushed LMI-compatible image (ECR). Default: the LMI Deep Learning
      Container of the stack's region (tierwise/data/containers.yaml).
    - ``hf_token_secret``: a Secrets Manager secret (or its name) holding a Hub token. Default: none (public models only).
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
        if s.hf_model_id is None and props.get("weights_uri") is None:
            raise PropError(f"{cls.__name__}: {placement.model} names no hf_model_id for the GPU container to download: "
                            "upload its files to S3 and give weights_uri (-c weights_uri=s3://bucket/prefix/)")
        minimum = s.min_instances if min_instances is None else min_instances
        maximum = max(s.max_instances, minimum) if max_instances is None else max_instances
        return {
            "hf_model_id": None if props.get("weights_uri") is not None else s.hf_model_id,
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
            **props,
        }

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        hf_model_id: str | None = None,
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
        if hf_model_id is not None:
            check_text(owner, "hf_model_id", hf_model_id, r"[\w.-]+/[\w.-]+", "a Hugging Face Hub id, org/name")
        else:
            weights_bucket, weights_prefix = parse_s3_prefix_uri(owner, "weights_uri", weights_uri)
            if hf_token_secret is not None:
                raise PropError(f"{owner}: hf_token_secret: with weights_uri the container never calls the Hugging Face Hub")
        if weights_key is not None and weights_uri is None:
            raise PropError(f"{owner}: weights_key is the KMS key of weights_uri's bucket: give weights_uri")
        if isinstance(weights_key, str) and not KMS_KEY_ARN.fullmatch(weights_key):
            raise PropError(f"{owner}: weights_key must be a kms.IKey or a KMS key ARN (got {weights_key!r})")
        spec = gpu_instance(instance_type)
        gpus = spec.gpu_count
        tp = gpus if tensor_parallel_degree is None else tensor_parallel_degree
        check_int(owner, "tensor_parallel_degree", tp, 1, gpus)
        if gpus % tp:
            raise PropError(
                f"{owner}: tensor_parallel_degree must divide the {gpus} GPUs of {instance_type} "
                f"(allowed: {', '.join(str(d) for d in range(1, gpus + 1) if gpus % d == 0)}; got {tp})"
            )
        check_choice(owner, "serving_dtype", serving_dtype, LMI_DTYPE)
        check_int(owner, "max_model_len", max_model_len, 16)
        check_int(owner, "max_batch_size", max_batch_size, 1)
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
        opts = TierOptions.checked(owner, options, uses=self.OPTIONS)
        super().__init__(scope, id, options=opts)
        self.instance_type = instance_type
        self.tensor_parallel_degree = tp
        self.local_nvme = nvme

        dtype, quantize = LMI_DTYPE[serving_dtype]
        family = instance_type.rsplit(".", 1)[0]
        if dtype == "bf16" and family in containers().image("lmi").no_bf16_families:
            dtype = "fp16"
            cdk.Annotations.of(self).add_warning_v2(
                "tierwise:fp16-fallback",
                f"{spec.spec.gpu} ({family}) has no bfloat16: {serving_dtype} weights are served as FP16 (same memory)",
            )
        self.dtype = dtype
        environment = {
            "OPTION_TENSOR_PARALLEL_DEGREE": str(tp),
            "OPTION_DTYPE": dtype,
            "OPTION_MAX_MODEL_LEN": str(max_model_len),
            "OPTION_MAX_ROLLING_BATCH_SIZE": str(max_batch_size),
            # LMI's own request timeout (option.predict_timeout, seconds; djl-serving
            # docs/configurations_model.md) held to the 60 s SageMaker allows an InvokeEndpoint
            "OPTION_PREDICT_TIMEOUT": str(lim.invocation_timeout_s),
        }
        if quantize:
            environment["OPTION_QUANTIZE"] = quantize
        self.network_isolation = weights_uri is not None
        container: dict = {}
        if weights_uri is None:
            environment["HF_MODEL_ID"] = hf_model_id
        else:
            container["model_data_source"] = self._weights_from_s3(weights_uri, weights_bucket, weights_prefix, weights_key)
            lmi = s3_weights().lmi
            environment[lmi.model_id_env] = lmi.model_id_value
        if hf_token_secret is not None and not isinstance(hf_token_secret, str) and not hasattr(hf_token_secret, "secret_value"):
            raise PropError(f"{owner}: hf_token_secret must be a secretsmanager.ISecret or a secret's name (got {hf_token_secret!r})")
        if isinstance(hf_token_secret, str):
            hf_token_secret = secretsmanager.Secret.from_secret_name_v2(self, "HfToken", hf_token_secret)
        if hf_token_secret is not None:
            # gated Hub models (Llama, Gemma) need a token; CloudFormation resolves the
            # reference at deploy time, so the token is never in the template
            environment["HF_TOKEN"] = hf_token_secret.secret_value.unsafe_unwrap()
        if image_uri is not None:
            image = image_uri
            _, repository_arn = ecr_image_repository_arn(self, owner, "image_uri", image_uri)
        else:
            image, repository_arn = dlc_image_uri(self, "lmi"), dlc_repository_arn(self, "lmi")
        self._allow_image_pull([repository_arn])
        self.image_uri = image
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
            container={"image": image, "environment": environment, **container},
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
