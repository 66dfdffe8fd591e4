"""PrivateNetwork: what a tier's compute needs to run in private subnets of an existing VPC.

A security group for the workload (no inbound rule: Lambda and SageMaker deliver requests
through their own service, never through the ENIs in the VPC), a security group for the
interface endpoints that admits HTTPS from the workload's group only, the S3 gateway endpoint,
and the interface endpoints the tier uses (its core module's ``vpc_endpoints``, each with its reason).

What the tiers need, checked against the service guides:
- Lambda: the function's ENIs carry only what its code calls. The image is pulled and the logs
  are shipped by the Lambda service, not through the VPC; the runtime's one call is the S3
  download of ``MODEL_S3_URI`` (when the model is not baked in): the S3 gateway endpoint.
- SageMaker real-time (GPU): models in a VPC reach S3 through a gateway endpoint and other AWS
  services through interface endpoints (SageMaker developer guide, "Give SageMaker Hosted
  Endpoints Access to Resources in Your Amazon VPC"); the LMI container's one call outside
  AWS, the Hugging Face Hub download, needs the VPC's NAT: private subnets with egress. With its
  weights in S3 (``weights_uri``) SageMaker downloads them through the VPC's S3 gateway and the
  container runs with network isolation, so isolated subnets do (tierwise/data/sagemaker_s3_weights.yaml).
- SageMaker Serverless Inference supports no VPC configuration (its documented feature
  exclusions): that tier refuses a VPC instead of silently running outside it.
- No STS or KMS endpoint: neither workload calls them. Both get their role's credentials from
  the service (Lambda's environment, SageMaker's container credentials), and the KMS key is
  used by the services themselves (Lambda decrypts the environment, SageMaker the volume).

Sources (checked 2026-12-01): docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html,
docs.aws.amazon.com/sagemaker/latest/dg/host-vpc.html,
docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html ("Feature exclusions").
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from tiers.props import PropError
from tiers.security import acknowledge, acknowledge_wildcard_resource
from tierwise import tiers

HTTPS = ec2.Port.tcp(443)
SUBNET_TYPES = {"private": ec2.SubnetType.PRIVATE_WITH_EGRESS, "isolated": ec2.SubnetType.PRIVATE_ISOLATED}

class PrivateNetwork(Construct):
    """Security groups and VPC endpoints for one workload in ``vpc``'s ``vpc_subnets``.

    ``interface_endpoints`` names endpoint services (``"ecr.api"``, ``"logs"``...);
    ``s3_gateway`` adds the (free) S3 gateway endpoint on the subnets' route tables;
    ``reaches_s3`` / ``reaches_internet`` open the workload's outbound HTTPS beyond the
    interface endpoints, for the S3 download or the NAT. A VPC that already has these
    endpoints (a shared-services VPC) takes ``create_endpoints=False``: a second S3 gateway on
    the same route table, or a second private-DNS interface endpoint for a service, is
    rejected by EC2.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        vpc: ec2.IVpc,
        vpc_subnets: ec2.SubnetSelection | None = None,
        interface_endpoints: Sequence[str] = (),
        s3_gateway: bool = True,
        create_endpoints: bool = True,
        reaches_s3: bool = False,
        reaches_internet: bool = False,
    ) -> None:
        super().__init__(scope, id)
        self.vpc = vpc
        self.vpc_subnets = vpc_subnets or ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        check_subnets(type(self).__name__, vpc, self.vpc_subnets)
        self.security_group = ec2.SecurityGroup(
            self, "Workload", vpc=vpc, allow_all_outbound=False,
            description="tierwise model workload: no inbound; outbound HTTPS to what it calls only",
        )
        if reaches_s3 or reaches_internet:
            # The S3 gateway has no security group: its addresses are the region's S3 prefix list,
            # whose id differs per region and is only known to EC2. The subnets' routes (gateway
            # endpoint, NAT or none) decide where this rule can actually lead.
            self.security_group.add_egress_rule(
                ec2.Peer.any_ipv4(), HTTPS,
                "HTTPS to the Hugging Face Hub through the NAT" if reaches_internet
                else "HTTPS to S3 through the gateway endpoint (the subnets have no other route out)",
            )
        self.endpoints: dict[str, ec2.InterfaceVpcEndpoint | ec2.GatewayVpcEndpoint] = {}
        self.endpoint_security_group: ec2.SecurityGroup | None = None
        if not create_endpoints:
            return
        if s3_gateway:
            self.endpoints["s3"] = ec2.GatewayVpcEndpoint(
                self, "S3", vpc=vpc, service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[self.vpc_subnets]
            )
        if interface_endpoints:
            self.endpoint_security_group = ec2.SecurityGroup(
                self, "Endpoints", vpc=vpc, allow_all_outbound=False,
                description="tierwise VPC interface endpoints: HTTPS from the model workload only",
            )
            self.endpoint_security_group.add_ingress_rule(
                self.security_group, HTTPS, "HTTPS from the model workload's security group only"
            )
            self.security_group.add_egress_rule(
                self.endpoint_security_group, HTTPS, "HTTPS to the VPC interface endpoints"
            )
            # an interface endpoint takes at most one subnet per Availability Zone
            endpoint_subnets = ec2.SubnetSelection(subnets=select(vpc, self.vpc_subnets, one_per_az=True).subnets)
            for name in interface_endpoints:
                self.endpoints[name] = ec2.InterfaceVpcEndpoint(
                    self, "Endpoint-" + name.replace(".", "-"),
                    vpc=vpc, service=ec2.InterfaceVpcEndpointAwsService(name), subnets=endpoint_subnets,
                    security_groups=[self.endpoint_security_group], open=False, private_dns_enabled=True,
                )

    @classmethod
    def for_tier(
        cls,
        scope: Construct,
        id: str,
        *,
        tier: str,
        vpc: ec2.IVpc,
        vpc_subnets: ec2.SubnetSelection,
        create_endpoints: bool = True,
        reads_s3: bool = False,
        reaches_internet: bool | None = None,
    ) -> "PrivateNetwork":
        """The network of what ``tier`` runs: the interface endpoints its core module lists
        (tierwise/tiers: ``vpc_endpoints``), the S3 gateway, and outbound HTTPS only where the
        tier reads S3 or needs the internet (``reaches_internet``; default: the tier's
        ``needs_internet``)."""
        module = tiers.get_or_none(tier)
        in_vpc = [m.id for m in tiers.modules() if m.vpc_endpoints is not None]
        if module is None or module.vpc_endpoints is None:
            raise PropError(
                f"PrivateNetwork: tier must be one of {', '.join(in_vpc)} (got {str(tier)[:60]!r}): "
                "SageMaker Serverless Inference supports no VPC configuration and Bedrock runs nothing in the account's VPC"
            )
        return cls(
            scope, id, vpc=vpc, vpc_subnets=vpc_subnets, interface_endpoints=list(module.vpc_endpoints),
            create_endpoints=create_endpoints, reaches_s3=reads_s3,
            reaches_internet=module.needs_internet if reaches_internet is None else reaches_internet,
        )


