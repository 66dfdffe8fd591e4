"""BedrockImportedModel: your model's Hugging Face files in S3 imported into Bedrock (Custom Model
Import) and served on demand, made by a Provider-framework custom resource because CloudFormation
has no resource for an import."""

from __future__ import annotations

import re
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from tiers.construct_base import EXAMPLE_REQUESTS, ForPlacement, TierOptions
from tiers.props import PropError, check_int, check_text, parse_s3_prefix_uri
from tiers.provider import StackTags, acknowledge_provider, handler_function, provider
from tiers.security import acknowledge, create_key, grant_key_to_aws_services, nag_resource
from tierwise.facts import custom_model_import
from tierwise.tiers import bedrock_custom
from tierwise.uris import KMS_KEY_ARN

HANDLER_DIRECTORY = Path(__file__).resolve().parent / "handler"
RESOURCE_TYPE = "Custom::BedrockImportedModel"
NAME = r"([0-9a-zA-Z][_-]?)+"
# the tag every import of this construct carries: its handler may create and touch only those
CONSTRUCT_TAG = "tierwise:construct"
BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$"
PREFIX_PATTERN = r"^([A-Za-z0-9!_.'()=+-]+/)+$"


class BedrockImportedModel(ForPlacement, Construct):
    """Your weights imported into Bedrock and served on demand (tiers/bedrock_custom/README.md).

    The custom resource starts CreateModelImportJob on the S3 folder (safetensors, config.json and
    the tokenizer files; a LoRA adapter merged first), waits for it, and hands back the imported
    model's ARN; ``cdk destroy`` deletes the imported model (storage bills per CMU-month until
    then). Bedrock reads the folder as a service role of this construct that may only list and
    read that folder (and decrypt with ``weights_key``), trusted by Bedrock for this account's
    import jobs only. The imported model is encrypted with the construct's KMS key. Changing the
    folder, ``weights_revision``, the name or the key imports again under a new name; CloudFormation
    then deletes the old model. Deploying needs Custom Model Import in the region (us-east-1,
    us-east-2, us-west-2, eu-central-1) and room in the account's quota of imported models.

    Props (all keyword):

    - ``weights_uri``: ``s3://bucket/prefix/``, the folder of model files. Default: none; with
      neither it nor ``weights_bucket`` the stack takes the folder as the CloudFormation
      parameters ``WeightsBucket`` and ``WeightsPrefix`` at deploy time.
    - ``weights_bucket`` / ``weights_prefix``: the same as an ``s3.IBucket`` and a prefix ending
      in ``/`` (a bucket of the same app). Default: none.
    - ``weights_key``: the KMS key (or its ARN) the bucket encrypts the files with.
      Default: the bucket's own ``encryption_key`` when known, else none (SSE-S3).
    - ``weights_revision``: any text; changing it imports the same folder again (new files under
      the same prefix). Default: none.
    - ``imported_model_name``: 1-63 letters, digits, '-' or '_'. Default: generated from the construct path.
    - ``custom_model_units``: the CMUs per copy a plan estimated, recorded for ``tierwise cost``
      (AWS sets the real count at import). Default: none (the review cannot price the copies).
    - ``copies``: model copies the planned load keeps active, for ``tierwise cost``. Default 1.
    - ``tags``: extra tags for the imported model, on top of the stack's. Default: the stack's tags only.
    - ``total_timeout``: how long CloudFormation waits for the import. Default 2 hours.
    - ``options``: a ``tiers.TierOptions``: ``encryption_key`` (the imported model, handler logs
      and environment), ``log_retention``, ``removal_policy`` (the logs) apply. Default: a new
      key, one month of logs, destroyed with the stack.

    Attributes: ``custom_resource``, ``cfn_resource`` (also the default child), ``provider``,
    ``service_role``, ``imported_model_arn``, ``custom_model_units`` (the count AWS set, a token),
    ``encryption_key``, ``weights_parameters`` (the two CfnParameters, when the stack takes them).
    """

    TIER = bedrock_custom.ID

    @classmethod
    def props_for_placement(cls, placement, **props) -> dict:
        s = placement.settings
        return {"custom_model_units": s.custom_model_units, "copies": s.copies, **props}

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        weights_uri: str | None = None,
        weights_bucket: s3.IBucket | None = None,
        weights_prefix: str | None = None,
        weights_key: kms.IKey | str | None = None,
        weights_revision: str | None = None,
        imported_model_name: str | None = None,
        custom_model_units: int | None = None,
        copies: int = 1,
        tags: dict[str, str] | None = None,
        total_timeout: cdk.Duration = cdk.Duration.hours(2),
        options: TierOptions | None = None,
    ) -> None:
        owner = type(self).__name__
        opts = TierOptions.checked(owner, options, uses=("encryption_key", "log_retention", "removal_policy"))
        if weights_uri is not None and (weights_bucket is not None or weights_prefix is not None):
            raise PropError(f"{owner}: give weights_uri or weights_bucket with weights_prefix, not both")
        if weights_uri is not None:
            bucket_name, prefix = parse_s3_prefix_uri(owner, "weights_uri", weights_uri)
        elif (weights_bucket is None) != (weights_prefix is None):
            raise PropError(f"{owner}: weights_bucket and weights_prefix go together (the bucket and the folder in it)")
        elif weights_prefix is not None:
            if not hasattr(weights_bucket, "bucket_arn"):
                raise PropError(f"{owner}: weights_bucket must be an s3.IBucket (got {weights_bucket!r})")
            check_text(owner, "weights_prefix", weights_prefix, PREFIX_PATTERN[1:-1],
                       "a folder ending in '/' whose key uses letters, digits and !_.'()=+-")
            prefix = weights_prefix
        if weights_revision is not None:
            check_text(owner, "weights_revision", weights_revision, r"[\w.:/=+@-]{1,128}",
                       "1-128 letters, digits or . : / = + @ - _")
        if custom_model_units is not None:
            check_int(owner, "custom_model_units", custom_model_units, 1)
        check_int(owner, "copies", copies, 1)
        if tags is not None and not (
            isinstance(tags, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())
        ):
            raise PropError(f"{owner}: tags must be a dict of str to str (got {tags!r})")
        if not isinstance(total_timeout, cdk.Duration):
            raise PropError(f"{owner}: total_timeout must be a cdk.Duration, e.g. cdk.Duration.hours(2) (got {total_timeout!r})")
        if isinstance(weights_key, str) and not KMS_KEY_ARN.fullmatch(weights_key):
            raise PropError(f"{owner}: weights_key must be a kms.IKey or a KMS key ARN, "
                            f"arn:aws:kms:REGION:ACCOUNT:key/ID (got {weights_key!r})")
        if weights_key is not None and not isinstance(weights_key, str) and not hasattr(weights_key, "key_arn"):
            raise PropError(f"{owner}: weights_key must be a kms.IKey or a KMS key ARN (got {weights_key!r})")
        super().__init__(scope, id)
        name = imported_model_name or _generated_name(self)
        if not re.fullmatch(NAME, name) or len(name) > custom_model_import().api.name_max:
            raise PropError(f"{owner}: imported_model_name must be 1-{custom_model_import().api.name_max} letters, "
                            f"digits, '-' or '_' (got {name!r})")
        stack = cdk.Stack.of(self)
        self.weights_parameters: tuple[cdk.CfnParameter, cdk.CfnParameter] | None = None
        if weights_uri is not None:
            bucket = s3.Bucket.from_bucket_name(self, "Weights", bucket_name)
        elif weights_bucket is not None:
            bucket = weights_bucket
        else:
            bucket, prefix = self._weights_parameters(owner, stack)
        if weights_key is None and getattr(bucket, "encryption_key", None) is not None:
            weights_key = bucket.encryption_key
        if isinstance(weights_key, str):
            weights_key = kms.Key.from_key_arn(self, "WeightsKey", weights_key)
        self.encryption_key = opts.encryption_key or create_key(
            self, "Key", description=f"{self.node.path}: imported model, handler logs")
        self.service_role = self._service_role(stack, bucket, prefix, weights_key)
        self._build(owner, stack, name, bucket, prefix, weights_revision, tags or {}, total_timeout, opts)
        if custom_model_units is not None:
            # what tierwise cost prices: the plan's estimate (AWS sets the real count at import)
            self.cfn_resource.add_metadata("tierwise", {"customModelUnits": custom_model_units, "copies": copies})

    def _weights_parameters(self, owner: str, stack: cdk.Stack) -> tuple[s3.IBucket, str]:
        if stack.node.try_find_child("WeightsBucket") is not None:
            raise PropError(f"{owner}: the stack already takes WeightsBucket/WeightsPrefix for another imported "
                            "model: give this one weights_uri")
        bucket = cdk.CfnParameter(stack, "WeightsBucket", type="String", allowed_pattern=BUCKET_PATTERN,
                                  description="the S3 bucket holding the model's Hugging Face files",
                                  constraint_description="an S3 bucket name")
        prefix = cdk.CfnParameter(stack, "WeightsPrefix", type="String", allowed_pattern=PREFIX_PATTERN,
                                  description="the folder in that bucket: safetensors, config.json, tokenizer files",
                                  constraint_description="a key prefix ending in /, e.g. models/my-finetune/")
        self.weights_parameters = (bucket, prefix)
        return s3.Bucket.from_bucket_name(self, "Weights", bucket.value_as_string), prefix.value_as_string

    def _service_role(self, stack: cdk.Stack, bucket: s3.IBucket, prefix: str, key: kms.IKey | None) -> iam.Role:
        facts = custom_model_import().service_role
        jobs = stack.format_arn(service="bedrock", resource="model-import-job", resource_name="*")
        role = iam.Role(
            self, "ServiceRole",
            assumed_by=iam.ServicePrincipal(facts.principal, conditions={
                "StringEquals": {"aws:SourceAccount": stack.account},
                "ArnLike": {"aws:SourceArn": jobs},
            }),
            description="Bedrock Custom Model Import: reads the model's folder in S3, for this account's import jobs",
        )
        same_account = {"aws:ResourceAccount": stack.account}
        role.add_to_policy(iam.PolicyStatement(
            sid="ReadTheWeights", actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{prefix}*")],
            conditions={"StringEquals": same_account},
        ))
        role.add_to_policy(iam.PolicyStatement(
            sid="ListTheWeights", actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
            conditions={"StringEquals": same_account, "StringLike": {"s3:prefix": [f"{prefix}*"]}},
        ))
        if key is not None:
            role.add_to_policy(iam.PolicyStatement(
                sid="DecryptTheWeights", actions=["kms:Decrypt"], resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.{stack.url_suffix}"}},
            ))
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{nag_resource(stack, bucket.arn_for_objects(f'{prefix}*'))}]",
            "Bedrock reads every file of the model's folder (safetensors shards, config.json, tokenizer files), "
            "whose names the import finds by listing it: the statement allows only objects under that one prefix",
        )
        return role

    def _build(self, owner: str, stack: cdk.Stack, name: str, bucket: s3.IBucket, prefix: str,
               revision: str | None, tags: dict[str, str], total_timeout: cdk.Duration, opts: TierOptions) -> None:
        path_tag = {f"aws:RequestTag/{CONSTRUCT_TAG}": self.node.path}
        own = {f"aws:ResourceTag/{CONSTRUCT_TAG}": self.node.path}
        models = stack.format_arn(service="bedrock", resource="imported-model", resource_name="*")
        jobs = stack.format_arn(service="bedrock", resource="model-import-job", resource_name="*")
        code = lambda_.Code.from_asset(str(HANDLER_DIRECTORY), exclude=["**/__pycache__", "**/*.pyc"])
        common = dict(key=self.encryption_key, log_retention=opts.log_retention, removal_policy=opts.removal_policy)
        read_own = [
            iam.PolicyStatement(sid="ReadOwnImportJobs", actions=["bedrock:GetModelImportJob"], resources=[jobs],
                                conditions={"StringEquals": own}),
            iam.PolicyStatement(sid="ManageOwnImportedModels",
                                actions=["bedrock:GetImportedModel", "bedrock:DeleteImportedModel"],
                                resources=[models], conditions={"StringEquals": own}),
        ]
        on_event = handler_function(
            self, "OnEvent", "model_import.on_event", code, **common,
            role_description="Bedrock model import OnEvent handler",
            description=f"{RESOURCE_TYPE} OnEvent",
            statements=[
                # CreateModelImportJob names no resource type (Service Authorization Reference):
                # it is held to imports tagged as this construct's
                iam.PolicyStatement(sid="StartImportsOfThisConstruct", actions=["bedrock:CreateModelImportJob"],
                                    resources=["*"], conditions={"StringEquals": path_tag}),
                iam.PolicyStatement(sid="TagOnCreate", actions=["bedrock:TagResource"], resources=[models, jobs],
                                    conditions={"StringEquals": path_tag}),
                iam.PolicyStatement(sid="RetagOwnImportedModels",
                                    actions=["bedrock:ListTagsForResource", "bedrock:TagResource",
                                             "bedrock:UntagResource"],
                                    resources=[models], conditions={"StringEquals": own}),
                *read_own,
                iam.PolicyStatement(sid="PassTheServiceRole", actions=["iam:PassRole"],
                                    resources=[self.service_role.role_arn],
                                    conditions={"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}),
            ],
        )
        # the caller of CreateModelImportJob lets Bedrock use the key for the imported model
        # (user guide, "Encryption of imported models": CreateGrant, DescribeKey, GenerateDataKey,
        # Decrypt); Bedrock creates the grant itself (CloudTrail: invokedBy bedrock.amazonaws.com),
        # so CreateGrant is held to grants for an AWS service
        grant_key_to_aws_services(on_event, self.encryption_key, "kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt",
                                  sid="GrantKeyToBedrockOnly")
        is_complete = handler_function(
            self, "IsComplete", "model_import.is_complete", code, **common,
            role_description="Bedrock model import IsComplete handler",
            description=f"{RESOURCE_TYPE} IsComplete", statements=read_own,
        )
        for function in (on_event, is_complete):
            for resource in (models, jobs):
                acknowledge(
                    function.role,
                    f"AwsSolutions-IAM5[Resource::{nag_resource(stack, resource)}]",
                    "Bedrock generates the import job's and the imported model's ids at create time, so the handler "
                    "cannot name them in advance: the statements allow only those tagged as this construct's",
                )
        acknowledge(
            on_event.role,
            "AwsSolutions-IAM5[Resource::*]",
            "bedrock:CreateModelImportJob has no resource type to scope to (Service Authorization Reference): the "
            "statement allows only imports whose tags name this construct (aws:RequestTag condition)",
        )
        self.provider, framework_roles = provider(
            self, on_event=on_event, is_complete=is_complete, total_timeout=total_timeout,
            framework_description="CDK Provider framework function of the Bedrock model import resource", **common,
        )
        properties: dict[str, object] = {
            "WeightsUri": cdk.Fn.join("", ["s3://", bucket.bucket_name, "/", prefix]),
            "ImportedModelName": name,
            "RoleArn": self.service_role.role_arn,
            "KmsKeyArn": self.encryption_key.key_arn,
            "Tags": cdk.Lazy.any(StackTags(stack, {**tags, CONSTRUCT_TAG: self.node.path},
                                           self.service_role.node.default_child), omit_empty_array=True),
        }
        if revision is not None:
            properties["WeightsRevision"] = revision
        self.custom_resource = cdk.CustomResource(
            self, "Resource", service_token=self.provider.service_token, resource_type=RESOURCE_TYPE,
            properties=properties, removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.custom_resource.node.add_dependency(self.service_role)
        self.imported_model_arn = self.custom_resource.get_att_string("ModelArn")
        self.custom_model_units = self.custom_resource.get_att_string("CustomModelUnits")
        self.cfn_resource: cdk.CfnResource = self.custom_resource.node.default_child  # type: ignore[assignment]
        self.node.default_child = self.cfn_resource
        acknowledge_provider(self.provider, framework_roles, [on_event, is_complete])

    def outputs(self) -> dict[str, tuple[str, str]]:
        body = EXAMPLE_REQUESTS["openai-chat"]
        return {
            "ImportedModelArn": (self.imported_model_arn, "pass it as modelId to InvokeModel (OpenAI chat body)"),
            "CustomModelUnits": (self.custom_model_units, "CMUs per model copy, as Bedrock set them at import"),
            "InvokeCommand": (
                f"aws bedrock-runtime invoke-model --region {cdk.Aws.REGION} --model-id {self.imported_model_arn} "
                f"--content-type application/json --cli-binary-format raw-in-base64-out --body '{body}' /dev/stdout",
                "call the model (boto3: bedrock-runtime invoke_model with the same arguments)",
            ),
            "ChatCommand": (f"tierwise chat {cdk.Aws.STACK_NAME} 'Say hello in five words.'",
                            "ask the model with your AWS credentials (Python: tierwise.client.for_stack)"),
        }

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let `grantee` call InvokeModel (and its streaming form) on the imported model, and decrypt
        with its key through Bedrock (the model is encrypted with it)."""
        self.encryption_key.grant(grantee, "kms:Decrypt", "kms:GenerateDataKey")
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
            resource_arns=[self.imported_model_arn],
        )


def _generated_name(scope: Construct) -> str:
    raw = cdk.Names.unique_resource_name(scope, max_length=custom_model_import().api.name_max, separator="-")
    return re.sub(r"[-_]{2,}", "-", raw).strip("-_")

