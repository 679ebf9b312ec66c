#!/usr/bin/env bash
# Runs the product locally: no AWS account, no Docker, nothing but 127.0.0.1.
#
#   bash scripts/local.sh          (from any directory; Ctrl-C stops everything it started)
#
# 1. installs/refreshes the dev venv (.venv: moto, cargo-lambda) and builds the functions;
# 2. starts moto's server (scripts/moto_server.py: local DynamoDB, SQS and Secrets Manager) on
#    a free loopback port;
# 3. creates the table, the FIFO queue (+ dead-letter queue) and the two webhook secrets as
#    template.yaml defines them (scripts/local_resources.py), each secret holding the local
#    token: the functions read it at start-up exactly as they do in AWS;
# 4. serves every function with `cargo lambda watch` on 127.0.0.1 (default port 9000), as
#    function URLs: http://127.0.0.1:9000/lambda-url/<binary>/<route>?token=<token>
#    (cargo lambda passes the part after /lambda-url/<binary> on as the request path);
# 5. starts the consumer kit (docs/consumers.md) on the same queue, as Lambda's SQS event
#    source would run it (shared/consumer/examples/local.rs: a poller, the consumer, its
#    ledger and bookings tables, and a stand-in for iugu's and iPag's APIs that answers from
#    the samples);
# 6. prints the URLs, the token and the moto endpoint, and writes them to .local/urls.json,
#    which `.venv/bin/python scripts/post_samples.py` reads;
# 7. writes .local/sam-env.json, the --env-vars file for `sam local invoke` and `sam local
#    start-api` against the same local server (scripts/sam_env.py; samconfig.toml points
#    both commands at it), and prints the command (docs/deploy.md, "Run one function with
#    sam local"). Docker is needed for those commands only.
#
# Environment (all optional):
#   WEBHOOK_TOKEN       the token both local secrets (iugu's and iPag's) hold (default
#                       local-dev-token-0123456789, the one every sample under events/ carries)
#   INVOKE_PORT         the port for the functions (default 9000; a free one if 9000 is taken)
#   RUST_LOG            the functions' log level (default info)
#   SAM_LOCAL_HOST      the local server's host as a `sam local` container sees it (default
#                       127.0.0.1, with `--docker-network host`, on Linux; host.docker.internal
#                       elsewhere, i.e. Docker Desktop)
# Logs: the functions' JSON lines go to this terminal; moto's to .local/moto.log.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
state="$root/.local"

bash "$root/scripts/dev-env.sh"
mkdir -p "$state"
rm -f "$state/urls.json" "$state/consumer.json"

token="${WEBHOOK_TOKEN:-local-dev-token-0123456789}"
rust_log="${RUST_LOG:-info}"

# Only local, dummy AWS settings from here on: drop whatever the caller's shell has
# (profiles, real credentials, per-service endpoints) so nothing can reach AWS.
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep '^AWS_' || true)

# Small helpers (in the venv's Python where bash alone falls short).
free_port() { # [preferred]: the preferred port if it is free on 127.0.0.1, else any free one
    "$venv/bin/python" - "${1:-0}" <<'EOF'
import socket, sys
def bind(port):
    s = socket.socket()
    # As servers bind: a port with only TIME_WAIT connections left on it counts as free.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    port = s.getsockname()[1]
    s.close()
    return port
try:
    print(bind(int(sys.argv[1])))
except OSError:
    print(bind(0))
EOF
}

