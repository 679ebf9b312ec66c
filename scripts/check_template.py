"""Rules of template.yaml that only a real AWS account would otherwise enforce, checked
statically (scripts/test.sh runs this and its self-test). Each rule cites the AWS page it
comes from.

1. Concurrency: with the parameters' defaults no function reserves concurrency, and with
   ReservedConcurrency = N every one does (the sweeper included). New accounts start with a
   concurrency limit of 10 to 50, and a reservation must leave 100 unreserved, so any
   reservation in the defaults rolls a new account's first deploy back.
   https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
   https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
2. Metric math alarms reference at most 10 metrics (a hard limit).
   https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html
3. The API's access log group is named under /aws/vendedlogs/ (the account's CloudWatch Logs
   resource policy is limited to 5,120 characters; such groups need no entry in it).
   https://docs.aws.amazon.com/step-functions/latest/dg/bp-cwl.html
4. Parameters that the functions (or EventBridge) would refuse after a clean deploy have a
   pattern that refuses them at deploy time: DedupWindow (always shorter than the smallest
   RetentionDays), AllowedSourceIps (what the functions parse), SweepSchedule (a rate
   EventBridge takes, at most 9 minutes). Checked against scripts/parameter_cases.json, and
   DedupWindow exhaustively.
   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html
5. The table's indexes (TableIndexes): an update may create or delete one global secondary
   index, and a new index is unusable until ACTIVE (CloudFormation does not wait for it). The
   documented upgrades (docs/deploy.md, "Upgrading": from the version with by_received_day
   only, upgrade-1, all, without-legacy; from the version with by_pending, with-pending, all,
   without-legacy, or with-pending-without-legacy, without-legacy) change one index per step;
   the sweeper, which queries by_arrival, is off in every step where by_arrival is missing or
   being created; it reads by_pending (SWEEP_PENDING_INDEX) in every step that has it, and a
   step that drops by_pending comes after one in which the sweeper read it (what waited there
   was swept first); the default creates no by_pending; AttributeDefinitions name exactly the
   attributes the keys use.
   https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-dynamodb-table.html
   https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTable.html

Usage: .venv/bin/python scripts/check_template.py [template.yaml]
       .venv/bin/python scripts/check_template.py --self-test [template.yaml]
         (breaks the template in each of the ways above and fails unless each is caught)
"""

import copy
import json
import os
import re
import sys

from cfnlint.decode import decode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = os.path.join(ROOT, "scripts", "parameter_cases.json")

NOVALUE = object()
MAX_METRICS = 10
MAX_QUERIES = 20
VENDED = "/aws/vendedlogs/"
TABLE = "EventsTable"
SWEEPER = "SweeperFunction"
PENDING_INDEX = "by_pending"
ARRIVAL_INDEX = "by_arrival"
# The documented upgrades (docs/deploy.md, "Upgrading"): the indexes of the version a stack
# starts from, and the order of TableIndexes values it deploys with.
UPGRADE_PATHS = [
    ("the version before sequences (the `WebhookToken` version)", {"by_received_day"},
     ["upgrade-1", "all", "without-legacy"]),
    ("the version with by_pending", {"by_pending", "by_arrival", "by_received_day"},
     ["with-pending", "all", "without-legacy"]),
    ("the version with by_pending, by_received_day dropped", {"by_pending", "by_arrival"},
     ["with-pending-without-legacy", "without-legacy"]),
]
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Unresolved(Exception):
    pass


def as_list(value):
    return value if isinstance(value, list) else [value]


# --- resolving the template under a choice of parameter values -----------------------------


def parameter_values(template, overrides=None):
    values = {}
    for name, param in (template.get("Parameters") or {}).items():
        if "Default" in param:
            values[name] = param["Default"]
    values.update(overrides or {})
    return values


def condition(template, name, params):
    conditions = template.get("Conditions") or {}
    if name not in conditions:
        raise Unresolved(f"condition {name}")
    return bool(evaluate(template, conditions[name], params))


