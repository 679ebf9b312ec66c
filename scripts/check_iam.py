"""Least privilege in template.yaml, checked statically:

1. no `*` in any IAM action or resource, and no function left to SAM's generated role (which
   brings AWSLambdaBasicExecutionRole, logs on Resource "*");
2. the webhook secrets: every statement that touches Secrets Manager allows exactly
   `secretsmanager:GetSecretValue`, on secrets the template names (a secret it creates, or a
   parameter whose pattern admits one full ARN and no wildcard); each function's role reads
   exactly the secret its own variable points at (IUGU_SECRET_ID for the iugu functions,
   IPAG_SECRET_ID for the ipag one) and nothing else; a function that serves no gateway
   (the scheduled sweeper) reads none; and no secret serves both gateways;
3. the alarm topic: every SNS topic of the template that an alarm notifies is either not
   encrypted or encrypted with a KMS key of the template whose key policy lets
   cloudwatch.amazonaws.com use it (kms:Decrypt and kms:GenerateDataKey*) on this account's
   behalf only (an aws:SourceAccount condition). Under an AWS managed key (alias/aws/sns),
   whose policy cannot be changed, CloudWatch cannot publish and every alarm is silent
   (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
4. the sweeper's writes: SweeperRole may write (PutItem, UpdateItem, DeleteItem, BatchWriteItem)
   only where dynamodb:LeadingKeys lets it, and never a partition of another kind: a
   de-duplication marker (`dedup#...`), a resend request (`resend#...`) or a quarantine day
   (`quarantine#...`). Probed with the small evaluator below (`allows`), which reads Allow
   statements, their actions and resources, and the Null, StringEquals, StringLike and
   StringNotLike conditions (with ForAllValues) on dynamodb:LeadingKeys. LeadingKeys names a
   request's partition keys, nothing else: within an entity's partition (its head and its
   event items) neither the sort key nor the attributes are restricted by it.

Usage: .venv/bin/python scripts/check_iam.py [template.yaml]   (exit 1 and a list when not)
       .venv/bin/python scripts/check_iam.py --self-test [template.yaml]
         (breaks the template in the ways above, one at a time, and fails unless each break
         is caught; scripts/test.sh runs both)
       .venv/bin/python scripts/check_iam.py --sweeper-calls CALLS.json [template.yaml]
         (CALLS.json: the DynamoDB calls a sweeper made, [{"op": "UpdateItem", "request":
         {...}}, ...] as the SDK sent them; exit 1 unless SweeperRole allows every one:
         tests/tests/end_to_end/sweeper_iam.rs records a real run and asks)
It reads the template with cfn-lint's loader, which understands !Ref, !GetAtt, !Sub and !If.
"""

import copy
import json
import re
import sys

from cfnlint.decode import decode

SECRET_READ = "secretsmanager:GetSecretValue"
# Values a parameter naming a secret must refuse: anything that would widen the grant.
WILDCARD_PROBES = [
    "*",
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:*",
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhooks-??????",
    "arn:aws:secretsmanager:*:123456789012:secret:webhooks-AbCdEf",
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhooks*",
]


def as_list(value):
    return value if isinstance(value, list) else [value]


def wildcard(value):
    """True for "*" and for an action such as "s3:*" (a whole service)."""
    return isinstance(value, str) and (value == "*" or value.endswith(":*"))


def canonical(value):
    return json.dumps(value, sort_keys=True, default=str)


