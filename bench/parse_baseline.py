#!/usr/bin/env python3
"""Python baseline for the Rust hot path (shared/gateways/examples/parse_loop.rs).

Does what a straightforward Python receiver would do with one iugu notification body:
parse the form (urllib.parse.parse_qsl), nest the Rails-style bracketed names into dicts,
check the event name, find the entity id, hash a canonical JSON of the fields (SHA-256) as
the de-duplication key, build the envelope dict, and type the documented fields as the Rust
loop does with `envelope.typed()` (for invoice events, the fields of
`webhook_iugu::typed::InvoiceView`: statuses and payment method as enums with an unknown case,
timestamps, dates, integers and booleans parsed, a value that does not parse kept raw).
Serialising the envelope for the queue is left out on both sides: the measure is
parse + type + key + envelope.

usage: parse_baseline.py [BODY_FILE] [ITERATIONS]   (prints "ns/body N" last)
"""

import enum
import hashlib
import json
import re
import sys
import time
from datetime import date, datetime
from pathlib import Path
from urllib.parse import parse_qsl

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "shared/gateways/tests/fixtures/iugu/raw/invoice.status_changed.body"
RECEIVED_AT = "1970-01-01T00:00:00Z"
DELIVERY_FIELDS = ("retry_count",)
SEGMENT = re.compile(r"\[([^\[\]]*)\]")
FAMILIES = {
    "invoice": "invoices",
    "subscription": "subscriptions",
    "customer_payment_method": "payment-methods",
    "transfer": "transfers",
    "transfer_request": "transfers",
    "deposit": "deposits",
    "advancement_request": "advancements",
    "payment_request": "payment-requests",
}
# (entity type, id field) per family, as shared/iugu/src/entity.rs.
ENTITY = {
    "invoices": ("invoice", "id"),
    "subscriptions": ("subscription", "id"),
    "payment-methods": ("customer_payment_method", "customer_payment_method_id"),
    "deposits": ("deposit", "deposit_id"),
    "payment-requests": ("payment_request", "payment_request_id"),
}


InvoiceStatus = enum.Enum("InvoiceStatus", [(s, s) for s in (
    "pending", "paid", "canceled", "partially_paid", "externally_paid", "refunded",
    "expired", "authorized", "in_protest", "chargeback")])
BankSlipStatus = enum.Enum("BankSlipStatus", [(s, s) for s in (
    "processing", "registered", "canceled", "none", "error")])
PaymentMethod = enum.Enum("PaymentMethod", [(s, s) for s in (
    "iugu_bank_slip", "iugu_credit_card", "iugu_pix")])


def known(kind):
    """A status parser: the enum member, or ("unknown", raw) as the Rust Unknown(raw)."""
    members = {m.value: m for m in kind}
    return lambda raw: members.get(raw) or ("unknown", raw)


def lenient(parse):
    """A typed parser that keeps the raw string when the value does not parse."""
    def typed(raw):
        try:
            return parse(raw)
        except ValueError:
            return raw
    return typed


def parse_bool(raw):
    if raw in ("true", "false"):
        return raw == "true"
    raise ValueError(raw)


# field -> (view field, parser), as shared/iugu/src/typed.rs `invoice`.
INVOICE_FIELDS = {
    "id": ("id", str),
    "account_id": ("account_id", str),
    "status": ("status", known(InvoiceStatus)),
    "payment_method": ("payment_method", known(PaymentMethod)),
    "subscription_id": ("subscription_id", str),
    "payment_booklet_id": ("payment_booklet_id", str),
    "order_id": ("order_id", str),
    "external_reference": ("external_reference", str),
    "async_charged": ("async_charged", lenient(parse_bool)),
    "paid_at": ("paid_at", lenient(datetime.fromisoformat)),
    "paid_cents": ("paid_cents", lenient(int)),
    "amount_cents": ("amount_cents", lenient(int)),
    "total_cents": ("total_cents", lenient(int)),
    "installment": ("installment", lenient(int)),
    "number_of_installments": ("number_of_installments", lenient(int)),
    "occurrence_date": ("occurrence_date", lenient(date.fromisoformat)),
    "pix_end_to_end_id": ("pix_end_to_end_id", str),
    "recipient_account_id": ("recipient_account_id", str),
    "lr": ("lr", str),
    "action": ("action", str),
}
SLIP_STATUS = ("bank_slip_status", known(BankSlipStatus))


