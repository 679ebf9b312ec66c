#!/usr/bin/env python3
"""The environment file for `sam local invoke` and `sam local start-api` against the local
server of scripts/local.sh (which writes it to .local/sam-env.json).

`--env-vars` overrides only the variables the template declares for a function
(Globals.Function.Environment.Variables and the function's own; SAM ignores any other:
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-cli-using-invoke.html),
so the file has one section per function, keyed by its logical id, each holding only
variables that function declares:

- those that point at a resource (EVENTS_TABLE, EVENTS_QUEUE_URL, each gateway's
  <NAME>_SECRET_ID): the local server's table, queue and secrets, from local_resources.py's
  output (SAM cannot resolve `!Ref EventsTable` and the like);
- AWS_ENDPOINT_URL: the local server, as a function in a container reaches it (--host:
  127.0.0.1 with `--docker-network host` on Linux, host.docker.internal with Docker Desktop);
- RUST_LOG (--rust-log), when given.

Every other declared variable keeps the template's value. Region and credentials are not
variables a template may declare: `sam local` passes its own (samconfig.toml sets the
region to the local server's, us-east-1; the local server takes any credentials).

Usage: .venv/bin/python scripts/sam_env.py --resources .local/resources.json
         [--template template.yaml] [--host 127.0.0.1] [--rust-log info] [--out FILE]
       .venv/bin/python scripts/sam_env.py --declared [--template template.yaml]
         (prints {logical id: {variable: template value or null}} for every function: what
         the template declares, a value pointing at a resource as null)
"""

import argparse
import json
import os
import sys
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import local_resources as lr  # noqa: E402

POINTS_AT_RESOURCES = ("EVENTS_TABLE", "EVENTS_QUEUE_URL")
SECRET_ID = "_SECRET_ID"  # each gateway's secret: <NAME>_SECRET_ID


def points_at_resource(name):
    """Whether the variable names a resource of the stack, which the local server stands for."""
    return name in POINTS_AT_RESOURCES or name.endswith(SECRET_ID)
ENDPOINT = "AWS_ENDPOINT_URL"


def declared(template):
    """{logical id: {variable: raw template value}} for every function."""
    globals_ = dict(
        (((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get("Variables")
        or {}
    )
    found = {}
    for lid, r in (template.get("Resources") or {}).items():
        if r.get("Type") != "AWS::Serverless::Function":
            continue
        own = (((r.get("Properties") or {}).get("Environment")) or {}).get("Variables") or {}
        variables = dict(globals_)
        variables.update(own)
        found[lid] = variables
    return found


def template_value(raw):
    """A declared variable's value as a deployment with the defaults would set it, or None when
    it points at a resource (or anything else SAM cannot resolve locally)."""
    try:
        value = lr.resolve(raw, {}, "us-east-1")
    except lr.Unresolved:
        return None
    if isinstance(value, (dict, list)):
        return None
    return lr.as_str_bool(value)


def with_host(url, host):
    """`url` with its host replaced (the port kept)."""
    parts = urlsplit(url)
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--template", default=os.path.join(lr.ROOT, "template.yaml"))
    ap.add_argument("--resources", help="local_resources.py's JSON output")
    ap.add_argument("--host", default="127.0.0.1", help="the local server's host, as a container sees it")
    ap.add_argument("--rust-log", help="the functions' RUST_LOG")
    ap.add_argument("--out", help="write the file here (default: standard output)")
    ap.add_argument("--declared", action="store_true", help="print what each function declares")
    args = ap.parse_args()

    template = lr.load_template(args.template)
    lr.TEMPLATE["Parameters"] = template.get("Parameters") or {}
    lr.TEMPLATE["Conditions"] = template.get("Conditions") or {}
    functions = declared(template)
    if args.declared:
        print(json.dumps({lid: {k: template_value(v) for k, v in vs.items()} for lid, vs in functions.items()}, indent=2))
        return 0
    if not args.resources:
        ap.error("--resources is required (or --declared)")
    with open(args.resources, encoding="utf-8") as f:
        resources = json.load(f)
    local = dict(resources["env"])
    local[ENDPOINT] = with_host(resources["endpoint"], args.host)
    if args.rust_log:
        local["RUST_LOG"] = args.rust_log

    out = {}
    for lid, variables in sorted(functions.items()):
        section = {k: local[k] for k in variables if k in local}
        missing = [k for k in variables if points_at_resource(k) and k not in section]
        if missing:
            sys.exit(f"sam_env: {lid} declares {missing}, which the local server has no value for")
        if ENDPOINT not in section:
            sys.exit(f"sam_env: {lid} does not declare {ENDPOINT}: --env-vars cannot point it at the local server")
        out[lid] = section
    text = json.dumps(out, indent=2) + "\n"
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
