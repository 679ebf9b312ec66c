#!/usr/bin/env python3
"""Generate API Gateway test events for `sam local invoke` from the iugu and iPag fixture bodies.

Reads shared/gateways/tests/fixtures/iugu/:
  - raw/<event>.body           iugu's documented samples (used when no repair exists)
  - repaired/<event>.body      the same samples with their documentation defects fixed
  - constructed/<event>.body   bodies built from iugu's field lists (events without a sample)

Writes (all paths relative to the repository root):
  events/iugu/<event>.json                           REST API (payload v1) proxy events
  events/iugu/base64/invoice.status_changed.json     same, body base64 + isBase64Encoded
  events/iugu/http-api-v2/<event>.json               HTTP API payload v2 events (what the
                                                     deployed API sends), one per event
  events/iugu/http-api-v2/basic-auth/invoice.status_changed.json
                                                     the token in `Authorization: Basic ...`
                                                     (as `recover register` has iugu send it)
  events/iugu/http-api-v2/bad/*.json                 v2 events the handlers must refuse
  events/iugu/bad/*.json                             REST (v1) events the handlers must refuse
  events/ipag/<Event>.json                           HTTP API payload v2 events, one per iPag
                                                     event (from shared/gateways/tests/fixtures/ipag/)

Standard library only. The output is deterministic (fixed ids and timestamps), so
re-running it on unchanged fixtures produces no diff.

    python3 scripts/gen_events.py            # (re)generate
    python3 scripts/gen_events.py --check    # exit 1 if events/ is out of date
"""

import base64
import json
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "shared" / "gateways" / "tests" / "fixtures" / "iugu"
OUT = ROOT / "events" / "iugu"
IPAG_FIXTURES = ROOT / "shared" / "gateways" / "tests" / "fixtures" / "ipag"
IPAG_OUT = ROOT / "events" / "ipag"
IPAG_ROUTE = "/ipag/events"
JSON = "application/json"
# Not iPag's address: iPag documents none (third parties allow-list 52.73.203.226 and others).
IPAG_SOURCE_IP = "52.73.203.226"

# Must equal the token in the gateway's secret when invoking (scripts/local.sh puts it in both
# local secrets).
TOKEN = "local-dev-token-0123456789"
# iugu's documented webhook egress address.
SOURCE_IP = "54.207.210.151"
FORM = "application/x-www-form-urlencoded"

API_ID = "abcdef1234"
REGION = "sa-east-1"
HOST = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
ACCOUNT_ID = "123456789012"
STAGE_V1 = "Prod"
# Fixed request time, so regenerating is stable: 2024-06-17T12:00:00Z.
EPOCH_MS = 1718625600000
TIME_V1 = "17/Jun/2024:12:00:00 +0000"

# Event-name prefix -> route. Mirrors webhook_iugu::event::Family::of_event.
ROUTES = {
    "invoice": "/iugu/invoices",
    "subscription": "/iugu/subscriptions",
    "customer_payment_method": "/iugu/payment-methods",
    "transfer": "/iugu/transfers",
    "transfer_request": "/iugu/transfers",
    "withdraw_request": "/iugu/transfers",
    "deposit": "/iugu/deposits",
    "advancement_request": "/iugu/advancements",
    "payment_request": "/iugu/payment-requests",
    # No family route of their own: the all-events route takes them.
    "automatic_pix": "/iugu/events",
    "referrals": "/iugu/events",
}


def route_of(event_name):
    prefix = event_name.split(".", 1)[0]
    try:
        return ROUTES[prefix]
    except KeyError:
        sys.exit(f"gen_events: no route for event family {prefix!r} ({event_name})")


