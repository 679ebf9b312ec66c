"""Least privilege in template.yaml: no `*` in any IAM action or resource, and no function
left to SAM's generated role (which brings AWSLambdaBasicExecutionRole, logs on Resource "*").

Usage: .venv/bin/python scripts/check_iam.py [template.yaml]   (exit 1 and a list when not)
It reads the template with cfn-lint's loader, which understands !Ref, !GetAtt and !Sub.
"""

import sys

from cfnlint.decode import decode


def as_list(value):
    return value if isinstance(value, list) else [value]


def wildcard(value):
    """True for "*" and for an action such as "s3:*" (a whole service)."""
    return isinstance(value, str) and (value == "*" or value.endswith(":*"))


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


def problems(template):
    resources = template.get("Resources", {})
    for where, statement in statements(resources, "Resources"):
        for field in ("Action", "NotAction", "Resource", "NotResource"):
            for value in as_list(statement.get(field, [])):
                if wildcard(value):
                    yield f"{where}: {field} {value!r}"
        if "NotAction" in statement or "NotResource" in statement:
            yield f"{where}: NotAction/NotResource grants everything else"
    for name, resource in resources.items():
        if resource.get("Type") == "AWS::Serverless::Function":
            props = resource.get("Properties", {})
            if "Role" not in props:
                yield f"Resources.{name}: no explicit Role (SAM's role adds logs on '*')"
            if "Policies" in props:
                yield f"Resources.{name}: Policies (use the explicit role)"


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "template.yaml"
    template, errors = decode(path)
    if errors:
        for error in errors:
            print(error, file=sys.stderr)
        return 1
    found = list(problems(template))
    for problem in found:
        print(f"least privilege: {problem}", file=sys.stderr)
    if not found:
        print(f"least privilege: {path}: no wildcard actions or resources, every function has its role")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