# What a service needs on the execution role to attach the workload's network interfaces (ENIs):
# Lambda: the EC2 actions of AWSLambdaVPCAccessExecutionRole (Lambda guide, configuration-vpc);
# SageMaker: the list in "Give SageMaker Hosted Endpoints Access to Resources in Your Amazon VPC".
ENI_DESCRIBE_ACTIONS = {
    "lambda": ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"],
    "sagemaker": [
        "ec2:DescribeVpcEndpoints", "ec2:DescribeDhcpOptions", "ec2:DescribeVpcs", "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups", "ec2:DescribeNetworkInterfaces",
    ],
}
ENI_WRITE_ACTIONS = {
    "lambda": ["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"],
    "sagemaker": [
        "ec2:DeleteNetworkInterface", "ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterfacePermission",
    ],
}
DESCRIBE_REASON = (
    "EC2 Describe* actions support no resource-level permission (Resource must be *); the service reads the "
    "subnets and security groups it attaches the workload's network interfaces to"
)
ENI_REASON = (
    "network interfaces are created by the service when the workload starts, so their ids cannot be named in "
    "advance: the statement allows interfaces of this account and region only, created only in the chosen "
    "subnets with the chosen security groups"
)


def select(vpc: ec2.IVpc, selection: ec2.SubnetSelection, *, one_per_az: bool | None = None) -> ec2.SelectedSubnets:
    """``vpc.select_subnets(selection)``: jsii spreads a struct argument into keywords."""
    return vpc.select_subnets(
        availability_zones=selection.availability_zones, one_per_az=selection.one_per_az if one_per_az is None else one_per_az,
        subnet_filters=selection.subnet_filters, subnet_group_name=selection.subnet_group_name,
        subnets=selection.subnets, subnet_type=selection.subnet_type,
    )