def request_id(label):
    """A stable, unique-looking request id derived from the file label."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "iugu-webhook-events/" + label))


def read_body(path):
    # The fixtures are single-line ASCII bodies; keep them byte-for-byte (no strip of
    # inner whitespace), only drop a trailing newline an editor may have added.
    text = path.read_bytes().decode("utf-8")
    return text[:-1] if text.endswith("\n") else text


def rest_v1_event(label, route, body, *, token=TOKEN, content_type=FORM, b64=False):
    """An API Gateway REST API (payload format 1.0) Lambda proxy integration event."""
    headers = {
        "Content-Type": content_type,
        "Host": HOST,
        "X-Forwarded-For": SOURCE_IP,
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    }
    if token is None:
        query, multi_query = None, None
    else:
        query, multi_query = {"token": token}, {"token": [token]}
    if b64:
        body = base64.b64encode(body.encode("utf-8")).decode("ascii")
    rid = request_id(label)
    return {
        "resource": route,
        "path": route,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "resourceId": "a1b2c3",
            "resourcePath": route,
            "httpMethod": "POST",
            "path": f"/{STAGE_V1}{route}",
            "stage": STAGE_V1,
            "domainName": HOST,
            "domainPrefix": API_ID,
            "requestId": rid,
            "extendedRequestId": rid,
            "protocol": "HTTP/1.1",
            "requestTime": TIME_V1,
            "requestTimeEpoch": EPOCH_MS,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "apiKey": None,
                "apiKeyId": None,
                "accessKey": None,
                "sourceIp": SOURCE_IP,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": None,
                "user": None,
            },
        },
        "body": body,
        "isBase64Encoded": b64,
    }


def http_v2_event(label, route, body, *, token=TOKEN, content_type=FORM, authorization=None):
    """An API Gateway HTTP API (payload format 2.0) event. HTTP APIs hand
    application/x-www-form-urlencoded bodies to Lambda base64-encoded, so this
    sample does too (a JSON body passes as text). `token` goes in the query string (None:
    no query string), `authorization` in the Authorization header."""
    raw = body.encode("utf-8")
    rid = request_id(label)
    headers = {
        "content-length": str(len(raw)),
        "content-type": content_type,
        "host": HOST,
        "x-forwarded-for": SOURCE_IP,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    if authorization is not None:
        headers["authorization"] = authorization
    text = content_type != FORM
    event = {
        "version": "2.0",
        "routeKey": f"POST {route}",
        "rawPath": route,
        "rawQueryString": f"token={token}" if token is not None else "",
        "headers": headers,
    }
    if token is not None:
        event["queryStringParameters"] = {"token": token}
    event.update({
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": HOST,
            "domainPrefix": API_ID,
            "http": {
                "method": "POST",
                "path": route,
                "protocol": "HTTP/1.1",
                "sourceIp": SOURCE_IP,
                "userAgent": "",
            },
            "requestId": rid,
            "routeKey": f"POST {route}",
            "stage": "$default",
            "time": TIME_V1,
            "timeEpoch": EPOCH_MS,
        },
        "body": body if text else base64.b64encode(raw).decode("ascii"),
        "isBase64Encoded": not text,
    })
    return event


def ipag_v2_event(label, event_name, body):
    """An HTTP API payload v2 event as iPag's webhook arrives: POST, JSON body (HTTP APIs pass
    application/json through as text, not base64), the event name in X-Ipag-Event."""
    rid = request_id("ipag/" + label)
    return {
        "version": "2.0",
        "routeKey": f"POST {IPAG_ROUTE}",
        "rawPath": IPAG_ROUTE,
        "rawQueryString": f"token={TOKEN}",
        "headers": {
            "content-length": str(len(body.encode("utf-8"))),
            "content-type": JSON,
            "host": HOST,
            "user-agent": "iPag-Webhook",
            "x-forwarded-for": IPAG_SOURCE_IP,
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
            "x-ipag-event": event_name,
        },
        "queryStringParameters": {"token": TOKEN},
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": HOST,
            "domainPrefix": API_ID,
            "http": {
                "method": "POST",
                "path": IPAG_ROUTE,
                "protocol": "HTTP/1.1",
                "sourceIp": IPAG_SOURCE_IP,
                "userAgent": "iPag-Webhook",
            },
            "requestId": rid,
            "routeKey": f"POST {IPAG_ROUTE}",
            "stage": "$default",
            "time": TIME_V1,
            "timeEpoch": EPOCH_MS,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def build_ipag():
    """relative path (under events/ipag) -> file content: one event per fixture body."""
    files = {}
    for path in sorted(IPAG_FIXTURES.glob("*.json")):
        name = path.name[: -len(".json")]
        # Bodies are kept byte-for-byte: the de-duplication key and the signature see them so.
        body = path.read_bytes().decode("utf-8")
        files[f"{name}.json"] = render(ipag_v2_event(name, name, body))
    if len(files) != 16:
        sys.exit(f"gen_events: expected 16 iPag fixtures, found {len(files)} in {IPAG_FIXTURES}")
    return files


def collect_bodies():
    """event name -> (source label, body). repaired/ wins over raw/; constructed/ adds."""
    bodies = {}
    for path in sorted((FIXTURES / "raw").glob("*.body")):
        name = path.name[: -len(".body")]
        repaired = FIXTURES / "repaired" / path.name
        src = repaired if repaired.exists() else path
        bodies[name] = (src.parent.name, read_body(src))
    for path in sorted((FIXTURES / "repaired").glob("*.body")):
        name = path.name[: -len(".body")]
        if name not in bodies:
            bodies[name] = ("repaired", read_body(path))
    for path in sorted((FIXTURES / "constructed").glob("*.body")):
        name = path.name[: -len(".body")]
        if name in bodies:
            sys.exit(f"gen_events: {name} is both a sample and a constructed body")
        bodies[name] = ("constructed", read_body(path))
    if not bodies:
        sys.exit(f"gen_events: no fixtures found under {FIXTURES}")
    return bodies


def render(obj):
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def build():
    """relative path (under events/iugu) -> file content."""
    files = {}
    bodies = collect_bodies()
    for name, (_src, body) in bodies.items():
        files[f"{name}.json"] = render(rest_v1_event(name, route_of(name), body))

    sample = "invoice.status_changed"
    _, body = bodies[sample]
    files[f"base64/{sample}.json"] = render(
        rest_v1_event(f"base64/{sample}", route_of(sample), body, b64=True)
    )
    for name, (_src, event_body) in bodies.items():
        files[f"http-api-v2/{name}.json"] = render(
            http_v2_event(f"http-api-v2/{name}", route_of(name), event_body)
        )
    basic = "Basic " + base64.b64encode(TOKEN.encode("ascii")).decode("ascii")
    files[f"http-api-v2/basic-auth/{sample}.json"] = render(
        http_v2_event(f"http-api-v2/basic-auth/{sample}", route_of(sample), body, token=None, authorization=basic)
    )

    invoices = route_of(sample)
    broken = read_body(FIXTURES / "raw" / "customer_payment_method.new.body")
    not_form = json.dumps(
        {
            "event": sample,
            "data": {
                "id": "84F982E1A10F4FF1B483B829F4762C2C",
                "status": "paid",
                "account_id": "E6495D15290D47D3950C2A723D07A24E",
            },
        }
    )
    bad = {
        "wrong-token": rest_v1_event("bad/wrong-token", invoices, body, token="wrong"),
        "no-token": rest_v1_event("bad/no-token", invoices, body, token=None),
        "broken-body": rest_v1_event(
            "bad/broken-body", route_of("customer_payment_method.new"), broken
        ),
        "wrong-family": rest_v1_event(
            "bad/wrong-family", route_of("subscription.created"), body
        ),
        "empty-body": rest_v1_event("bad/empty-body", invoices, ""),
        "not-form": rest_v1_event(
            "bad/not-form", invoices, not_form, content_type="application/json"
        ),
    }
    for label, event in bad.items():
        files[f"bad/{label}.json"] = render(event)
    bad_v2 = {
        "wrong-token": http_v2_event("http-api-v2/bad/wrong-token", invoices, body, token="wrong"),
        "no-token": http_v2_event("http-api-v2/bad/no-token", invoices, body, token=None),
        "broken-body": http_v2_event(
            "http-api-v2/bad/broken-body", route_of("customer_payment_method.new"), broken
        ),
        "wrong-family": http_v2_event(
            "http-api-v2/bad/wrong-family", route_of("subscription.created"), body
        ),
        "empty-body": http_v2_event("http-api-v2/bad/empty-body", invoices, ""),
        "not-form": http_v2_event(
            "http-api-v2/bad/not-form", invoices, not_form, content_type="application/json"
        ),
    }
    for label, event in bad_v2.items():
        files[f"http-api-v2/bad/{label}.json"] = render(event)
    return files


def main(argv):
    check = "--check" in argv[1:]
    status = 0
    for out, files in ((OUT, build()), (IPAG_OUT, build_ipag())):
        status |= sync(out, files, check)
    return status


def sync(OUT, files, check):
    """Writes (or with `check`, compares) `files` under `OUT`."""
    stale = []
    for rel, content in sorted(files.items()):
        path = OUT / rel
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        stale.append(rel)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    # Files in events/iugu that this script no longer produces.
    orphans = sorted(
        str(p.relative_to(OUT))
        for p in OUT.rglob("*.json")
        if str(p.relative_to(OUT)) not in files
    ) if OUT.exists() else []
    if check:
        for rel in stale:
            print(f"out of date: {OUT.relative_to(ROOT)}/{rel}")
        for rel in orphans:
            print(f"not generated (delete it?): {OUT.relative_to(ROOT)}/{rel}")
        return 1 if stale or orphans else 0
    for rel in orphans:
        print(f"warning: {OUT.relative_to(ROOT)}/{rel} is not generated by this script")
    print(f"gen_events: {len(files)} events, {len(stale)} written, in {OUT.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