def evaluate(template, expr, params):
    if isinstance(expr, dict) and len(expr) == 1:
        (key, arg), = expr.items()
        if key == "Fn::Equals":
            a, b = (resolve(template, v, params) for v in arg)
            return str(a) == str(b)
        if key == "Fn::Not":
            return not evaluate(template, arg[0], params)
        if key == "Fn::And":
            return all(evaluate(template, v, params) for v in arg)
        if key == "Fn::Or":
            return any(evaluate(template, v, params) for v in arg)
        if key == "Condition":
            return condition(template, arg, params)
    raise Unresolved(repr(expr))


def resolve(template, value, params):
    """Parameters to their values, Fn::If decided, AWS::NoValue dropped; a resource's Ref or
    GetAtt becomes "<Ref Name>" / "<GetAtt Name.Attr>", a pseudo parameter "<AWS::...>"."""
    if isinstance(value, list):
        items = [resolve(template, v, params) for v in value]
        return [v for v in items if v is not NOVALUE]
    if isinstance(value, dict):
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                if arg == "AWS::NoValue":
                    return NOVALUE
                if arg in params:
                    return params[arg]
                return f"<Ref {arg}>"
            if key == "Fn::GetAtt":
                name = ".".join(arg) if isinstance(arg, list) else arg
                return f"<GetAtt {name}>"
            if key == "Fn::If":
                name, if_true, if_false = arg
                return resolve(template, if_true if condition(template, name, params) else if_false, params)
            if key == "Fn::Sub" and isinstance(arg, str):
                return re.sub(
                    r"\$\{([^}!][^}]*)\}",
                    lambda m: str(params.get(m.group(1), f"<{m.group(1)}>")),
                    arg,
                )
        items = {k: resolve(template, v, params) for k, v in value.items()}
        return {k: v for k, v in items.items() if v is not NOVALUE}
    return value


def global_function_property(template, name):
    return (((template.get("Globals") or {}).get("Function")) or {}).get(name)


def functions(template):
    return {
        lid: r
        for lid, r in (template.get("Resources") or {}).items()
        if r.get("Type") == "AWS::Serverless::Function"
    }


# --- 1. concurrency --------------------------------------------------------------------------


def reservations(template, params):
    found = {}
    for lid, fn in functions(template).items():
        props = fn.get("Properties") or {}
        raw = props.get("ReservedConcurrentExecutions", global_function_property(template, "ReservedConcurrentExecutions"))
        value = resolve(template, raw, params) if raw is not None else NOVALUE
        found[lid] = 0 if value is NOVALUE or value is None else int(value)
    return found


def concurrency_problems(template):
    defaults = parameter_values(template)
    reserved = reservations(template, defaults)
    taken = {lid: n for lid, n in reserved.items() if n}
    if taken:
        yield (
            f"with the parameters' defaults, {sorted(taken)} reserve {sum(taken.values())} "
            "concurrent executions: a new account (a concurrency limit of 10 to 50, 100 of which "
            "must stay unreserved) cannot deploy it "
            "(https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html, "
            "https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html)"
        )
    if "ReservedConcurrency" in defaults:
        reserved = reservations(template, parameter_values(template, {"ReservedConcurrency": 5}))
        unreserved = sorted(lid for lid, n in reserved.items() if not n)
        if unreserved:
            yield f"with ReservedConcurrency=5, {unreserved} reserve nothing: every function follows the parameter"


# --- 2. metric math alarms -------------------------------------------------------------------


def metric_math_problems(template):
    for lid, r in (template.get("Resources") or {}).items():
        if r.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        queries = (r.get("Properties") or {}).get("Metrics") or []
        metrics = [q for q in queries if isinstance(q, dict) and "MetricStat" in q]
        if len(metrics) > MAX_METRICS or len(queries) > MAX_QUERIES:
            yield (
                f"Resources.{lid}: {len(metrics)} metrics in one metric math alarm; CloudWatch takes at "
                f"most {MAX_METRICS} (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html)"
            )


# --- 3. the access log group -----------------------------------------------------------------