wait_for_port() { # name pid port: until something listens on 127.0.0.1:port (about 30 s at most)
    local name="$1" pid="$2" port="$3" i
    for ((i = 0; i < 300; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "local.sh: $name exited before listening on 127.0.0.1:$port" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "local.sh: $name is not listening on 127.0.0.1:$port after 30 s" >&2
    return 1
}

# --- build first, so that a compile error stops us before anything runs -----------------
resources="$state/resources.json"
binaries=()
while IFS= read -r b; do binaries+=("$b"); done < <(
    "$venv/bin/python" - "$root/template.yaml" <<'EOF'
import sys
sys.path.insert(0, "scripts")
import local_resources as lr
for binary in lr.functions(lr.load_template(sys.argv[1]).get("Resources") or {}):
    print(binary)
EOF
)
echo "local.sh: building ${binaries[*]}" >&2
build_args=()
for b in "${binaries[@]}"; do build_args+=(--bin "$b"); done
cargo build "${build_args[@]}"
echo "local.sh: building the consumer kit (webhook-consumer, example local)" >&2
cargo build -p webhook-consumer --features lambda,stand-in --example local
target_dir="$(cargo metadata --format-version 1 --no-deps | "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"

# --- everything started from here runs in its own process group, stopped on exit -------
groups=()
stop_groups() { # pgid...: SIGTERM, up to 5 s to exit, then SIGKILL
    local g i alive
    for g in "$@"; do kill -TERM -- "-$g" 2>/dev/null || true; done
    for ((i = 0; i < 50; i++)); do
        alive=0
        for g in "$@"; do kill -0 -- "-$g" 2>/dev/null && alive=1; done
        ((alive)) || return 0
        sleep 0.1
    done
    for g in "$@"; do kill -KILL -- "-$g" 2>/dev/null || true; done
}
cleanup() {
    local status=$? g children=()
    trap - EXIT INT TERM HUP
    if ((${#groups[@]})); then
        echo >&2
        echo "local.sh: stopping moto_server, cargo lambda watch and the consumer..." >&2
        # cargo lambda runs each function instance in a process group of its own and stops
        # them itself on SIGTERM; whatever it leaves behind is stopped next.
        for g in "${groups[@]}"; do
            while read -r c; do children+=("$c"); done < <(ps -o pgid= --ppid "$g" 2>/dev/null || true)
        done
        stop_groups "${groups[@]}"
        ((${#children[@]} == 0)) || stop_groups "${children[@]}"
        rm -f "$state/urls.json" "$state/sam-env.json" "$state/consumer.json"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
# The servers start under `set -m` (job control), which puts each in a process group of its
# own (pgid = its pid) that cleanup can signal as a whole; it is switched off again at once
# so that the script's own commands stay in the terminal's foreground group and Ctrl-C
# reaches the script (and its trap), not just whatever command runs at that moment.

# --- moto: local DynamoDB + SQS ----------------------------------------------------------
moto_port="$(free_port)"
moto="http://127.0.0.1:$moto_port"
set -m
"$venv/bin/python" "$root/scripts/moto_server.py" "$moto_port" </dev/null >"$state/moto.log" 2>&1 &
moto_pid=$!
set +m
groups+=("$moto_pid")
if ! wait_for_port moto_server "$moto_pid" "$moto_port"; then
    tail -n 20 "$state/moto.log" >&2
    exit 1
fi

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL="$moto"
"$venv/bin/python" "$root/scripts/local_resources.py" --endpoint "$moto" \
    --template "$root/template.yaml" --token "$token" --out "$resources" >/dev/null

# --- the env file for `sam local invoke` / `sam local start-api` ---------------------------
case "$(uname -s)" in
    Linux) sam_host_default=127.0.0.1 ;;
    *) sam_host_default=host.docker.internal ;;
esac
sam_host="${SAM_LOCAL_HOST:-$sam_host_default}"
sam_network=()
[[ "$sam_host" == 127.0.0.1 ]] && sam_network=(--docker-network host)
"$venv/bin/python" "$root/scripts/sam_env.py" --resources "$resources" --host "$sam_host" \
    --rust-log "$rust_log" --out "$state/sam-env.json"

# --- the functions: cargo lambda watch ----------------------------------------------------
env_file="$state/functions.env"
(
    umask 077
    "$venv/bin/python" - "$resources" "$rust_log" >"$env_file" <<'EOF'
import json, os, sys
res, rust_log = sys.argv[1:3]
# The table, the queue, and where each gateway's secret is (IUGU_SECRET_ID, IPAG_SECRET_ID):
# the token itself is only in the local secret.
env = dict(json.load(open(res))["env"])
env.update(RUST_LOG=rust_log)
for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
          "AWS_EC2_METADATA_DISABLED"):
    env[k] = os.environ[k]
for k, v in env.items():
    if "\n" in v:
        sys.exit(f"local.sh: {k} must not contain a newline")
    print(f"{k}={v}")
EOF
)
invoke_port="$(free_port "${INVOKE_PORT:-9000}")"
set -m
"$venv/bin/cargo-lambda" lambda watch --invoke-address 127.0.0.1 --invoke-port "$invoke_port" \
    --env-file "$env_file" </dev/null &
watch_pid=$!
set +m
groups+=("$watch_pid")
wait_for_port "cargo lambda watch" "$watch_pid" "$invoke_port"

# --- the consumer kit: polls the queue as Lambda's SQS event source would ------------------
read -r queue_url queue_arn < <("$venv/bin/python" - "$resources" <<'EOF'
import json, sys
queue = json.load(open(sys.argv[1]))["resources"]["EventsQueue"]
print(queue["url"], queue["arn"])
EOF
)
set -m
EVENTS_QUEUE_URL="$queue_url" EVENTS_QUEUE_ARN="$queue_arn" RUST_LOG="$rust_log" \
    CONSUMER_STATE="$state/consumer.json" "$target_dir/debug/examples/local" </dev/null &
consumer_pid=$!
set +m
groups+=("$consumer_pid")
for ((i = 0; i < 300; i++)); do
    [[ -s "$state/consumer.json" ]] && break
    if ! kill -0 "$consumer_pid" 2>/dev/null; then
        echo "local.sh: the consumer exited before it started" >&2
        exit 1
    fi
    sleep 0.1
done

# --- tell the user ------------------------------------------------------------------------
"$venv/bin/python" - "$resources" "$state/urls.json" "$token" "$invoke_port" "${sam_network[*]:-}" "$state/consumer.json" <<'EOF'
import json, sys, urllib.parse
res_path, out_path, token, port, sam_network, consumer_path = sys.argv[1:7]
consumer = json.load(open(consumer_path))
res = json.load(open(res_path))
base = f"http://127.0.0.1:{port}"
query = urllib.parse.urlencode({"token": token})
functions = {
    binary: {"route": route, "url": f"{base}/lambda-url/{binary}{route}?{query}"}
    for binary, route in res["functions"].items()
}
queues = {lid: r["url"] for lid, r in res["resources"].items() if r["type"] == "AWS::SQS::Queue"}
out = {
    "token": token,
    "invoke_base": base,
    "moto_endpoint": res["endpoint"],
    "region": res["region"],
    "table": res["env"]["EVENTS_TABLE"],
    "queue_url": res["env"]["EVENTS_QUEUE_URL"],
    "queues": queues,
    "functions": functions,
    "consumer": consumer,
}
with open(out_path, "w") as f:
    json.dump(out, f, indent=2)
    f.write("\n")
width = max(len(b) for b in functions)
print()
print("iugu webhooks, running locally. POST application/x-www-form-urlencoded bodies to:")
for binary, fn in functions.items():
    print(f"  {fn['route']:<{width + 7}} {fn['url']}")
print(f"token:          {token}  (iugu's and iPag's local secrets; ?token=... or Authorization: Bearer ...)")
print(f"moto (DynamoDB + SQS + Secrets Manager): {res['endpoint']}  table {out['table']}")
print(f"queue:          {out['queue_url']}")
print(f"consumer:       ledger {consumer['ledger_table']}, bookings {consumer['bookings_table']}, "
      f"API stand-in {consumer['api_stand_in']} (answers from the samples)")
print(f"written to:     {out_path}")
print("post every sample: .venv/bin/python scripts/post_samples.py   (in another terminal)")
network = f" {sam_network}" if sam_network else ""
print("with Docker, one function in its Lambda container against the same server (after `sam build`):")
print(f"  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test sam local invoke InvoicesFunction{network} \\")
print("    -e events/iugu/http-api-v2/invoice.status_changed.json   (env: .local/sam-env.json, samconfig.toml)")
print("Ctrl-C stops everything. Function logs follow (each function compiles/starts on its first request).")
print()
EOF

wait "$watch_pid"
