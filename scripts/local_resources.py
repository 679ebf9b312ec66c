#!/usr/bin/env python3
"""Create template.yaml's DynamoDB tables, SQS queues and secrets in a local server (moto).

Reads the AWS::DynamoDB::Table, AWS::SQS::Queue and AWS::SecretsManager::Secret resources of
template.yaml and creates them, with the properties the template gives them (keys, billing
mode, TTL, FIFO, de-duplication, redrive to the dead-letter queue, ...), against --endpoint.
A secret the template generates (GenerateSecretString: the webhook tokens) gets --token as
its generated value, so that the samples under events/ authenticate. Conditions are decided
with the parameters' defaults, as a deployment that sets none. Then resolves the functions'
environment (Globals.Function.Environment.Variables, e.g. EVENTS_TABLE: !Ref EventsTable,
IUGU_SECRET_ID: the iugu secret's ARN) to the local names and URLs, and prints one JSON
object on stdout:

    {"endpoint": ..., "env": {"EVENTS_TABLE": ..., "EVENTS_QUEUE_URL": ...},
     "functions": {"<binary>": "<route>"},
     "resources": {"<LogicalId>": {"type": ..., "name": ..., "arn": ..., "url": ...}}}

Local names are the logical ids (a FIFO queue gets the required ".fifo" suffix) unless the
template names the resource. Running it again against the same server is harmless.

Usage: .venv/bin/python scripts/local_resources.py --endpoint http://127.0.0.1:PORT
       [--template template.yaml] [--region us-east-1] [--token TOKEN] [--out FILE]
Needs boto3 and PyYAML (both in .venv: moto brings boto3, cfn-lint brings PyYAML).
"""

import argparse
import json
import os
import re
import sys

import boto3
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- template.yaml: YAML with CloudFormation's short-form tags ---------------------------


class CfnLoader(yaml.SafeLoader):
    """A safe loader that turns `!Ref X` into {"Ref": "X"}, `!GetAtt A.B` into
    {"Fn::GetAtt": ["A", "B"]}, and any other `!Name v` into {"Fn::Name": v}."""