def access_log_problems(template):
    resources = template.get("Resources") or {}
    params = parameter_values(template, {"AWS::StackName": "stack"})
    for lid, r in resources.items():
        if r.get("Type") not in ("AWS::Serverless::HttpApi", "AWS::Serverless::Api"):
            continue
        settings = (r.get("Properties") or {}).get("AccessLogSettings") or {}
        destination = settings.get("DestinationArn")
        target = (destination or {}).get("Fn::GetAtt") if isinstance(destination, dict) else None
        name = (target[0] if isinstance(target, list) else str(target).split(".")[0]) if target else None
        group = resources.get(name or "", {})
        if group.get("Type") != "AWS::Logs::LogGroup":
            yield f"Resources.{lid}: the access log destination is not a log group of this template"
            continue
        group_name = resolve(template, (group.get("Properties") or {}).get("LogGroupName"), params)
        if not (isinstance(group_name, str) and group_name.startswith(VENDED)):
            yield (
                f"Resources.{name}: API {lid}'s access log group is named {group_name!r}, not under "
                f"{VENDED}: each group outside it takes room in the account's 5,120-character "
                "CloudWatch Logs resource policy (https://docs.aws.amazon.com/step-functions/latest/dg/bp-cwl.html)"
            )


# --- 4. parameters that would stop the functions -------------------------------------------


def admitted(param, value):
    pattern = param.get("AllowedPattern")
    if isinstance(pattern, str) and re.fullmatch(pattern, value) is None:
        return False
    values = param.get("AllowedValues")
    if values is not None and value not in [str(v) for v in values]:
        return False
    return True


def window_seconds(value):
    """The function's reading of a DEDUP_WINDOW (webhook_core::delivery::parse_duration),
    or None for a value it refuses."""
    m = re.fullmatch(r"(-?[0-9]+)([smhd])", value)
    if not m:
        return None
    return int(m.group(1)) * UNIT_SECONDS[m.group(2)]


