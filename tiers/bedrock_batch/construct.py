"""BedrockBatchInference: what a Bedrock batch inference job needs from an account, as a stack:
an input bucket, an output bucket and the service role Bedrock assumes to run the job."""

from __future__ import annotations

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from constructs import Construct

from tiers.bedrock.models import bedrock_model_arn, foundation_model_arns
from tiers.buckets import data_bucket
from tiers.construct_base import ForPlacement, OwnsRole, TierOptions
from tiers.props import PropError, check_int, check_text
from tiers.security import acknowledge, create_key
from tierwise.contract import is_inference_profile
from tierwise.cost.bills import JOB_INPUT, JOB_OUTPUT
from tierwise.facts import batch_model, bedrock_batch
from tierwise.tiers import bedrock_batch as bedrock_batch_tier

INPUT_PREFIX = "input/"
OUTPUT_PREFIX = "output/"


@jsii.implements(iam.IGrantable)
class BedrockBatchInference(ForPlacement, OwnsRole, Construct):
    """Bedrock batch inference for one model: callers put a JSONL file of records (``recordId`` +
    ``modelInput``) under ``input/`` of the input bucket and call CreateModelInvocationJob with the
    service role; Bedrock writes the answers under ``output/`` of the output bucket
    (``tierwise batch submit STACK input.jsonl`` does both). Both buckets are encrypted with the
    construct's KMS key, TLS-only, closed to the public, and expire their objects after
    ``retention_days``. The service role trusts Bedrock only for batch jobs of this account and
    region (aws:SourceAccount, aws:SourceArn), reads the input prefix, writes the output prefix and
    invokes this model only (tiers/bedrock_batch/README.md). Props (all keyword):

    - ``model_id``: the model (a foundation model id, or the cross-region inference profile id
      batch inference runs it through in this region). Required.
    - ``retention_days``: days the buckets keep prompts and answers, >= 1. Default 30.
    - ``job_timeout_hours``: how long a job may run before Bedrock stops it,
      24..168 (timeoutDurationInHours). Default 24.
    - ``min_records_per_job`` / ``max_records_per_job``: the records one job takes (the cost
      review prices the buckets' objects per job from them). Default: the model's batch quotas in
      tierwise/data/bedrock_batch.yaml; required for a model that file does not know.
    - ``options``: a ``tiers.TierOptions`` with ``encryption_key``, ``role`` (the service role)
      and ``removal_policy`` (the buckets: DESTROY, which CloudFormation refuses while a bucket
      holds objects). Default: a new key and a new service role, buckets destroyed with the
      stack when empty.

    Attributes: ``input_bucket``, ``output_bucket``, ``role``, ``encryption_key``, ``model_id``.
    """

    TIER = bedrock_batch_tier.ID
    OPTIONS = ("encryption_key", "role", "removal_policy")

    @classmethod
    def props_for_placement(cls, placement, **props) -> dict:
        s = placement.settings
        return {"model_id": s.model_id, "retention_days": s.retention_days, "job_timeout_hours": s.timeout_hours,
                "min_records_per_job": s.min_records_per_job, "max_records_per_job": s.max_records_per_job, **props}

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        model_id: str,
        retention_days: int = bedrock_batch_tier.RETENTION_DAYS,
        job_timeout_hours: int | None = None,
        min_records_per_job: int | None = None,
        max_records_per_job: int | None = None,
        options: TierOptions | None = None,
    ) -> None:
        owner = type(self).__name__
        check_text(owner, "model_id", model_id, r"[\w.:-]{1,200}", "a Bedrock model id or inference profile id")
        turnaround = bedrock_batch().turnaround
        timeout = turnaround.timeout_hours_min if job_timeout_hours is None else job_timeout_hours
        check_int(owner, "job_timeout_hours", timeout, turnaround.timeout_hours_min, turnaround.timeout_hours_max)
        facts = batch_model(model_id)
        quotas = facts.quotas if facts is not None else None
        if min_records_per_job is None:
            min_records_per_job = quotas.min_records_per_job.value if quotas else None
        if max_records_per_job is None:
            max_records_per_job = quotas.records_per_job.value if quotas else None
        if min_records_per_job is None or max_records_per_job is None:
            raise PropError(f"{owner}: min_records_per_job and max_records_per_job are needed for {model_id}, "
                            "whose batch quotas tierwise/data/bedrock_batch.yaml does not know")
        check_int(owner, "min_records_per_job", min_records_per_job, 1)
        check_int(owner, "max_records_per_job", max_records_per_job, min_records_per_job)
        opts = TierOptions.checked(owner, options, uses=self.OPTIONS)
        super().__init__(scope, id)
        stack = cdk.Stack.of(self)
        self.model_id = model_id
        self.job_timeout_hours = timeout
        self.encryption_key = opts.encryption_key or create_key(self, "Key", description=f"{self.node.path}: batch data")
        records = {"recordsPerJob": [min_records_per_job, max_records_per_job]}
        self.input_bucket = data_bucket(self, "InputBucket", owner=owner, key=self.encryption_key, holds=JOB_INPUT,
                                        retention_days=retention_days, removal_policy=opts.removal_policy, marker=records)
        self.output_bucket = data_bucket(self, "OutputBucket", owner=owner, key=self.encryption_key, holds=JOB_OUTPUT,
                                         retention_days=retention_days, removal_policy=opts.removal_policy,
                                         marker=records)
        role_facts = bedrock_batch().service_role
        job_arns = stack.format_arn(service="bedrock", resource="model-invocation-job", resource_name="*")
        self._own_role = opts.role is None
        self.role: iam.IRole = opts.role or iam.Role(
            self,
            "ServiceRole",
            assumed_by=iam.ServicePrincipal(
                role_facts.principal,
                # the confused-deputy guard AWS gives for batch inference (batch-iam-sr.html)
                conditions={"StringEquals": {"aws:SourceAccount": stack.account},
                            "ArnEquals": {"aws:SourceArn": job_arns}},
            ),
            description=f"Bedrock batch inference jobs for {model_id}: read {INPUT_PREFIX}, write {OUTPUT_PREFIX}",
        )
        in_this_account = {"StringEquals": {"aws:ResourceAccount": stack.account}}
        model_arns = [bedrock_model_arn(self, model_id), *foundation_model_arns(self, model_id)]
        for statement in (
            iam.PolicyStatement(sid="ReadInput", actions=["s3:GetObject"],
                                resources=[self.input_bucket.arn_for_objects(f"{INPUT_PREFIX}*")],
                                conditions=in_this_account),
            iam.PolicyStatement(sid="ListInput", actions=["s3:ListBucket"], resources=[self.input_bucket.bucket_arn],
                                conditions={**in_this_account, "StringLike": {"s3:prefix": f"{INPUT_PREFIX}*"}}),
            iam.PolicyStatement(sid="WriteOutput", actions=["s3:PutObject"],
                                resources=[self.output_bucket.arn_for_objects(f"{OUTPUT_PREFIX}*")],
                                conditions=in_this_account),
            iam.PolicyStatement(sid="ListOutput", actions=["s3:ListBucket"], resources=[self.output_bucket.bucket_arn],
                                conditions={**in_this_account, "StringLike": {"s3:prefix": f"{OUTPUT_PREFIX}*"}}),
            iam.PolicyStatement(sid="InvokeTheModel", actions=list(role_facts.inference_profile_actions),
                                resources=model_arns),
        ):
            self.role.add_to_principal_policy(statement)
        # reading the prompts decrypts; writing the answers asks for a data key
        self.encryption_key.grant(self.role, "kms:Decrypt", "kms:GenerateDataKey")
        if self._own_role:
            reasons = {
                f"Resource::<{stack.get_logical_id(self.input_bucket.node.default_child)}.Arn>/{INPUT_PREFIX}*":
                    "the role reads the objects under the input prefix only, whose names the submitter chooses per job",
                f"Resource::<{stack.get_logical_id(self.output_bucket.node.default_child)}.Arn>/{OUTPUT_PREFIX}*":
                    "Bedrock names each job's result objects itself (by job id) under the output prefix the job is given",
            }
            if is_inference_profile(model_id):
                reasons[f"Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/{model_id.split('.', 1)[1]}"] = (
                    "a cross-region inference profile routes each request to the model in any region of its "
                    "geography, and IAM checks the foundation model there too (batch-iam-sr.html)")
            for finding, reason in reasons.items():
                acknowledge(self.role, f"AwsSolutions-IAM5[{finding}]", reason)

    def outputs(self) -> dict[str, tuple[str, str]]:
        return {
            "InputBucket": (self.input_bucket.bucket_name, f"put each job's JSONL file under {INPUT_PREFIX}"),
            "OutputBucket": (self.output_bucket.bucket_name, f"Bedrock writes each job's answers under {OUTPUT_PREFIX}"),
            "ServiceRoleArn": (self.role.role_arn, "the roleArn of CreateModelInvocationJob"),
            "ModelId": (self.model_id, "the modelId of CreateModelInvocationJob"),
            "JobTimeoutHours": (str(self.job_timeout_hours), "timeoutDurationInHours of each job"),
            "SubmitCommand": (f"tierwise batch submit {cdk.Aws.STACK_NAME} input.jsonl",
                              "start a job on a JSONL file of records (recordId, modelInput) with your AWS credentials"),
        }

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let `grantee` run batch jobs with this construct: upload inputs, start, watch and stop jobs
        with the service role, read the answers."""
        stack = cdk.Stack.of(self)
        jobs = stack.format_arn(service="bedrock", resource="model-invocation-job", resource_name="*")
        grant = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["bedrock:CreateModelInvocationJob", "bedrock:GetModelInvocationJob",
                     "bedrock:StopModelInvocationJob"],
            resource_arns=[jobs, bedrock_model_arn(self, self.model_id)],
        )
        grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
            actions=["iam:PassRole"], resources=[self.role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": bedrock_batch().service_role.principal}},
        ))
        self.input_bucket.grant_put(grantee, f"{INPUT_PREFIX}*")
        self.output_bucket.grant_read(grantee, f"{OUTPUT_PREFIX}*")
        return grant