def typed_invoice(event, data):
    slip = event == "invoice.bank_slip_status"
    view = {}
    for name, raw in data.items():
        if not isinstance(raw, str):
            continue
        field = SLIP_STATUS if (slip and name == "status") else INVOICE_FIELDS.get(name)
        if field is not None:
            view[field[0]] = field[1](raw)
    return view


def split_key(name):
    head, bracket, rest = name.partition("[")
    if not head or "]" in head:
        raise ValueError(f"malformed key {name!r}")
    path = [head]
    if bracket:
        rest = "[" + rest
        segments = SEGMENT.findall(rest)
        if "".join(f"[{s}]" for s in segments) != rest:
            raise ValueError(f"malformed key {name!r}")
        path.extend(segments)
    if len(path) > 6:
        raise ValueError("too deep")
    return path


def parse_form(body):
    fields = {}
    pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    for name, value in pairs:
        if "\0" in name or "\0" in value:
            raise ValueError("NUL byte")
        path = split_key(name)
        node = fields
        for seg in path[:-1]:
            if seg == "":
                raise ValueError("[] only at the end")
            node = node.setdefault(seg, {})
            if not isinstance(node, dict):
                raise ValueError(f"conflicting key {name!r}")
        last = path[-1]
        if last == "":
            raise ValueError("lists are not needed for this body")
        old = node.get(last)
        if old is None:
            node[last] = value
        elif old != value:
            raise ValueError(f"duplicate key {name!r}")
    if not fields:
        raise ValueError("empty body")
    return fields


def envelope(body, typed=True):
    """The envelope; with `typed`, also the invoice's typed view (the parse benchmark's Rust loop
    calls `envelope.typed()`; the function does not, so bench/python_handler passes False)."""
    fields = parse_form(body)
    event = fields.pop("event", None)
    if not isinstance(event, str) or not event or not event.isascii() or not event.isprintable():
        raise ValueError("bad event")
    counted = {k: v for k, v in fields.items() if k not in DELIVERY_FIELDS}
    counted["event"] = event
    canonical = json.dumps(["iugu", counted], sort_keys=True, separators=(",", ":"))
    dedup_key = hashlib.sha256(canonical.encode()).hexdigest()
    data = fields.pop("data", {})
    family = FAMILIES.get(event.partition(".")[0], "other")
    kind, field = ENTITY.get(family, ("notification", "id"))
    entity_id = data.get(field)
    if not isinstance(entity_id, str) or not entity_id.strip():
        raise ValueError("missing entity id")
    env = {
        "provider": "iugu",
        "event": event,
        "family": family,
        "entity_type": kind,
        "entity_id": entity_id,
        "entity_key": f"{kind}#{entity_id}",
        "dedup_key": dedup_key,
        "received_at": RECEIVED_AT,
        "data": data,
    }
    for name in ("account_id", "status"):
        if isinstance(data.get(name), str):
            env[name] = data[name]
    extra = {k: v for k, v in fields.items() if k not in DELIVERY_FIELDS}
    if extra:
        env["extra"] = extra
    # The typed view (the Rust loop's `envelope.typed()`); only invoice events are typed here,
    # which is what the benchmark's body is.
    if typed:
        env["typed"] = typed_invoice(event, data) if family == "invoices" else None
    return env


def main():
    body = Path(sys.argv[1]).read_bytes() if len(sys.argv) > 1 else SAMPLE.read_bytes()
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
    if iterations <= 0:
        sys.exit("ITERATIONS is a positive integer")
    for _ in range(iterations // 10):  # warm up
        envelope(body)
    best = min(_round(body, iterations) for _ in range(5))
    print(f"iterations={iterations} rounds=5 (best)")
    print(f"ns/body {best:.1f}")


def _round(body, iterations):
    start = time.perf_counter_ns()
    for _ in range(iterations):
        envelope(body)
    return (time.perf_counter_ns() - start) / iterations


if __name__ == "__main__":
    main()
