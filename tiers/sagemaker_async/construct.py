"""SageMakerAsyncEndpoint: an open-weights model on a SageMaker asynchronous endpoint with GPUs,
served by the same Large Model Inference container as the GPU tier, its requests and answers in
an S3 bucket of its own, scaling to zero instances between submissions."""

from __future__ import annotations

import re

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from tiers.buckets import data_bucket
from tiers.checkov import SAGEMAKER_HUB_DOWNLOAD_NO_ISOLATION, acknowledge_checkov
from tiers.construct_base import EXAMPLE_REQUESTS, ForPlacement, TierOptions
from tiers.props import PropError, check_int
from tiers.sagemaker_endpoint import VARIANT, SageMakerEndpointBase
from tiers.sagemaker_gpu.construct import check_lmi_props, gpu_instance, lmi_container
from tiers.security import acknowledge, alarm
from tierwise.cost.bills import REQUEST_IO
from tierwise.facts import async_limits, realtime_limits, sagemaker_async
from tierwise.tiers import sagemaker_async as sagemaker_async_tier

INPUT_PREFIX, OUTPUT_PREFIX, FAILURE_PREFIX = "input/", "output/", "failures/"


class SageMakerAsyncEndpoint(ForPlacement, SageMakerEndpointBase):
    """A Hugging Face model on GPU instances behind a SageMaker asynchronous endpoint.

    Callers put a request body under ``input/`` of the construct's bucket and call
    InvokeEndpointAsync with its location; SageMaker queues it, the LMI container (DJL Serving +
    vLLM, downloading ``hf_model_id`` from the Hub at start-up) answers, and the answer lands under
    ``output/`` (a failure under ``failures/``), encrypted with the construct's key. The endpoint
    scales to zero as AWS documents for asynchronous inference: MinCapacity 0, target tracking on
    ApproximateBacklogSizePerInstance, and a step policy that starts one instance when the
    HasBacklogWithoutCapacity alarm fires (tiers/sagemaker_async/README.md). Props (all keyword):

    - ``hf_model_id``: the Hugging Face Hub id, ``org/name``. Required.
    - ``hf_revision``: the Hub commit to download, 40 hex digits. Default: none, the repository's
      main branch at start (a synth warning).
    - ``gated``: whether the Hub repository is gated; gated without ``hf_token_secret`` is a synth
      warning. Default: none, unknown.
    - ``instance_type``: a GPU instance of tierwise/data/gpu_instances.yaml that the AWS Price List
      offers for asynchronous inference. Default ``"ml.g6.xlarge"``.
    - ``tensor_parallel_degree``: GPUs one copy of the model spans. Default: all GPUs of ``instance_type``.
    - ``serving_dtype``: ``"F32"``, ``"F16"``, ``"BF16"`` or ``"FP8"``. Default ``"BF16"``.
    - ``max_model_len``: longest sequence (prompt + output) in tokens, >= 16. Default 4096.
    - ``max_batch_size``: requests the container batches together, >= 1. Default 8.
    - ``volume_size_gb``: ML storage volume, 1..512 (instances without NVMe only). Default: SageMaker's.
    - ``startup_health_check_timeout_s``: time to download and load the model, 60..3600. Default 900.
    - ``local_nvme``: whether the instance keeps its volume on NVMe. Default: from the instance type's data.
    - ``image_uri``: a pushed LMI-compatible image (ECR). Default: the region's LMI Deep Learning Container.
    - ``hf_token_secret``: a Secrets Manager secret, its name or its full ARN, holding a Hub token; read at
      start by an entrypoint in front of LMI, never put in the model's environment. Default: none.
      The container props are SageMakerGpuEndpoint's, checked the same way (``check_lmi_props``).
    - ``max_concurrent_invocations_per_instance``: requests SageMaker hands one instance at once,
      1..1000. Default: ``max_batch_size``.
    - ``max_instances``: instances a backlog may start, >= 1. Default 1.
    - ``invocation_timeout_s``: how long one request may run (LMI's predict timeout and the
      InvokeEndpointAsync timeout the outputs use), 1..3600. Default 900.
    - ``retention_days``: days the bucket keeps requests and answers, >= 1. Default 30.
    - ``options``: a ``tiers.TierOptions``. Default: a new key and execution role, one month of
      logs, log groups and an empty bucket destroyed with the stack, alarms without actions.
    """

    TIER = sagemaker_async_tier.ID

    @classmethod
    def props_for_placement(cls, placement, **props) -> dict:
        s = placement.settings
        if s.hf_model_id is None:
            raise PropError(f"{cls.__name__}: {placement.model} names no hf_model_id for the GPU container")
        hub = placement.profile.hub
        return {
            "hf_model_id": s.hf_model_id,
            "hf_revision": s.hf_revision,
            "gated": hub.gated if hub is not None else None,
            "instance_type": s.instance_type,
            "tensor_parallel_degree": s.tensor_parallel_degree,
            "serving_dtype": s.serving_dtype,
            "max_model_len": s.max_model_len,
            "max_batch_size": s.max_batch_size,
            "max_concurrent_invocations_per_instance": s.max_concurrent_invocations_per_instance,
            "volume_size_gb": s.volume_size_gb,
            "startup_health_check_timeout_s": s.startup_health_check_timeout_s,
            "max_instances": s.max_instances,
            "local_nvme": s.local_nvme,
            "retention_days": s.retention_days,
            **props,
        }

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        hf_model_id: str,
        hf_revision: str | None = None,
        gated: bool | None = None,
        instance_type: str = "ml.g6.xlarge",
        tensor_parallel_degree: int | None = None,
        serving_dtype: str = "BF16",
        max_model_len: int = 4096,
        max_batch_size: int = 8,
        max_concurrent_invocations_per_instance: int | None = None,
        volume_size_gb: int | None = None,
        startup_health_check_timeout_s: int = 900,
        max_instances: int = 1,
        invocation_timeout_s: int | None = None,
        retention_days: int = sagemaker_async_tier.RETENTION_DAYS,
        local_nvme: bool | None = None,
        image_uri: str | None = None,
        hf_token_secret: secretsmanager.ISecret | str | None = None,
        options: TierOptions | None = None,
    ) -> None:
        owner = type(self).__name__
        lim, alim, facts = realtime_limits(), async_limits(), sagemaker_async()
        spec = gpu_instance(instance_type)
        if instance_type in facts.pricing.not_offered.instance_types:
            raise PropError(f"{owner}: instance_type {instance_type} is not offered for asynchronous inference "
                            f"({facts.pricing.not_offered.source}); choose another GPU instance")
        tp = check_lmi_props(owner, hf_model_id=hf_model_id, spec=spec, tensor_parallel_degree=tensor_parallel_degree,
                             serving_dtype=serving_dtype, max_model_len=max_model_len, max_batch_size=max_batch_size,
                             hf_revision=hf_revision, gated=gated)
        concurrency = max_batch_size if max_concurrent_invocations_per_instance is None \
            else max_concurrent_invocations_per_instance
        check_int(owner, "max_concurrent_invocations_per_instance", concurrency,
                  alim.max_concurrent_invocations_per_instance_min, alim.max_concurrent_invocations_per_instance_max)
        check_int(owner, "startup_health_check_timeout_s", startup_health_check_timeout_s,
                  lim.startup_health_check_timeout_s_min, lim.startup_health_check_timeout_s_max)
        check_int(owner, "max_instances", max_instances, 1)
        timeout = alim.invocation_timeout_s_default if invocation_timeout_s is None else invocation_timeout_s
        check_int(owner, "invocation_timeout_s", timeout, alim.invocation_timeout_s_min, alim.invocation_timeout_s_max)
        if volume_size_gb is not None:
            check_int(owner, "volume_size_gb", volume_size_gb, 1, lim.volume_size_gb_max)
        nvme = spec.spec.local_nvme if local_nvme is None else local_nvme
        opts = TierOptions.checked(owner, options, uses=self.OPTIONS)
        super().__init__(scope, id, options=opts)
        self.instance_type = instance_type
        self.tensor_parallel_degree = tp
        self.invocation_timeout_s = timeout

        self.bucket = data_bucket(self, "Bucket", owner=owner, key=self.encryption_key, holds=REQUEST_IO,
                                  retention_days=retention_days, removal_policy=opts.removal_policy)
        container = lmi_container(
            self, owner, hf_model_id=hf_model_id, spec=spec, tensor_parallel_degree=tp, serving_dtype=serving_dtype,
            max_model_len=max_model_len, max_batch_size=max_batch_size, image_uri=image_uri,
            hf_token_secret=hf_token_secret, predict_timeout_s=timeout, role=self.role, hf_revision=hf_revision,
            gated=gated,
        )
        self.dtype = container.dtype
        self._allow_image_pull(container.pull_arns)
        self.hf_token_secret = container.secret
        self.image_uri = container.image
        self.example_request = EXAMPLE_REQUESTS["lmi"]
        self._allow_bucket()

        variant = {
            "instance_type": instance_type,
            # an endpoint is created with an instance; the scaling policy takes it to zero when idle
            "initial_instance_count": 1,
            "initial_variant_weight": 1,
            "container_startup_health_check_timeout_in_seconds": startup_health_check_timeout_s,
        }
        if not nvme and volume_size_gb is not None:
            variant["volume_size_in_gb"] = volume_size_gb
        self._build_endpoint(
            container={"image": container.image, "environment": container.environment},
            variant=variant,
            kms_key_on_config=not nvme,
            async_inference_config=sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty(
                output_config=sagemaker.CfnEndpointConfig.AsyncInferenceOutputConfigProperty(
                    s3_output_path=self.bucket.s3_url_for_object(OUTPUT_PREFIX.rstrip("/")),
                    s3_failure_path=self.bucket.s3_url_for_object(FAILURE_PREFIX.rstrip("/")),
                    kms_key_id=self.encryption_key.key_arn,
                ),
                client_config=sagemaker.CfnEndpointConfig.AsyncInferenceClientConfigProperty(
                    max_concurrent_invocations_per_instance=concurrency,
                ),
            ),
        )
        acknowledge_checkov(self.cfn_model, SAGEMAKER_HUB_DOWNLOAD_NO_ISOLATION)
        self.max_concurrent_invocations_per_instance = concurrency
        self._scale_to_zero(max_instances, concurrency, opts)

    def _allow_bucket(self) -> None:
        """The execution role reads the requests and writes the answers and failures, nothing else."""
        stack = cdk.Stack.of(self)
        in_this_account = {"StringEquals": {"aws:ResourceAccount": stack.account}}
        prefixes = [f"{p}*" for p in (INPUT_PREFIX, OUTPUT_PREFIX, FAILURE_PREFIX)]
        for statement in (
            iam.PolicyStatement(sid="ReadRequests", actions=["s3:GetObject"],
                                resources=[self.bucket.arn_for_objects(f"{INPUT_PREFIX}*")], conditions=in_this_account),
            iam.PolicyStatement(sid="WriteAnswers", actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                                resources=[self.bucket.arn_for_objects(f"{OUTPUT_PREFIX}*"),
                                           self.bucket.arn_for_objects(f"{FAILURE_PREFIX}*")],
                                conditions=in_this_account),
            iam.PolicyStatement(sid="ListOwnPrefixes", actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn],
                                conditions={**in_this_account, "StringLike": {"s3:prefix": prefixes}}),
        ):
            self.role.add_to_principal_policy(statement)
        if self._own_role:
            bucket_id = cdk.Stack.of(self).get_logical_id(self.bucket.node.default_child)
            for prefix, why in ((INPUT_PREFIX, "the endpoint reads the request objects callers put under the input "
                                               "prefix, named per request"),
                                (OUTPUT_PREFIX, "SageMaker names each answer object itself (by inference id) under "
                                                "the output prefix"),
                                (FAILURE_PREFIX, "SageMaker names each failure object itself (by inference id) under "
                                                 "the failure prefix")):
                acknowledge(self.role, f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{prefix}*]", why)

    def _scale_to_zero(self, max_instances: int, concurrency: int, opts: TierOptions) -> None:
        """MinCapacity 0, target tracking on the backlog per instance, and the step policy that
        leaves zero on a backlog (sagemaker_async.yaml scaling, as AWS documents it)."""
        scaling = sagemaker_async().scaling
        name = self.cfn_endpoint.attr_endpoint_name
        self.scaling_target = appscaling.ScalableTarget(
            self, "Scaling",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=scaling.resource_id_format.format(endpoint=name, variant=VARIANT),
            scalable_dimension=scaling.scalable_dimension,
            min_capacity=scaling.min_capacity,
            max_capacity=max_instances,
        )
        # Application Auto Scaling uses its service-linked role for SageMaker endpoints
        self.scaling_target.node.try_remove_child("Role")
        self.scaling_target.node.default_child.add_property_deletion_override("RoleARN")

        def endpoint_metric(metric: str, statistic: str, period_s: int) -> cloudwatch.Metric:
            return cloudwatch.Metric(namespace=scaling.target_tracking.namespace, metric_name=metric,
                                     dimensions_map={scaling.target_tracking.dimension: name}, statistic=statistic,
                                     period=cdk.Duration.seconds(period_s))

        tracking = scaling.target_tracking
        # one more instance whenever more than a full batch waits per instance
        self.scaling_target.scale_to_track_metric(
            "BacklogPerInstance", target_value=concurrency,
            custom_metric=endpoint_metric(tracking.metric, tracking.statistic, 60),
        )
        zero = scaling.scale_from_zero
        self.scale_from_zero = appscaling.StepScalingAction(
            self, "ScaleFromZero", scaling_target=self.scaling_target, policy_name=zero.policy_name,
            adjustment_type=appscaling.AdjustmentType(_enum(zero.adjustment_type)),
            metric_aggregation_type=appscaling.MetricAggregationType(_enum(zero.metric_aggregation_type)),
            cooldown=cdk.Duration.seconds(zero.cooldown_s),
        )
        self.scale_from_zero.add_adjustment(adjustment=zero.step_scaling_adjustment,
                                            lower_bound=zero.step_metric_interval_lower_bound)
        make = {
            "ScaleFromZero": lambda: self._scale_from_zero_alarm(endpoint_metric, opts),
            "Failures": lambda: alarm(
                self, "FailuresAlarm", metric=self.metric("InvocationFailures"), threshold=1,
                actions=opts.alarm_actions,
                description="an asynchronous request failed at least once in 5 minutes (its error is under failures/)",
            ),
        }
        # which alarms exist is the tier's (its bill counts them): tierwise/tiers/sagemaker_async.py
        self.alarms = [make[name]() for name in sagemaker_async_tier.TIER.alarms]

    def _scale_from_zero_alarm(self, endpoint_metric, opts: TierOptions) -> cloudwatch.Alarm:
        zero = sagemaker_async().scaling.scale_from_zero
        made = cloudwatch.Alarm(
            self, "ScaleFromZeroAlarm",
            metric=endpoint_metric(zero.alarm_metric, zero.alarm_statistic, zero.alarm_period_s),
            threshold=zero.alarm_threshold,
            evaluation_periods=zero.alarm_evaluation_periods,
            datapoints_to_alarm=zero.alarm_datapoints_to_alarm,
            comparison_operator=cloudwatch.ComparisonOperator(_enum(zero.alarm_comparison_operator)),
            treat_missing_data=cloudwatch.TreatMissingData(_enum(zero.alarm_treat_missing_data)),
            alarm_description="requests wait and no instance runs: start one (the endpoint scaled to zero)",
        )
        made.add_alarm_action(cw_actions.ApplicationScalingAction(self.scale_from_zero))
        for action in opts.alarm_actions:
            made.add_alarm_action(action)
        return made

    def outputs(self) -> dict[str, tuple[str, str]]:
        name = self.cfn_endpoint.attr_endpoint_name
        bucket = self.bucket.bucket_name
        request = f"s3://{bucket}/{INPUT_PREFIX}request.json"
        return {
            "EndpointName": (name, "the SageMaker asynchronous endpoint"),
            "Bucket": (bucket, f"requests under {INPUT_PREFIX}, answers under {OUTPUT_PREFIX}, failures under "
                               f"{FAILURE_PREFIX}"),
            "InvokeCommand": (
                f"echo '{self.example_request}' > request.json && aws s3 cp request.json {request} && "
                f"aws sagemaker-runtime invoke-endpoint-async --region {cdk.Aws.REGION} --endpoint-name {name} "
                f"--content-type application/json --input-location {request} "
                f"--invocation-timeout-seconds {self.invocation_timeout_s}",
                "queue a request (boto3: sagemaker-runtime invoke_endpoint_async); its OutputLocation names the answer",
            ),
        }

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let `grantee` queue requests (InvokeEndpointAsync, with the request put under input/)
        and read the answers and failures."""
        self.bucket.grant_put(grantee, f"{INPUT_PREFIX}*")
        self.bucket.grant_read(grantee, f"{OUTPUT_PREFIX}*")
        self.bucket.grant_read(grantee, f"{FAILURE_PREFIX}*")
        return iam.Grant.add_to_principal(grantee=grantee, actions=["sagemaker:InvokeEndpointAsync"],
                                          resource_arns=[self.endpoint_arn])


def _enum(name: str) -> str:
    """A CloudFormation / API enum name (ChangeInCapacity) as CDK's enum value (CHANGE_IN_CAPACITY)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()