def statements(node, path):
    """Every IAM policy statement anywhere under `node`, with where it is."""
    if isinstance(node, dict):
        for key, child in node.items():
            if key == "PolicyDocument" and isinstance(child, dict):
                for i, statement in enumerate(as_list(child.get("Statement", []))):
                    yield f"{path}.PolicyDocument.Statement[{i}]", statement
            else:
                yield from statements(child, f"{path}.{key}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from statements(child, f"{path}[{i}]")


def touches_secrets(statement):
    actions = as_list(statement.get("Action", [])) + as_list(statement.get("NotAction", []))
    return any(isinstance(a, str) and a.lower().startswith("secretsmanager:") for a in actions)


def secret_sources(template, value, where):
    """The secrets a policy Resource (or a variable) can name, as ("secret", logical id) or
    ("parameter", name); a problem for anything else."""
    resources = template.get("Resources", {})
    parameters = template.get("Parameters", {})
    if isinstance(value, dict) and len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref" and isinstance(arg, str):
            if resources.get(arg, {}).get("Type") == "AWS::SecretsManager::Secret":
                return {("secret", arg)}, []
            if arg in parameters:
                pattern = parameters[arg].get("AllowedPattern")
                if not isinstance(pattern, str):
                    return set(), [f"{where}: parameter {arg} has no AllowedPattern: it may name any secret, or '*'"]
                widening = [p for p in WILDCARD_PROBES if re.fullmatch(pattern, p)]
                if widening:
                    return set(), [f"{where}: parameter {arg}'s pattern admits {widening[0]!r}"]
                return {("parameter", arg)}, []
        if key == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
            found, problems = set(), []
            for branch in arg[1:]:
                f, p = secret_sources(template, branch, where)
                found |= f
                problems += p
            return found, problems
    return set(), [f"{where}: {canonical(value)} is not a secret this template names"]


def role_statements(template, role_id):
    """The statements a role grants: its inline policies and its managed policies."""
    resources = template.get("Resources", {})
    role = resources.get(role_id, {})
    props = role.get("Properties", {})
    found, problems = [], []
    for where, statement in statements(props.get("Policies", []), f"Resources.{role_id}.Policies"):
        found.append((where, statement))
    for arn in as_list(props.get("ManagedPolicyArns", [])):
        if isinstance(arn, dict) and "Ref" in arn and resources.get(arn["Ref"], {}).get("Type") == "AWS::IAM::ManagedPolicy":
            policy = resources[arn["Ref"]].get("Properties", {})
            found += list(statements({"PolicyDocument": policy.get("PolicyDocument", {})}, f"Resources.{arn['Ref']}"))
        else:
            problems.append(f"Resources.{role_id}: managed policy {canonical(arn)} is not in the template: what it grants cannot be checked")
    return found, problems


def function_role(props):
    role = props.get("Role")
    if isinstance(role, dict) and "Fn::GetAtt" in role:
        target = role["Fn::GetAtt"]
        return (target[0] if isinstance(target, list) else str(target).split(".")[0])
    return None


def secret_variable(name, resource):
    """The variable a function finds its secret in: IPAG_SECRET_ID for iPag's, else iugu's."""
    binary = ((resource.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
    paths = [
        (e.get("Properties") or {}).get("Path", "")
        for e in ((resource.get("Properties") or {}).get("Events") or {}).values()
    ]
    ipag = binary == "ipag" or any(str(p).startswith("/ipag/") for p in paths)
    return "IPAG_SECRET_ID" if ipag else "IUGU_SECRET_ID"


ALARM_ACTIONS = ("AlarmActions", "OKActions", "InsufficientDataActions")
CLOUDWATCH = "cloudwatch.amazonaws.com"
KEY_ACTIONS_NEEDED = ("kms:Decrypt", "kms:GenerateDataKey*")


def refs_to(node, resources, kind):
    """Logical ids of `kind` resources that `node` names by Ref or Fn::GetAtt (in any branch)."""
    found = set()
    if isinstance(node, dict):
        if isinstance(node.get("Ref"), str) and resources.get(node["Ref"], {}).get("Type") == kind:
            found.add(node["Ref"])
        target = node.get("Fn::GetAtt")
        if target is not None:
            name = target[0] if isinstance(target, list) else str(target).split(".")[0]
            if resources.get(name, {}).get("Type") == kind:
                found.add(name)
        for child in node.values():
            found |= refs_to(child, resources, kind)
    elif isinstance(node, list):
        for child in node:
            found |= refs_to(child, resources, kind)
    return found


def grants_cloudwatch(policy):
    """Whether a key policy lets CloudWatch use the key, for this account only."""
    for statement in as_list((policy or {}).get("Statement", [])):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal") or {}
        services = as_list(principal.get("Service", [])) if isinstance(principal, dict) else []
        if CLOUDWATCH not in services:
            continue
        actions = as_list(statement.get("Action", []))
        if not all(a in actions for a in KEY_ACTIONS_NEEDED):
            continue
        conditions = statement.get("Condition") or {}
        if any("aws:SourceAccount" in (conditions.get(op) or {}) for op in ("StringEquals", "StringLike")):
            return True
    return False


def key_problems(template, topic, key, where):
    """Why the key `key` (a topic's KmsMasterKeyId) keeps CloudWatch from publishing."""
    resources = template.get("Resources", {})
    if key is None:
        return []  # not encrypted: nothing for CloudWatch to be refused
    if isinstance(key, str):
        if key.startswith("alias/aws/") or ":alias/aws/" in key:
            return [f"{where}: alarm topic {topic} is encrypted with the AWS managed key {key}, "
                    "whose policy cannot let CloudWatch publish: every alarm would be silent"]
        return [f"{where}: alarm topic {topic}'s key {key!r} is not a key of this template: "
                "whether CloudWatch may use it cannot be checked"]
    if isinstance(key, dict) and "Fn::If" in key and isinstance(key["Fn::If"], list) and len(key["Fn::If"]) == 3:
        found = []
        for branch in key["Fn::If"][1:]:
            if branch != {"Ref": "AWS::NoValue"}:
                found += key_problems(template, topic, branch, where)
        return found
    keys = refs_to(key, resources, "AWS::KMS::Key")
    if not keys:
        return [f"{where}: alarm topic {topic}'s key {canonical(key)} is not a key of this template: "
                "whether CloudWatch may use it cannot be checked"]
    found = []
    for name in sorted(keys):
        policy = (resources[name].get("Properties") or {}).get("KeyPolicy")
        if not grants_cloudwatch(policy):
            found.append(f"Resources.{name}: the key of alarm topic {topic} does not let {CLOUDWATCH} "
                         f"use it ({', '.join(KEY_ACTIONS_NEEDED)}) under an aws:SourceAccount "
                         "condition: CloudWatch cannot publish, every alarm would be silent")
    return found


def alarm_topic_problems(template):
    resources = template.get("Resources", {})
    topics = set()
    for resource in resources.values():
        if resource.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        props = resource.get("Properties") or {}
        for field in ALARM_ACTIONS:
            topics |= refs_to(props.get(field, []), resources, "AWS::SNS::Topic")
    for topic in sorted(topics):
        key = (resources[topic].get("Properties") or {}).get("KmsMasterKeyId")
        yield from key_problems(template, topic, key, f"Resources.{topic}.KmsMasterKeyId")


def problems(template):
    yield from alarm_topic_problems(template)
    resources = template.get("Resources", {})
    for where, statement in statements(resources, "Resources"):
        for field in ("Action", "NotAction", "Resource", "NotResource"):
            for value in as_list(statement.get(field, [])):
                if wildcard(value):
                    yield f"{where}: {field} {value!r}"
        if "NotAction" in statement or "NotResource" in statement:
            yield f"{where}: NotAction/NotResource grants everything else"
        if touches_secrets(statement):
            actions = as_list(statement.get("Action", []))
            if statement.get("Effect") == "Allow" and actions != [SECRET_READ]:
                yield f"{where}: {canonical(actions)}: the only Secrets Manager action allowed is {SECRET_READ}"
            for value in as_list(statement.get("Resource", [])):
                yield from secret_sources(template, value, where)[1]

    global_vars = (((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get("Variables") or {}
    by_gateway = {}
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties", {})
        if "Role" not in props:
            yield f"Resources.{name}: no explicit Role (SAM's role adds logs on '*')"
            continue
        if "Policies" in props:
            yield f"Resources.{name}: Policies (use the explicit role)"
        role = function_role(props)
        if role not in resources:
            yield f"Resources.{name}: its Role is not a role of this template"
            continue
        granted, found = role_statements(template, role)
        yield from found
        readable = set()
        for where, statement in granted:
            if touches_secrets(statement) and statement.get("Effect") == "Allow":
                for value in as_list(statement.get("Resource", [])):
                    readable |= secret_sources(template, value, where)[0]
        events = (props.get("Events") or {}).values()
        if not any(e.get("Type") in ("Api", "HttpApi") for e in events):
            # Not a webhook route (the scheduled sweeper): it serves no gateway, and may read
            # no secret at all.
            if readable:
                yield f"Resources.{name}: serves no gateway, but its role {role} reads {sorted(readable)}"
            continue
        variable = secret_variable(name, resource)
        own_vars = ((props.get("Environment") or {}).get("Variables") or {})
        value = own_vars.get(variable, global_vars.get(variable))
        if value is None:
            yield f"Resources.{name}: no {variable}: it cannot find its secret"
            continue
        own, found = secret_sources(template, value, f"Resources.{name}.{variable}")
        yield from found
        by_gateway.setdefault(variable, set()).update(own)
        if readable != own:
            extra = sorted(readable - own)
            missing = sorted(own - readable)
            if extra:
                yield f"Resources.{name}: its role {role} also reads {extra}, which is not its own secret ({variable})"
            if missing:
                yield f"Resources.{name}: its role {role} cannot read its own secret {missing} ({variable})"
    shared = by_gateway.get("IUGU_SECRET_ID", set()) & by_gateway.get("IPAG_SECRET_ID", set())
    if shared:
        yield f"the gateways share secrets {sorted(shared)}: one gateway's token would open the other's routes"
    yield from sweeper_problems(template)


SWEEPER_ROLE = "SweeperRole"
TABLE = "table"
WRITES = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
# (action, partition key, allowed?): what the sweeper must be able to write, and what it must not.
SWEEPER_PROBES = [
    ("dynamodb:UpdateItem", "invoice#84F982E1A10F4FF1B483B829F4762C2C", True),
    ("dynamodb:UpdateItem", "ipag-transaction#3012161", True),
    ("dynamodb:PutItem", "sweeper", True),
    ("dynamodb:DeleteItem", "sweeper", False),
    ("dynamodb:PutItem", "aside", True),
    ("dynamodb:PutItem", "invoice#84F982E1A10F4FF1B483B829F4762C2C", False),
    ("dynamodb:DeleteItem", "invoice#84F982E1A10F4FF1B483B829F4762C2C", False),
    ("dynamodb:DeleteItem", "aside", False),
    ("dynamodb:BatchWriteItem", "invoice#1", False),
]
for action in WRITES:
    for pk in ("dedup#11e680110b1d812e", "resend#iugu", "resend#11e680110b1d812e", "quarantine#2026-11-23"):
        SWEEPER_PROBES.append((action, pk, False))


def resource_kind(value):
    """What a statement's Resource names of the events table: "table", "index/<name>", or None."""
    if value == {"Fn::GetAtt": ["EventsTable", "Arn"]} or value == {"Fn::GetAtt": "EventsTable.Arn"}:
        return TABLE
    if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
        m = re.fullmatch(r"\$\{EventsTable\.Arn\}/index/([A-Za-z0-9_.-]+)", value["Fn::Sub"])
        if m:
            return f"index/{m.group(1)}"
    return None


def like(pattern, value):
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), value) is not None


def condition_holds(conditions, keys):
    """IAM's evaluation of the conditions this template uses on dynamodb:LeadingKeys."""
    for operator, block in (conditions or {}).items():
        for key, wanted in (block or {}).items():
            wanted = as_list(wanted)
            if key != "dynamodb:LeadingKeys":
                return False  # a condition the evaluator does not know: not granted here
            if operator == "Null":
                if str(wanted[0]).lower() == "false" and not keys:
                    return False
                if str(wanted[0]).lower() == "true" and keys:
                    return False
                continue
            qualifier, _, op = operator.rpartition(":")
            tests = {
                "StringEquals": lambda v: v in wanted,
                "StringLike": lambda v: any(like(p, v) for p in wanted),
                "StringNotLike": lambda v: not any(like(p, v) for p in wanted),
            }
            if op not in tests:
                return False
            if qualifier == "ForAllValues":
                if not all(tests[op](v) for v in keys):
                    return False
            elif qualifier == "ForAnyValue":
                if not any(tests[op](v) for v in keys):
                    return False
            else:
                return False
    return True


def allows(template, role_id, action, resource, keys):
    """Whether `role_id` lets `action` on `resource` ("table" or "index/<name>") with these
    partition keys (every statement Allow; none of this template's Deny)."""
    granted, _ = role_statements(template, role_id)
    for _, statement in granted:
        if statement.get("Effect") != "Allow":
            continue
        if action not in as_list(statement.get("Action", [])):
            continue
        if resource not in {resource_kind(r) for r in as_list(statement.get("Resource", []))}:
            continue
        if condition_holds(statement.get("Condition"), keys):
            return True
    return False


def sweeper_problems(template):
    """Rule 4: the sweeper writes only its own partitions."""
    if SWEEPER_ROLE not in template.get("Resources", {}):
        return [f"Resources.{SWEEPER_ROLE}: missing"]
    found = []
    granted, _ = role_statements(template, SWEEPER_ROLE)
    for where, statement in granted:
        writes = [a for a in as_list(statement.get("Action", [])) if a in WRITES]
        if statement.get("Effect") == "Allow" and writes:
            keys = [k for block in (statement.get("Condition") or {}).values() for k in (block or {})]
            if "dynamodb:LeadingKeys" not in keys:
                found.append(f"{where}: {SWEEPER_ROLE} may {writes} on any partition (no dynamodb:LeadingKeys)")
    for action, pk, expected in SWEEPER_PROBES:
        if allows(template, SWEEPER_ROLE, action, TABLE, [pk]) != expected:
            verb = "may not" if expected else "may"
            found.append(f"Resources.{SWEEPER_ROLE}: the sweeper {verb} {action} at pk {pk!r}")
    return found


def call_keys(op, request):
    """The resource and partition keys of one DynamoDB call as the SDK sent it."""
    pk = lambda key: (key or {}).get("pk", {}).get("S")
    if op in ("PutItem",):
        return TABLE, [pk(request.get("Item"))]
    if op in ("UpdateItem", "DeleteItem", "GetItem"):
        return TABLE, [pk(request.get("Key"))]
    if op == "BatchGetItem":
        keys = [pk(k) for table in (request.get("RequestItems") or {}).values() for k in table.get("Keys", [])]
        return TABLE, keys
    if op == "Query":
        names = {v: k for k, v in (request.get("ExpressionAttributeNames") or {}).items()}
        resource = f"index/{request['IndexName']}" if request.get("IndexName") else TABLE
        if resource != TABLE:
            return resource, []
        m = re.search(rf"{re.escape(names.get('pk', 'pk'))}\s*=\s*(:\w+)", request.get("KeyConditionExpression", ""))
        value = (request.get("ExpressionAttributeValues") or {}).get(m.group(1), {}).get("S") if m else None
        return TABLE, [value]
    return TABLE, []


def check_calls(template, path):
    """Every DynamoDB call a sweeper made (a JSON list of {"op", "request"}) is allowed."""
    with open(path) as f:
        calls = json.load(f)
    refused = []
    for call in calls:
        resource, keys = call_keys(call["op"], call["request"])
        if not allows(template, SWEEPER_ROLE, f"dynamodb:{call['op']}", resource, keys):
            refused.append(f"dynamodb:{call['op']} on {resource} at {keys}")
    for r in refused:
        print(f"least privilege: SweeperRole refuses the sweeper's own call {r}", file=sys.stderr)
    if not refused:
        ops = sorted({c["op"] for c in calls})
        print(f"least privilege: SweeperRole allows every one of the sweeper's {len(calls)} calls ({', '.join(ops)})")
    return 1 if refused else 0


def self_test(template):
    """Each break must be caught; the template as it is must pass."""
    resources = template["Resources"]
    iugu = copy.deepcopy(resources["FunctionRole"]["Properties"]["Policies"][1]["PolicyDocument"]["Statement"][0]["Resource"])

    def ipag_reads_iugu(t):
        t["Resources"]["IpagFunctionRole"]["Properties"]["Policies"][1]["PolicyDocument"]["Statement"][0]["Resource"] = iugu

    def any_action(t):
        t["Resources"]["FunctionRole"]["Properties"]["Policies"][1]["PolicyDocument"]["Statement"][0]["Action"] = ["secretsmanager:GetSecretValue", "secretsmanager:ListSecrets"]

    def shared_policy_reads_a_secret(t):
        t["Resources"]["EventsWriterPolicy"]["Properties"]["PolicyDocument"]["Statement"].append(
            {"Effect": "Allow", "Action": SECRET_READ, "Resource": {"Ref": "IpagSecret"}}
        )

    def loose_parameter(t):
        t["Parameters"]["IuguSecretArn"]["AllowedPattern"] = ".*"

    def ipag_on_the_iugu_role(t):
        t["Resources"]["IpagFunction"]["Properties"]["Role"] = {"Fn::GetAtt": ["FunctionRole", "Arn"]}

    def one_secret_for_both(t):
        t["Resources"]["IpagFunction"]["Properties"]["Environment"]["Variables"]["IPAG_SECRET_ID"] = iugu
        t["Resources"]["IpagFunctionRole"]["Properties"]["Policies"][1]["PolicyDocument"]["Statement"][0]["Resource"] = iugu

    def any_secret(t):
        t["Resources"]["FunctionRole"]["Properties"]["Policies"][1]["PolicyDocument"]["Statement"][0]["Resource"] = "arn:aws:secretsmanager:us-east-1:123456789012:secret:*"

    def sweeper_statements(t):
        return t["Resources"][SWEEPER_ROLE]["Properties"]["Policies"][1]["PolicyDocument"]["Statement"]

    def sweeper_writes_anywhere(t):
        # The role as it was before issue 24: every write on the whole table.
        sweeper_statements(t).append({
            "Sid": "ReadAndMark", "Effect": "Allow",
            "Action": ["dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:DeleteItem"],
            "Resource": {"Fn::GetAtt": ["EventsTable", "Arn"]},
        })

    def sweeper_marks_markers(t):
        for s in sweeper_statements(t):
            if s.get("Sid") == "MarkEntities":
                s["Condition"]["ForAllValues:StringNotLike"]["dynamodb:LeadingKeys"] = ["quarantine#*", "aside", "sweeper"]

    def sweeper_puts_anything(t):
        for s in sweeper_statements(t):
            if s.get("Sid") == "OwnItems":
                s["Condition"]["ForAllValues:StringLike"] = {"dynamodb:LeadingKeys": ["*"]}
                del s["Condition"]["ForAllValues:StringEquals"]

    def topic_under_aws_managed_key(t):
        t["Resources"]["AlarmTopic"]["Properties"]["KmsMasterKeyId"] = "alias/aws/sns"

    def key_without_cloudwatch(t):
        statements = t["Resources"]["AlarmTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
        statements[:] = [s for s in statements if CLOUDWATCH not in as_list((s.get("Principal") or {}).get("Service", []))]

    def cloudwatch_for_any_account(t):
        for statement in t["Resources"]["AlarmTopicKey"]["Properties"]["KeyPolicy"]["Statement"]:
            if CLOUDWATCH in as_list((statement.get("Principal") or {}).get("Service", [])):
                statement.pop("Condition", None)

    failures = []
    clean = list(problems(template))
    if clean:
        failures.append(f"the template itself: {clean}")
    for breaks in (ipag_reads_iugu, any_action, shared_policy_reads_a_secret, loose_parameter,
                   ipag_on_the_iugu_role, one_secret_for_both, any_secret,
                   sweeper_writes_anywhere, sweeper_marks_markers, sweeper_puts_anything,
                   topic_under_aws_managed_key, key_without_cloudwatch, cloudwatch_for_any_account):
        broken = copy.deepcopy(template)
        breaks(broken)
        found = list(problems(broken))
        if not found:
            failures.append(f"{breaks.__name__}: not caught")
        else:
            print(f"least privilege self-test: {breaks.__name__}: caught ({found[0]})")
    for failure in failures:
        print(f"least privilege self-test: {failure}", file=sys.stderr)
    return 1 if failures else 0


def main():
    args = sys.argv[1:]
    testing = "--self-test" in args
    args = [a for a in args if a != "--self-test"]
    calls = None
    if "--sweeper-calls" in args:
        i = args.index("--sweeper-calls")
        calls = args[i + 1]
        del args[i:i + 2]
    path = args[0] if args else "template.yaml"
    template, errors = decode(path)
    if errors:
        for error in errors:
            print(error, file=sys.stderr)
        return 1
    if testing:
        return self_test(template)
    if calls is not None:
        return check_calls(template, calls)
    found = list(problems(template))
    for problem in found:
        print(f"least privilege: {problem}", file=sys.stderr)
    if not found:
        print(
            f"least privilege: {path}: no wildcard actions or resources, every function has its "
            "role, each role reads its own gateway's secret and nothing else, CloudWatch "
            "may publish to the alarm topic, and the sweeper writes only its own partitions"
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