def parameter_problems(template):
    params = template.get("Parameters") or {}
    with open(CASES, encoding="utf-8") as f:
        cases = json.load(f)
    for name in ("DedupWindow", "AllowedSourceIps", "SweepSchedule"):
        param = params.get(name)
        if param is None:
            yield f"Parameters.{name}: missing"
            continue
        if "AllowedPattern" not in param and "AllowedValues" not in param:
            yield f"Parameters.{name}: no AllowedPattern: a value the functions refuse deploys, then stops them"
            continue
        for value in cases[name]["admit"]:
            if not admitted(param, value):
                yield f"Parameters.{name}: refuses {value!r}, which must be admitted (scripts/parameter_cases.json)"
        for value in cases[name]["refuse"]:
            if admitted(param, value):
                yield f"Parameters.{name}: admits {value!r}, which must be refused (scripts/parameter_cases.json)"
    # DedupWindow, exhaustively: admitted exactly when the functions take it with the smallest
    # RetentionDays the template allows (the window must be shorter than the retention).
    window, retention = params.get("DedupWindow"), params.get("RetentionDays") or {}
    if window is None or "AllowedPattern" not in window:
        return
    min_days = int(retention.get("MinValue", 1))
    if min_days != cases["min_retention_days"]:
        yield (f"Parameters.RetentionDays: MinValue {min_days}, scripts/parameter_cases.json says "
               f"{cases['min_retention_days']}: update both")
    limit = min_days * 86400
    wrong = []
    for unit, seconds in UNIT_SECONDS.items():
        for n in range(0, limit // seconds + 3):
            value = f"{n}{unit}"
            valid = (window_seconds(value) or 0) > 0 and window_seconds(value) < limit
            if admitted(window, value) != valid:
                wrong.append(value)
    if wrong:
        yield (
            f"Parameters.DedupWindow: its pattern disagrees with the functions' rule (a window "
            f"shorter than the smallest RetentionDays, {min_days} days) on {wrong[:5]}"
            f"{' and more' if len(wrong) > 5 else ''}"
        )


# --- 5. the table's indexes and the staged upgrade ------------------------------------------


def table_state(template, indexes):
    """(index names, attribute definitions, key attributes, sweeper schedule on, the sweeper's
    SWEEP_PENDING_INDEX) with TableIndexes = `indexes`."""
    params = parameter_values(template, {"TableIndexes": indexes})
    props = resolve(template, (template["Resources"][TABLE].get("Properties") or {}), params)
    gsis = props.get("GlobalSecondaryIndexes") or []
    names = {g["IndexName"] for g in gsis}
    keys = {k["AttributeName"] for k in props.get("KeySchema") or []}
    for g in gsis:
        keys |= {k["AttributeName"] for k in g.get("KeySchema") or []}
    defined = {a["AttributeName"] for a in props.get("AttributeDefinitions") or []}
    sweeper = resolve(template, template["Resources"][SWEEPER].get("Properties") or {}, params)
    states = [
        (e.get("Properties") or {}).get("State", "ENABLED")
        for e in (sweeper.get("Events") or {}).values()
        if e.get("Type") == "Schedule"
    ]
    enabled = any(s == "ENABLED" for s in states)
    reads_pending = ((sweeper.get("Environment") or {}).get("Variables") or {}).get("SWEEP_PENDING_INDEX") or ""
    return names, defined, keys, enabled, reads_pending


def index_problems(template):
    param = (template.get("Parameters") or {}).get("TableIndexes")
    if param is None:
        yield "Parameters.TableIndexes: missing (the staged upgrades of docs/deploy.md need it)"
        return
    allowed = [str(x) for x in param.get("AllowedValues") or []]
    wanted = sorted({v for _, _, path in UPGRADE_PATHS for v in path})
    missing = [v for v in wanted if v not in allowed]
    if missing:
        yield f"Parameters.TableIndexes: no value {missing}"
        return
    if str(param.get("Default")) != "all":
        yield "Parameters.TableIndexes: the default must be `all` (a stack deployed with defaults keeps every index it needs)"
    default_names = table_state(template, "all")[0]
    if PENDING_INDEX in default_names:
        yield f"TableIndexes all: the default creates {PENDING_INDEX}, which nothing writes any more"
    for origin, start, path in UPGRADE_PATHS:
        before, step_name, pending_read = set(start), origin, False
        for value in path:
            names, defined, keys, sweeper_on, reads_pending = table_state(template, value)
            changed = names ^ before
            if len(changed) > 1:
                yield (
                    f"TableIndexes {value}: {sorted(changed)} change in one update after {step_name}; "
                    "CloudFormation creates or deletes one global secondary index per update "
                    "(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-dynamodb-table.html)"
                )
            if defined != keys:
                yield (
                    f"TableIndexes {value}: AttributeDefinitions {sorted(defined)} are not the key "
                    f"attributes {sorted(keys)} (DynamoDB refuses a definition no key uses)"
                )
            arrival_usable = ARRIVAL_INDEX in names and ARRIVAL_INDEX in before
            if sweeper_on and not arrival_usable:
                yield (
                    f"TableIndexes {value}: the sweeper runs while {ARRIVAL_INDEX} is "
                    f"{'missing' if ARRIVAL_INDEX not in names else 'being created'}: it queries an "
                    "index that is not ACTIVE and fails every run"
                )
            if not sweeper_on and value in ("all", "without-legacy"):
                yield f"TableIndexes {value}: the sweeper's schedule is off outside the upgrade steps"
            if PENDING_INDEX in before and PENDING_INDEX not in names and not pending_read:
                yield (
                    f"TableIndexes {value}: {PENDING_INDEX} is dropped after {step_name}, in which the "
                    "sweeper did not read it: what waited there would never be found"
                )
            has_pending = PENDING_INDEX in names and PENDING_INDEX in before
            if has_pending and reads_pending != PENDING_INDEX:
                yield f"TableIndexes {value}: the table has {PENDING_INDEX} and the sweeper does not read it (SWEEP_PENDING_INDEX)"
            if reads_pending and PENDING_INDEX not in names:
                yield f"TableIndexes {value}: the sweeper reads {reads_pending}, which the table does not have"
            pending_read = bool(reads_pending) and sweeper_on and has_pending
            before, step_name = names, f"TableIndexes {value}"


def problems(template):
    yield from concurrency_problems(template)
    yield from metric_math_problems(template)
    yield from access_log_problems(template)
    yield from parameter_problems(template)
    yield from index_problems(template)


# --- self-test -------------------------------------------------------------------------------


def self_test(template):
    def reservation_by_default(t):
        t["Parameters"]["ReservedConcurrency"]["Default"] = 10

    def sweeper_always_reserves(t):
        t["Resources"][SWEEPER]["Properties"]["ReservedConcurrentExecutions"] = 1

    def eleven_metrics_in_one_alarm(t):
        metrics = t["Resources"]["FunctionErrorsAlarm"]["Properties"]["Metrics"]
        extra = copy.deepcopy(metrics[-1])
        extra["Id"] = "extra1"
        metrics.append(extra)
        extra = copy.deepcopy(metrics[-1])
        extra["Id"] = "extra2"
        metrics.append(extra)

    def access_log_outside_vendedlogs(t):
        t["Resources"]["AccessLogGroup"]["Properties"]["LogGroupName"] = {"Fn::Sub": "/aws/apigateway/${AWS::StackName}-access"}

    def window_of_days(t):
        t["Parameters"]["DedupWindow"]["AllowedPattern"] = "^[1-9][0-9]{0,5}[smhd]$"

    def window_off_by_one(t):
        t["Parameters"]["DedupWindow"]["AllowedPattern"] = t["Parameters"]["DedupWindow"]["AllowedPattern"].replace("4[0-7]", "4[0-8]")

    def any_source_list(t):
        del t["Parameters"]["AllowedSourceIps"]["AllowedPattern"]

    def ipv6_in_the_list(t):
        t["Parameters"]["AllowedSourceIps"]["AllowedPattern"] = "^[0-9a-fA-F:./, ]*$"

    def any_schedule(t):
        t["Parameters"]["SweepSchedule"]["AllowedPattern"] = "^rate\\(.*\\)$"

    def two_indexes_in_one_step(t):
        # upgrade-1 would drop by_received_day and add by_arrival in one update.
        t["Conditions"]["HasLegacyDayIndex"] = {"Fn::Equals": ["a", "b"]}

    def sweeper_on_while_the_index_is_built(t):
        t["Conditions"]["SweeperEnabled"] = {"Fn::Equals": ["a", "a"]}

    def pending_dropped_unread(t):
        variables = t["Resources"][SWEEPER]["Properties"]["Environment"]["Variables"]
        variables["SWEEP_PENDING_INDEX"] = ""

    def pending_kept_by_default(t):
        t["Conditions"]["HasPendingIndex"] = {"Fn::Not": [{"Fn::Equals": [{"Ref": "TableIndexes"}, "upgrade-1"]}]}

    def unused_attribute_definition(t):
        t["Resources"][TABLE]["Properties"]["AttributeDefinitions"].append({"AttributeName": "status", "AttributeType": "S"})

    failures = []
    clean = list(problems(template))
    if clean:
        failures.append(f"the template itself: {clean}")
    for breaks in (reservation_by_default, sweeper_always_reserves, eleven_metrics_in_one_alarm,
                   access_log_outside_vendedlogs, window_of_days, window_off_by_one,
                   any_source_list, ipv6_in_the_list, any_schedule, two_indexes_in_one_step,
                   sweeper_on_while_the_index_is_built, pending_dropped_unread,
                   pending_kept_by_default, unused_attribute_definition):
        broken = copy.deepcopy(template)
        breaks(broken)
        found = list(problems(broken))
        if not found:
            failures.append(f"{breaks.__name__}: not caught")
        else:
            print(f"template self-test: {breaks.__name__}: caught ({found[0]})")
    for failure in failures:
        print(f"template self-test: {failure}", file=sys.stderr)
    return 1 if failures else 0


def main():
    args = sys.argv[1:]
    testing = "--self-test" in args
    args = [a for a in args if a != "--self-test"]
    path = args[0] if args else os.path.join(ROOT, "template.yaml")
    template, errors = decode(path)
    if errors:
        for error in errors:
            print(error, file=sys.stderr)
        return 1
    if testing:
        return self_test(template)
    found = list(problems(template))
    for problem in found:
        print(f"template: {problem}", file=sys.stderr)
    if not found:
        print(
            f"template: {path}: no reservation by default, metric math alarms within "
            f"{MAX_METRICS} metrics, access logs under {VENDED}, parameter patterns that refuse "
            "what the functions would, one index change per upgrade step, by_pending swept before it is dropped"
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