def check_subnets(owner: str, vpc: ec2.IVpc, selection: ec2.SubnetSelection) -> None:
    """Fail at synth, in one line, when the selection picks no private subnet of ``vpc``."""
    if cdk.Token.is_unresolved(vpc.vpc_id):
        return
    try:
        chosen = select(vpc, selection).subnet_ids
    except RuntimeError as exc:  # jsii: "There are no 'Private' subnet groups in this VPC..."
        raise PropError(f"{owner}: vpc_subnets: {str(exc).splitlines()[0]}") from None
    public = {s.subnet_id for s in vpc.public_subnets}
    if not chosen:
        raise PropError(f"{owner}: vpc_subnets selects no subnet of {vpc.vpc_id}")
    if public & set(chosen):
        raise PropError(
            f"{owner}: vpc_subnets must be private or isolated subnets; {', '.join(sorted(public & set(chosen)))} "
            f"of {vpc.vpc_id} route to an internet gateway"
        )


def allow_network_interfaces(
    role: iam.IRole, service: str, *, vpc: ec2.IVpc, subnet_ids: Sequence[str], security_group_ids: Sequence[str],
) -> None:
    """Give ``role`` (a Lambda or SageMaker execution role) what ``service`` needs to attach
    the workload's ENIs in ``subnet_ids`` with ``security_group_ids``, with the cdk-nag
    acknowledgments of the wildcards that remain; an imported role is its owner's to manage."""
    stack = cdk.Stack.of(role)

    def arn(resource: str, name: str, account: str | None = None) -> str:
        return stack.format_arn(service="ec2", resource=resource, resource_name=name, account=account)

    interfaces = arn("network-interface", "*")
    role.add_to_principal_policy(
        iam.PolicyStatement(sid="DescribeNetwork", actions=ENI_DESCRIBE_ACTIONS[service], resources=["*"])
    )
    # a shared VPC's subnets belong to the VPC's owner account, not the stack's
    owner = cdk.Arn.split(vpc.vpc_arn, cdk.ArnFormat.SLASH_RESOURCE_NAME).account
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="CreateInterfaces", actions=["ec2:CreateNetworkInterface"],
            resources=[interfaces, *(arn("subnet", i, owner) for i in subnet_ids),
                       *(arn("security-group", g) for g in security_group_ids)],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(sid="ManageInterfaces", actions=ENI_WRITE_ACTIONS[service], resources=[interfaces])
    )
    policy = role.node.try_find_child("DefaultPolicy") if isinstance(role, iam.Role) else None
    if policy is not None:
        acknowledge(policy, "AwsSolutions-IAM5[Resource::*]", DESCRIBE_REASON)
        acknowledge_wildcard_resource(policy, interfaces, ENI_REASON)
