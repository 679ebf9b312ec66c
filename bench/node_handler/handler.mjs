// The Node.js (AWS SDK v3) equivalent of bench/python_handler/handler.py: the same checks, the
// same iugu form parse (nesting, SHA-256 of the canonical JSON), the same table layout and calls:
// TransactWriteItems (dedup item + event item) -> SendMessage -> TransactWriteItems (mark).
// The two clients are built at import time, as every Node Lambda does.
import { createHash, timingSafeEqual } from "node:crypto";
import { DynamoDBClient, TransactWriteItemsCommand, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { SQSClient, SendMessageCommand } from "@aws-sdk/client-sqs";

const config = { maxAttempts: 3 };
const dynamodb = new DynamoDBClient(config);
// Send to the configured endpoint (AWS_ENDPOINT_URL here, SQS in AWS), not the queue URL's host.
const sqs = new SQSClient({ ...config, useQueueUrlAsEndpoint: false });

const TABLE = process.env.EVENTS_TABLE;
const QUEUE_URL = process.env.EVENTS_QUEUE_URL;
const TOKEN = Buffer.from(process.env.WEBHOOK_TOKEN ?? "");
const ALLOWED = (process.env.ALLOWED_SOURCE_IPS ?? "").split(",").map((s) => s.trim().replace(/\/32$/, "")).filter(Boolean);
const FIFO = QUEUE_URL.endsWith(".fifo");
const FAMILIES = {
  invoice: "invoices", subscription: "subscriptions", customer_payment_method: "payment-methods",
  transfer: "transfers", transfer_request: "transfers", deposit: "deposits",
  advancement_request: "advancements", payment_request: "payment-requests",
};
const ENTITY = {
  invoices: ["invoice", "id"], subscriptions: ["subscription", "id"],
  "payment-methods": ["customer_payment_method", "customer_payment_method_id"],
  deposits: ["deposit", "deposit_id"], "payment-requests": ["payment_request", "payment_request_id"],
};

const answer = (statusCode, body) => ({ statusCode, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
const now = () => new Date().toISOString().replace("Z", "000Z");

function parseForm(body) {
  const fields = {};
  for (const [name, value] of new URLSearchParams(body)) {
    const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(name);
    if (!m) throw new Error(`malformed key ${name}`);
    const path = [m[1], ...[...m[2].matchAll(/\[([^[\]]*)\]/g)].map((x) => x[1])];
    if (path.length > 6 || path.includes("")) throw new Error("bad key");
    let node = fields;
    for (const seg of path.slice(0, -1)) {
      node = node[seg] ??= {};
      if (typeof node !== "object") throw new Error(`conflicting key ${name}`);
    }
    const last = path.at(-1);
    if (node[last] !== undefined && node[last] !== value) throw new Error(`duplicate key ${name}`);
    node[last] = value;
  }
  return fields;
}

// JSON with sorted keys, as Python's json.dumps(sort_keys=True, separators=(",", ":")).
const canonical = (v) =>
  typeof v === "object" && v !== null
    ? Array.isArray(v) ? `[${v.map(canonical).join(",")}]`
      : `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`
    : JSON.stringify(v);

function envelope(body) {
  const fields = parseForm(body);
  const event = fields.event;
  delete fields.event;
  if (typeof event !== "string" || !/^[\x21-\x7e]+$/.test(event)) throw new Error("bad event");
  const counted = { ...fields, event };
  delete counted.retry_count;
  const dedupKey = createHash("sha256").update(canonical(["iugu", counted])).digest("hex");
  const data = fields.data ?? {};
  delete fields.data;
  delete fields.retry_count;
  const family = FAMILIES[event.split(".")[0]] ?? "other";
  const [kind, field] = ENTITY[family] ?? ["notification", "id"];
  const entityId = data[field];
  if (typeof entityId !== "string" || !entityId.trim()) throw new Error("missing entity id");
  const env = { provider: "iugu", event, family, entity_type: kind, entity_id: entityId, entity_key: `${kind}#${entityId}`, dedup_key: dedupKey, received_at: now(), data };
  for (const name of ["account_id", "status"]) if (typeof data[name] === "string") env[name] = data[name];
  if (Object.keys(fields).length) env.extra = fields;
  return env;
}

const attr = (v) =>
  typeof v === "object" ? Array.isArray(v) ? { L: v.map((s) => ({ S: s })) } : { M: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, attr(x)])) } : { S: v };

