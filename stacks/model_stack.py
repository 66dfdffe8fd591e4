"""ModelStack: one Placement -> one tier construct + the parts every tier shares (a KMS key,
cost-allocation tags, outputs that say how to call what was deployed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks.app_context import OPTION_TIERS
from tiers import TIER_CONSTRUCTS
from tiers.bedrock.on_demand import BedrockOnDemand
from tiers.bedrock.provisioned import BedrockProvisionedThroughput
from tiers.lambda_gguf.construct import LambdaGgufEndpoint
from tiers.sagemaker_gpu import SageMakerGpuEndpoint
from tiers.sagemaker_serverless import SageMakerServerlessEndpoint
from tiers.shared import PropError, create_key
from tierwise.placement import Placement

TAG_MODEL, TAG_TIER, TAG_QUANT = "tierwise:model", "tierwise:tier", "tierwise:quant"
# what a chat request looks like for each runtime
OPENAI_CHAT = '{"messages":[{"role":"user","content":"Say hello in five words."}],"max_tokens":64}'
LMI_REQUEST = '{"inputs":"Say hello in five words.","parameters":{"max_new_tokens":64}}'
HF_REQUEST = '{"inputs":"I love how simple this was."}'
BEDROCK_MESSAGES = '[{"role":"user","content":[{"text":"Say hello in five words."}]}]'


class ModelStack(cdk.Stack):
    """The deployable stack for one placed model.

    ``placement`` is the decision (tierwise.placement.plan); its ``settings`` become the tier
    construct's props one to one (docs/CONTRACTS.md). Options override what a plan cannot
    know: ``model_uri`` (the GGUF in S3 or a local file), ``image_uri`` (a runtime image a
    pipeline already pushed), ``architecture`` (Lambda), ``min_instances``/``max_instances``
    (GPU autoscaling bounds), ``hf_token_secret`` (a Secrets Manager secret name holding a
    Hugging Face token for gated models). Other keyword arguments are Stack props.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        placement: Placement,
        model_uri: str | None = None,
        image_uri: str | None = None,
        architecture: str | None = None,
        min_instances: int | None = None,
        max_instances: int | None = None,
        hf_token_secret: str | None = None,
        **stack_props: Any,
    ) -> None:
        options = {
            "model_uri": model_uri, "image_uri": image_uri, "architecture": architecture,
            "min_instances": min_instances, "max_instances": max_instances, "hf_token_secret": hf_token_secret,
        }
        tier = placement.tier
        if tier not in TIER_CONSTRUCTS:
            raise PropError(f"ModelStack: placement.tier must be one of {', '.join(TIER_CONSTRUCTS)} (got {tier!r})")
        for name, value in options.items():
            if value is not None and tier not in OPTION_TIERS[name]:
                raise PropError(
                    f"ModelStack: {name} applies to {' and '.join(OPTION_TIERS[name])}; {placement.model} is placed on {tier}"
                )
        stack_props.setdefault(
            "description",
            f"tierwise: {placement.model} on {tier}" + (f" ({placement.quant})" if placement.quant else ""),
        )
        super().__init__(scope, id, **stack_props)
        self.placement = placement
        self.options = {k: v for k, v in options.items() if v is not None}
        quant = placement.quant or "none"
        for key, value in ((TAG_MODEL, placement.model), (TAG_TIER, tier), (TAG_QUANT, quant)):
            cdk.Tags.of(self).add(key, value)

        # the shared key: only tiers that encrypt something of ours get one (a key costs money)
        self.key: kms.Key | None = None
        if tier != "bedrock-on-demand":
            self.key = create_key(self, "Key", description=f"tierwise {placement.model}: logs, environment, endpoint storage")

        builder: Callable[[], Construct] = getattr(self, "_" + tier.replace("-", "_"))
        self.endpoint = builder()
        cdk.CfnOutput(self, "Tier", value=tier, description="where the model runs")
        cdk.CfnOutput(self, "Model", value=f"{placement.model} ({quant}, context {placement.context})")

    # --- one builder per tier: settings -> construct props -> outputs ---------------------------

    def _lambda_gguf(self) -> LambdaGgufEndpoint:
        endpoint = LambdaGgufEndpoint.from_placement(
            self, "Endpoint", self.placement, encryption_key=self.key, **self.options
        )
        region = cdk.Aws.REGION
        cdk.CfnOutput(self, "FunctionName", value=endpoint.function.function_name)
        cdk.CfnOutput(self, "FunctionUrl", value=endpoint.url, description="IAM auth: sign requests with SigV4 (service lambda)")
        cdk.CfnOutput(
            self, "InvokeCommand",
            description="call the function through the Invoke API",
            value=(
                f"aws lambda invoke --region {region} --function-name {endpoint.function.function_name} "
                f"--cli-binary-format raw-in-base64-out --payload '{OPENAI_CHAT}' /dev/stdout"
            ),
        )
        cdk.CfnOutput(
            self, "InvokeUrlCommand",
            description="call the Function URL with a SigV4-signed request (pip install awscurl)",
            value=(
                f"awscurl --service lambda --region {region} -X POST -H 'content-type: application/json' "
                f"-d '{OPENAI_CHAT}' {endpoint.url}v1/chat/completions"
            ),
        )
        return endpoint

    def _sagemaker_serverless(self) -> SageMakerServerlessEndpoint:
        endpoint = SageMakerServerlessEndpoint.from_placement(
            self, "Endpoint", self.placement, encryption_key=self.key, **self.options
        )
        self._endpoint_outputs(endpoint, OPENAI_CHAT if endpoint.container == "gguf" else HF_REQUEST)
        return endpoint

    def _sagemaker_gpu(self) -> SageMakerGpuEndpoint:
        options = dict(self.options)
        if "hf_token_secret" in options:
            options["hf_token_secret"] = secretsmanager.Secret.from_secret_name_v2(self, "HfToken", options["hf_token_secret"])
        endpoint = SageMakerGpuEndpoint.from_placement(self, "Endpoint", self.placement, encryption_key=self.key, **options)
        self._endpoint_outputs(endpoint, LMI_REQUEST)
        return endpoint

    def _bedrock_provisioned(self) -> BedrockProvisionedThroughput:
        endpoint = BedrockProvisionedThroughput.from_placement(
            self, "Endpoint", self.placement, tags=self._tags(), encryption_key=self.key
        )
        cdk.CfnOutput(self, "ProvisionedModelArn", value=endpoint.provisioned_model_arn,
                      description="pass it as modelId to InvokeModel / Converse")
        self._bedrock_command(endpoint.provisioned_model_arn)
        return endpoint

    def _bedrock_on_demand(self) -> BedrockOnDemand:
        endpoint = BedrockOnDemand.from_placement(self, "Endpoint", self.placement)
        cdk.CfnOutput(self, "InferenceProfileArn", value=endpoint.inference_profile_arn,
                      description="pass it as modelId so that the spend carries this stack's tags")
        self._bedrock_command(endpoint.inference_profile_arn)
        return endpoint

    # --- shared outputs ---------------------------------------------------------------------

    def _endpoint_outputs(self, endpoint: SageMakerServerlessEndpoint | SageMakerGpuEndpoint, body: str) -> None:
        name = endpoint.endpoint.attr_endpoint_name
        cdk.CfnOutput(self, "EndpointName", value=name)
        cdk.CfnOutput(
            self, "InvokeCommand",
            description="call the endpoint (boto3: sagemaker-runtime invoke_endpoint with the same arguments)",
            value=(
                f"aws sagemaker-runtime invoke-endpoint --region {cdk.Aws.REGION} --endpoint-name {name} "
                f"--content-type application/json --cli-binary-format raw-in-base64-out --body '{body}' /dev/stdout"
            ),
        )

    def _bedrock_command(self, model_arn: str) -> None:
        cdk.CfnOutput(
            self, "InvokeCommand",
            description="call the model (boto3: bedrock-runtime converse with the same arguments)",
            value=f"aws bedrock-runtime converse --region {cdk.Aws.REGION} --model-id {model_arn} --messages '{BEDROCK_MESSAGES}'",
        )

    def _tags(self) -> dict[str, str]:
        return {TAG_MODEL: self.placement.model, TAG_TIER: self.placement.tier, TAG_QUANT: self.placement.quant or "none"}

