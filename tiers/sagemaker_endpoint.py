"""What both SageMaker tiers share: the execution role, the endpoint's name and log group, the
Model -> EndpointConfig -> Endpoint chain, its alarms and ``grant_invoke``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from tiers.network import allow_network_interfaces, check_subnets, select
from tiers.construct_base import EXAMPLE_REQUESTS, OwnsRole, TierOptions
from tiers.images import ECR_TOKEN_REASON, ecr_pull_statements
from tiers.props import PropError
from tiers.security import acknowledge, after_policies_of, alarm, create_key, grant_key_to_aws_services, log_group

VARIANT = "AllTraffic"
# A SageMaker endpoint name: letters, digits and hyphens, at most 63 characters.
ENDPOINT_NAME_MAX = 63


@jsii.implements(iam.IGrantable)
class SageMakerEndpointBase(OwnsRole, Construct):
    """A SageMaker endpoint with an execution role written out action by action.

    The endpoint gets a name generated from its construct path (unique per stack, stable
    across updates) so that its log group, ``/aws/sagemaker/Endpoints/<name>``, can exist
    before the endpoint does, with a retention period and this construct's KMS key, instead
    of being created by SageMaker without either.

    Attributes: ``cfn_model``, ``cfn_endpoint_config``, ``cfn_endpoint`` (the L1 resources; the
    endpoint is the default child), ``endpoint_name``, ``endpoint_arn``, ``role``,
    ``encryption_key``, ``log_group``, ``alarms``. Access: ``grant_invoke(grantee)``;
    ``grant_principal`` / ``add_to_role_policy`` for what the model container may reach.
    """

    # the TierOptions a SageMaker endpoint uses: all of them
    OPTIONS = ("encryption_key", "role", "log_retention", "removal_policy", "alarm_actions")

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        options: TierOptions,
    ) -> None:
        super().__init__(scope, id)
        encryption_key, role = options.encryption_key, options.role
        log_retention, removal_policy = options.log_retention, options.removal_policy
        self.endpoint_name = cdk.Names.unique_resource_name(self, max_length=ENDPOINT_NAME_MAX, separator="-")
        self.encryption_key = encryption_key or create_key(self, "Key", description=f"{self.node.path}: endpoint and logs")
        self.log_group = log_group(
            self, "Logs", key=self.encryption_key, retention=log_retention, removal_policy=removal_policy,
            name=f"/aws/sagemaker/Endpoints/{self.endpoint_name}",
        )
        self._own_role = role is None
        self.role: iam.IRole = role or iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="SageMaker endpoint: pulls its image, writes its own log group and metrics",
        )
        stack = cdk.Stack.of(self)
        for statement in (
            iam.PolicyStatement(
                sid="CreateOwnLogGroup",
                actions=["logs:CreateLogGroup"],
                resources=[
                    stack.format_arn(
                        service="logs", resource="log-group", resource_name=self.log_group.log_group_name,
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            ),
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[self.log_group.log_group_arn],
            ),
            iam.PolicyStatement(
                sid="PublishEndpointMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
            ),
        ):
            self.role.add_to_principal_policy(statement)
        # SageMaker uses the key for the image (serverless) or the ML storage volume, through grants
        # it creates for itself: the role may create a grant only for an AWS service's use of the
        # key (kms:GrantIsForAWSResource), never hand the key to another principal
        grant_key_to_aws_services(self.role, self.encryption_key, "kms:Decrypt", "kms:GenerateDataKey",
                                  "kms:DescribeKey", sid="GrantKeyToSageMakerOnly")
        if self._own_role:
            acknowledge(
                self.role,
                "AwsSolutions-IAM5[Resource::*]",
                "cloudwatch:PutMetricData and ecr:GetAuthorizationToken support no resource-level permission "
                "(Resource must be *); PutMetricData is limited to the /aws/sagemaker/* namespaces by a condition, "
                "and " + ECR_TOKEN_REASON,
            )

    def _allow_image_pull(self, repository_arns: Sequence[str]) -> None:
        for statement in ecr_pull_statements(repository_arns):
            self.role.add_to_principal_policy(statement)

    def _vpc_config(
        self,
        owner: str,
        vpc: ec2.IVpc | None,
        vpc_subnets: ec2.SubnetSelection | None,
        security_groups: Sequence[ec2.ISecurityGroup] | None,
    ) -> sagemaker.CfnModel.VpcConfigProperty | None:
        """The model's VpcConfig: its containers' ENIs in ``vpc_subnets`` (default: the private
        subnets) with ``security_groups`` (default: one of its own, outbound only)."""
        if vpc is None:
            if vpc_subnets is not None or security_groups is not None:
                raise PropError(f"{owner}: vpc_subnets and security_groups need vpc (the VPC they belong to)")
            return None
        selection = vpc_subnets or ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        check_subnets(owner, vpc, selection)
        if not security_groups:
            security_groups = [
                ec2.SecurityGroup(self, "SecurityGroup", vpc=vpc, description=f"{self.node.path}: model containers")
            ]
        self.security_groups = list(security_groups)
        selected = select(vpc, selection)
        subnet_ids = selected.subnet_ids
        zones = set(selected.availability_zones)
        if not any(cdk.Token.is_unresolved(z) for z in zones) and len(zones) < 2:
            raise PropError(
                f"{owner}: vpc_subnets must span at least two Availability Zones, which SageMaker requires of a "
                f"model's VPC even for one instance (host-vpc guide); got {', '.join(sorted(zones)) or 'none'}"
            )
        group_ids = [g.security_group_id for g in self.security_groups]
        allow_network_interfaces(self.role, "sagemaker", vpc=vpc, subnet_ids=subnet_ids, security_group_ids=group_ids)
        return sagemaker.CfnModel.VpcConfigProperty(subnets=subnet_ids, security_group_ids=group_ids)

    def _build_endpoint(
        self,
        *,
        container: Mapping[str, Any],
        variant: Mapping[str, Any],
        kms_key_on_config: bool,
        vpc_config: sagemaker.CfnModel.VpcConfigProperty | None = None,
        async_inference_config: sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty | None = None,
        network_isolation: bool = False,
    ) -> sagemaker.CfnEndpoint:
        self.cfn_model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(**container),
            vpc_config=vpc_config,
            enable_network_isolation=network_isolation or None,
        )
        # SageMaker checks the role (image pull, logs) when it creates the model
        after_policies_of(self.cfn_model, self.role)
        self.cfn_endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    model_name=self.cfn_model.attr_model_name, variant_name=VARIANT, **variant
                )
            ],
            kms_key_id=self.encryption_key.key_arn if kms_key_on_config else None,
            async_inference_config=async_inference_config,
        )
        endpoint = sagemaker.CfnEndpoint(
            self,
            "Resource",
            endpoint_name=self.endpoint_name,
            endpoint_config_name=self.cfn_endpoint_config.attr_endpoint_config_name,
        )
        endpoint.node.add_dependency(self.log_group)
        self.cfn_endpoint = endpoint
        self.endpoint_arn = endpoint.ref
        return endpoint

    def metric(self, metric_name: str, *, namespace: str = "AWS/SageMaker", statistic: str = "Sum",
               period: cdk.Duration = cdk.Duration.minutes(5)) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=namespace,
            metric_name=metric_name,
            dimensions_map={"EndpointName": self.cfn_endpoint.attr_endpoint_name, "VariantName": VARIANT},
            statistic=statistic,
            period=period,
        )

    def _errors_alarm(self, actions: Sequence[cloudwatch.IAlarmAction]) -> cloudwatch.Alarm:
        return alarm(
            self, "ErrorsAlarm", metric=self.metric("Invocation5XXErrors"), threshold=1, actions=actions,
            description="the model container answered with a 5xx error at least once in 5 minutes",
        )

    example_request = EXAMPLE_REQUESTS["openai-chat"]

    def outputs(self) -> dict[str, tuple[str, str]]:
        name = self.cfn_endpoint.attr_endpoint_name
        return {
            "EndpointName": (name, "the SageMaker endpoint"),
            "InvokeCommand": (
                f"aws sagemaker-runtime invoke-endpoint --region {cdk.Aws.REGION} --endpoint-name {name} "
                f"--content-type application/json --cli-binary-format raw-in-base64-out "
                f"--body '{self.example_request}' /dev/stdout",
                "call the endpoint (boto3: sagemaker-runtime invoke_endpoint with the same arguments)",
            ),
            **({"ChatCommand": (f"tierwise chat {cdk.Aws.STACK_NAME} 'Say hello in five words.'",
                                "ask the model with your AWS credentials (Python: tierwise.client.for_stack)")}
               # the GGUF runtime and LMI (docs.djl.ai, "Chat Completions API Schema") both take
               # OpenAI chat bodies on /invocations; the predictive container does not
               if self.example_request != EXAMPLE_REQUESTS["huggingface"] else {}),
        }

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let `grantee` call InvokeEndpoint (and its streaming form) on this endpoint only."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"],
            resource_arns=[self.endpoint_arn],
        )