async function claim(env, rawBody) {
  const sk = `${env.received_at}#${env.dedup_key}`;
  const dedupKey = { pk: { S: `dedup#${env.dedup_key}` }, sk: { S: "dedup" } };
  const dedup = { ...dedupKey, kind: { S: "dedup" }, event_pk: { S: env.entity_key }, event_sk: { S: sk }, received_at: { S: env.received_at } };
  const event = {
    pk: { S: env.entity_key }, sk: { S: sk }, kind: { S: "event" }, provider: { S: "iugu" }, event: { S: env.event },
    family: { S: env.family }, entity_type: { S: env.entity_type }, entity_id: { S: env.entity_id },
    received_at: { S: env.received_at }, received_day: { S: env.received_at.slice(0, 10) },
    dedup_key: { S: env.dedup_key }, raw_body: { S: rawBody }, data: attr(env.data),
  };
  for (const name of ["account_id", "status"]) if (env[name]) event[name] = { S: env[name] };
  if (env.extra) event.extra = attr(env.extra);
  try {
    await dynamodb.send(new TransactWriteItemsCommand({
      TransactItems: [
        { Put: { TableName: TABLE, Item: dedup, ConditionExpression: "attribute_not_exists(pk)", ReturnValuesOnConditionCheckFailure: "ALL_OLD" } },
        { Put: { TableName: TABLE, Item: event, ConditionExpression: "attribute_not_exists(pk)" } },
      ],
    }));
    return [true, null];
  } catch (e) {
    const first = e.CancellationReasons?.[0];
    if (e.name !== "TransactionCanceledException" || first?.Code !== "ConditionalCheckFailed") throw e;
    const item = first.Item ?? (await dynamodb.send(new GetItemCommand({ TableName: TABLE, Key: dedupKey, ConsistentRead: true }))).Item;
    return [false, item];
  }
}

async function mark(env) {
  const at = { ":at": { S: now() } };
  const keys = [
    { pk: { S: `dedup#${env.dedup_key}` }, sk: { S: "dedup" } },
    { pk: { S: env.entity_key }, sk: { S: `${env.received_at}#${env.dedup_key}` } },
  ];
  await dynamodb.send(new TransactWriteItemsCommand({
    TransactItems: keys.map((Key) => ({ Update: { TableName: TABLE, Key, UpdateExpression: "SET forwarded_at = :at", ConditionExpression: "attribute_exists(pk)", ExpressionAttributeValues: at } })),
  }));
}

export async function handler(event) {
  const started = process.hrtime.bigint();
  if (event.httpMethod !== "POST") return answer(405, { error: "method_not_allowed" });
  if (!(event.path ?? "").startsWith("/iugu/")) return answer(404, { error: "not_found" });
  const source = event.requestContext?.identity?.sourceIp ?? "";
  if (ALLOWED.length && !ALLOWED.includes(source)) return answer(403, { error: "forbidden" });
  const headers = Object.fromEntries(Object.entries(event.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const given = Buffer.from(event.queryStringParameters?.token ?? (headers.authorization ?? "").replace(/^Bearer /, ""));
  if (!TOKEN.length || given.length !== TOKEN.length || !timingSafeEqual(given, TOKEN)) return answer(401, { error: "unauthorized" });
  if ((headers["content-type"] ?? "").split(";")[0].trim() !== "application/x-www-form-urlencoded") return answer(415, { error: "unsupported_media_type" });
  const rawBody = event.isBase64Encoded ? Buffer.from(event.body ?? "", "base64").toString() : event.body ?? "";
  let env;
  try {
    env = envelope(rawBody);
  } catch (e) {
    return answer(400, { error: "invalid_body", message: e.message });
  }
  const [isNew, item] = await claim(env, rawBody);
  let outcome = "duplicate";
  if (isNew || !item.forwarded_at) {
    if (!isNew) env.received_at = item.received_at.S;
    await sqs.send(new SendMessageCommand({
      QueueUrl: QUEUE_URL,
      MessageBody: JSON.stringify(env),
      MessageAttributes: { provider: { DataType: "String", StringValue: "iugu" }, event: { DataType: "String", StringValue: env.event } },
      ...(FIFO ? { MessageGroupId: env.entity_key, MessageDeduplicationId: env.dedup_key } : {}),
    }));
    try {
      await mark(env);
    } catch (e) {
      console.log(JSON.stringify({ level: "WARN", message: "not marked", error: String(e) }));
    }
    outcome = isNew ? "stored" : "duplicate_forwarded";
  }
  const latency_us = Number((process.hrtime.bigint() - started) / 1000n);
  console.log(JSON.stringify({ level: "INFO", message: "request", event: env.event, pk: env.entity_key, dedup_key: env.dedup_key, outcome, latency_us }));
  return answer(200, { status: isNew ? "stored" : "duplicate", dedup_key: env.dedup_key });
}