def _cfn_tag(loader, tag_suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    if tag_suffix == "Condition":
        return {"Condition": value}
    return {"Fn::" + tag_suffix: value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)  # noqa: S506 - a SafeLoader subclass


# --- resolving intrinsic functions against what was created ------------------------------


class Unresolved(Exception):
    pass


# `!Ref AWS::NoValue`: the list item or property it stands for is left out.
NOVALUE = object()


# The template's Parameters and Conditions, for Fn::If and condition-bound resources: a local
# deployment is one that sets no parameter, so each takes its default.
TEMPLATE = {"Parameters": {}, "Conditions": {}}


def parameter_default(name):
    param = TEMPLATE["Parameters"].get(name)
    if not isinstance(param, dict) or "Default" not in param:
        raise Unresolved(f"Ref {name}")
    return param["Default"]


def condition(name, created, region):
    """A template condition, with the parameters' defaults."""
    if name not in TEMPLATE["Conditions"]:
        raise Unresolved(f"Condition {name}")
    return bool(evaluate(TEMPLATE["Conditions"][name], created, region))


def evaluate(expr, created, region):
    """Fn::Equals / Fn::Not / Fn::And / Fn::Or / Condition over resolvable values."""
    if isinstance(expr, dict) and len(expr) == 1:
        (key, arg), = expr.items()
        if key == "Fn::Equals":
            a, b = (resolve(v, created, region) for v in arg)
            return str(a) == str(b)
        if key == "Fn::Not":
            return not evaluate(arg[0], created, region)
        if key == "Fn::And":
            return all(evaluate(v, created, region) for v in arg)
        if key == "Fn::Or":
            return any(evaluate(v, created, region) for v in arg)
        if key == "Condition":
            return condition(arg, created, region)
    raise Unresolved(repr(expr))


def resolve(value, created, region):
    """Resolve Ref / Fn::GetAtt / Fn::Sub (of created resources and pseudo parameters), Fn::If,
    AWS::NoValue (dropped from lists and maps) and plain values; anything else raises
    Unresolved."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, list):
        items = [resolve(v, created, region) for v in value]
        return [v for v in items if v is not NOVALUE]
    if isinstance(value, dict) and len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref":
            if arg == "AWS::NoValue":
                return NOVALUE
            if arg == "AWS::Region":
                return region
            if arg == "AWS::AccountId":
                return "123456789012"
            if arg in created:
                return created[arg]["ref"]
            return parameter_default(arg)
        if key == "Fn::GetAtt":
            name, attr = arg if isinstance(arg, list) else arg.split(".", 1)
            if name in created and attr in created[name]["attrs"]:
                return created[name]["attrs"][attr]
            raise Unresolved(f"GetAtt {name}.{attr}")
        if key == "Fn::Sub" and isinstance(arg, str):

            def sub(m):
                inner = m.group(1)
                if "." in inner:
                    return str(resolve({"Fn::GetAtt": inner.split(".", 1)}, created, region))
                return str(resolve({"Ref": inner}, created, region))

            return re.sub(r"\$\{([^}!][^}]*)\}", sub, arg)
        if key == "Fn::If":
            name, if_true, if_false = arg
            chosen = if_true if condition(name, created, region) else if_false
            return resolve(chosen, created, region)
        if key.startswith("Fn::") or key == "Condition":
            raise Unresolved(key)
    if isinstance(value, dict):
        items = {k: resolve(v, created, region) for k, v in value.items()}
        return {k: v for k, v in items.items() if v is not NOVALUE}
    raise Unresolved(repr(value))


def as_str_bool(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- DynamoDB ----------------------------------------------------------------------------

TABLE_PASSTHROUGH = [
    "KeySchema",
    "AttributeDefinitions",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "StreamSpecification",
    "TableClass",
    "DeletionProtectionEnabled",
]


def create_table(ddb, logical_id, props, created, region):
    name = resolve(props.get("TableName", logical_id), created, region)
    args = {"TableName": name}
    for key in TABLE_PASSTHROUGH:
        if key in props:
            args[key] = resolve(props[key], created, region)
    if props.get("SSESpecification", {}).get("SSEEnabled"):
        args["SSESpecification"] = {"Enabled": True}
    try:
        ddb.create_table(**args)
    except ddb.exceptions.ResourceInUseException:
        pass  # already there (a second run against the same server)
    ddb.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50}
    )
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={
                    "AttributeName": resolve(ttl["AttributeName"], created, region),
                    "Enabled": True,
                },
            )
    desc = ddb.describe_table(TableName=name)["Table"]
    created[logical_id] = {
        "type": "AWS::DynamoDB::Table",
        "name": name,
        "arn": desc["TableArn"],
        "ref": name,
        "attrs": {"Arn": desc["TableArn"], "StreamArn": desc.get("LatestStreamArn")},
    }
    keys = ", ".join(f'{k["AttributeName"]} ({k["KeyType"]})' for k in desc["KeySchema"])
    ttl_desc = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    billing = desc.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    log(
        f"table {name}: keys {keys}, {billing}, TTL "
        f'{ttl_desc.get("TimeToLiveStatus")} on {ttl_desc.get("AttributeName")}'
    )


# --- SQS ---------------------------------------------------------------------------------

# CloudFormation property -> SQS attribute (same names, as strings; see the SQS API).
QUEUE_ATTRIBUTES = [
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
]


def create_queue(sqs, logical_id, props, created, region):
    fifo = bool(props.get("FifoQueue"))
    name = props.get("QueueName")
    name = resolve(name, created, region) if name else logical_id + (".fifo" if fifo else "")
    attrs = {}
    for key in QUEUE_ATTRIBUTES:
        if key in props:
            attrs[key] = as_str_bool(resolve(props[key], created, region))
    if fifo and "ContentBasedDeduplication" not in attrs:
        attrs["ContentBasedDeduplication"] = "false"
    for key in ("RedrivePolicy", "RedriveAllowPolicy"):
        if key in props:
            policy = resolve(props[key], created, region)
            attrs[key] = policy if isinstance(policy, str) else json.dumps(policy)
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    created[logical_id] = {
        "type": "AWS::SQS::Queue",
        "name": name,
        "arn": got["QueueArn"],
        "url": url,
        "ref": url,
        "attrs": {"Arn": got["QueueArn"], "QueueName": name, "QueueUrl": url},
    }
    details = [f'FifoQueue={got.get("FifoQueue", "false")}']
    if fifo:
        details.append(f'ContentBasedDeduplication={got.get("ContentBasedDeduplication")}')
    if "RedrivePolicy" in got:
        details.append(f'RedrivePolicy={got["RedrivePolicy"]}')
    log(f"queue {url}: {', '.join(details)}")


# --- Secrets Manager ---------------------------------------------------------------------


def create_secret(sm, logical_id, props, created, region, token):
    """A secret as the template defines it; a generated value (GenerateSecretString) is
    `token`, put under GenerateStringKey in SecretStringTemplate, as AWS would put a random
    one."""
    name = resolve(props.get("Name", logical_id), created, region)
    if "SecretString" in props:
        value = resolve(props["SecretString"], created, region)
    else:
        generate = props.get("GenerateSecretString") or {}
        template = json.loads(resolve(generate.get("SecretStringTemplate", "{}"), created, region))
        key = generate.get("GenerateStringKey")
        if key:
            template[key] = token
            value = json.dumps(template)
        else:
            value = token
    try:
        arn = sm.create_secret(Name=name, SecretString=value)["ARN"]
    except sm.exceptions.ResourceExistsException:
        arn = sm.put_secret_value(SecretId=name, SecretString=value)["ARN"]
    created[logical_id] = {
        "type": "AWS::SecretsManager::Secret",
        "name": name,
        "arn": arn,
        "ref": arn,
        "attrs": {"Id": arn},
    }
    log(f"secret {name}: {arn} (value: the local token, never printed)")


def depends_on(props):
    """Logical ids a resource's properties refer to (so that the DLQ is created first)."""
    found = set()

    def walk(v):
        if isinstance(v, dict):
            if "Ref" in v and isinstance(v["Ref"], str):
                found.add(v["Ref"])
            if "Fn::GetAtt" in v:
                arg = v["Fn::GetAtt"]
                found.add(arg[0] if isinstance(arg, list) else str(arg).split(".")[0])
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(props)
    return found


# --- the functions: binary -> route -------------------------------------------------------

# The contract, for a template that does not say (no Metadata.BuildProperties.Binary).
DEFAULT_FUNCTIONS = {
    "invoices": "/iugu/invoices",
    "subscriptions": "/iugu/subscriptions",
    "payment-methods": "/iugu/payment-methods",
    "transfers": "/iugu/transfers",
    "deposits": "/iugu/deposits",
    "advancements": "/iugu/advancements",
    "payment-requests": "/iugu/payment-requests",
    "all-events": "/iugu/events",
    "ipag": "/ipag/events",
}


def functions(resources):
    """{binary: route} from each function's Metadata.BuildProperties.Binary (SAM's
    rust-cargolambda build) and the Path of its first API event."""
    found = {}
    for r in resources.values():
        if r.get("Type") != "AWS::Serverless::Function":
            continue
        binary = ((r.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        events = (r.get("Properties") or {}).get("Events") or {}
        paths = [
            (e.get("Properties") or {}).get("Path")
            for e in events.values()
            if e.get("Type") in ("Api", "HttpApi")
        ]
        paths = [p for p in paths if isinstance(p, str)]
        if isinstance(binary, str) and paths:
            found[binary] = paths[0]
    return found or dict(DEFAULT_FUNCTIONS)


# --- main --------------------------------------------------------------------------------


def log(msg):
    print(f"local_resources: {msg}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", required=True, help="the local server, http://127.0.0.1:PORT")
    ap.add_argument("--template", default=os.path.join(ROOT, "template.yaml"))
    ap.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"))
    ap.add_argument(
        "--token",
        default="local-dev-token-0123456789",
        help="the value of every generated secret (the webhook tokens); the default is the "
        "one every sample under events/ carries",
    )
    ap.add_argument("--out", help="also write the JSON to this file")
    args = ap.parse_args()

    template = load_template(args.template)
    TEMPLATE["Parameters"] = template.get("Parameters") or {}
    TEMPLATE["Conditions"] = template.get("Conditions") or {}
    resources = template.get("Resources") or {}
    kinds = ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SecretsManager::Secret")
    wanted = {
        lid: r
        for lid, r in resources.items()
        if r.get("Type") in kinds and ("Condition" not in r or condition(r["Condition"], {}, args.region))
    }
    if not any(r["Type"] == "AWS::DynamoDB::Table" for r in wanted.values()):
        sys.exit(f"local_resources: no AWS::DynamoDB::Table in {args.template}")
    if not any(r["Type"] == "AWS::SQS::Queue" for r in wanted.values()):
        sys.exit(f"local_resources: no AWS::SQS::Queue in {args.template}")

    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name=args.region
    )
    ddb = session.client("dynamodb", endpoint_url=args.endpoint)
    sqs = session.client("sqs", endpoint_url=args.endpoint)
    sm = session.client("secretsmanager", endpoint_url=args.endpoint)

    created = {}
    pending = dict(wanted)
    while pending:
        ready = [
            lid
            for lid, r in pending.items()
            if not (depends_on(r.get("Properties") or {}) & set(pending))
        ]
        if not ready:
            sys.exit(f"local_resources: circular references between {sorted(pending)}")
        for lid in sorted(ready):
            r = pending.pop(lid)
            props = r.get("Properties") or {}
            try:
                if r["Type"] == "AWS::DynamoDB::Table":
                    create_table(ddb, lid, props, created, args.region)
                elif r["Type"] == "AWS::SecretsManager::Secret":
                    create_secret(sm, lid, props, created, args.region, args.token)
                else:
                    create_queue(sqs, lid, props, created, args.region)
            except Unresolved as e:
                sys.exit(f"local_resources: {lid}: cannot resolve {e} locally")

    # The functions' environment, as the template wires it (Globals, then each function).
    env = {}
    variables = dict(
        ((template.get("Globals") or {}).get("Function") or {})
        .get("Environment", {})
        .get("Variables", {})
        or {}
    )
    for r in resources.values():
        if r.get("Type") in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            fn_vars = (r.get("Properties") or {}).get("Environment", {}).get("Variables") or {}
            for k, v in fn_vars.items():
                variables.setdefault(k, v)
    for key, value in variables.items():
        try:
            resolved = resolve(value, created, args.region)
        except Unresolved:
            continue  # a parameter without a default: local.sh supplies those
        # Only what points at a created resource (a table, a queue, a secret).
        if isinstance(value, dict) and any(
            resolved == c["ref"] for c in created.values()
        ):
            env[key] = resolved
    # The contract's defaults, should the template not wire them through Globals.
    if "EVENTS_TABLE" not in env:
        tables = [c for c in created.values() if c["type"] == "AWS::DynamoDB::Table"]
        if len(tables) == 1:
            env["EVENTS_TABLE"] = tables[0]["name"]
    if "EVENTS_QUEUE_URL" not in env and "EventsQueue" in created:
        env["EVENTS_QUEUE_URL"] = created["EventsQueue"]["url"]
    for key in ("EVENTS_TABLE", "EVENTS_QUEUE_URL"):
        if key not in env:
            sys.exit(f"local_resources: cannot tell which resource is {key} in {args.template}")

    out = {
        "endpoint": args.endpoint,
        "region": args.region,
        "env": env,
        "functions": functions(resources),
        "resources": {
            lid: {k: v for k, v in c.items() if k not in ("ref", "attrs")}
            for lid, c in created.items()
        },
    }
    text = json.dumps(out, indent=2)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
