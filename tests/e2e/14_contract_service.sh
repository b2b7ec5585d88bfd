#!/usr/bin/env bash
# The example service (bin/phoenix-contract-service) on its own, with curl: the five contract
# endpoints, bad input (400/404/405/413), dependency probing (one up, one refusing, one hanging
# past the timeout), configuration errors naming the variable, and a graceful SIGTERM that
# stops accepting but finishes the request in flight.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bin="$PHX_BIN/phoenix-contract-service"
[ -x "$bin" ] || fail "not built: $bin"

start_svc() { # NAME [ENV=VALUE...] -> SVC_PID, SVC_ADDR
	local name=$1 out="$E2E_TMP/$1.out"
	shift
	env SERVICE_NAME="$name" POD_IP=127.0.0.1 PORT=0 "$@" "$bin" >"$out" 2>"$E2E_TMP/$name.err" &
	SVC_PID=$!
	on_exit "kill $SVC_PID 2>/dev/null || true"
	wait_for 10 "$name listening" grep -q '^listening on ' "$out"
	SVC_ADDR=$(sed -n 's/^listening on //p' "$out")
}

start_svc beta
beta=$SVC_ADDR
# a dependency that accepts and never answers
python3 -c 'import socket,time
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(8)
print(s.getsockname()[1], flush=True); time.sleep(120)' >"$E2E_TMP/hang.port" &
hang_pid=$!
on_exit "kill $hang_pid 2>/dev/null || true"
wait_for 10 "hanging listener" test -s "$E2E_TMP/hang.port"
hang=$(cat "$E2E_TMP/hang.port")

start_svc alpha DEPENDENCY_TIMEOUT_MS=1000 SHUTDOWN_DELAY_MS=3000 \
	DEPENDENCIES="beta=http://$beta,gone=http://127.0.0.1:1,slow=http://127.0.0.1:$hang"
alpha_pid=$SVC_PID
a="http://$SVC_ADDR"

out=$(curl -sf "$a/health")
expect_eq active "$(jq -r .status <<<"$out")" "/health status"
expect_eq alpha "$(jq -r .service <<<"$out")" "/health service name from SERVICE_NAME"
out=$(curl -sf "$a/capabilities")
expect_eq '["health","capabilities","state","dependencies","message"]' "$(jq -c .features <<<"$out")" "features"
expect_eq '["beta","gone","slow"]' "$(jq -c .dependencies <<<"$out")" "dependencies from DEPENDENCIES"
pass "/health and /capabilities"

code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
out=$(curl -sf -X POST -H 'Content-Type: application/json' -d '{"type":"greeting","text":"hi"}' "$a/message")
expect_eq true "$(jq -r .accepted <<<"$out")" "message accepted"
expect_eq 1 "$(jq -r .id <<<"$out")" "first message id"
expect_eq 400 "$(code -X POST -d '{"type":' "$a/message")" "truncated JSON"
expect_eq 400 "$(code -X POST -d '[1,2]' "$a/message")" "a JSON array is not a message"
expect_eq 400 "$(code -X POST "$a/message")" "empty body"
head -c 70000 /dev/zero | tr '\0' 'x' >"$E2E_TMP/big"
expect_eq 413 "$(code -X POST --data-binary @"$E2E_TMP/big" "$a/message")" "a 70 KB body"
expect_eq 405 "$(code "$a/message")" "GET /message"
expect_eq 405 "$(code -X POST -d '{}' "$a/health")" "POST /health"
expect_eq 404 "$(code "$a/nope")" "unknown path"
out=$(curl -sf "$a/state")
expect_eq 1 "$(jq -r .messagesAccepted <<<"$out")" "state counts the accepted message"
expect_eq 4 "$(jq -r .messagesRejected <<<"$out")" "state counts the rejected ones"
expect_eq greeting "$(jq -r .lastMessageType <<<"$out")" "state keeps the last type"
pass "/message (200, 400 x3, 413, 405) and /state counters"

start=$SECONDS
out=$(curl -sf --max-time 10 "$a/dependencies")
[ $((SECONDS - start)) -le 4 ] || fail "/dependencies took $((SECONDS - start)) s (timeout 1 s each)"
expect_eq active "$(jq -r '.dependencies[0].status' <<<"$out")" "beta is up"
expect_eq unreachable "$(jq -r '.dependencies[1].status' <<<"$out")" "port 1 refuses"
expect_eq unreachable "$(jq -r '.dependencies[2].status' <<<"$out")" "the hanging one times out"
expect_eq false "$(jq -r .allHealthy <<<"$out")" "allHealthy"
pass "/dependencies probes each dependency's /health with the timeout"

# --- "http://beta-svc" resolves through the service-link variables, as in a pod
start_svc gamma DEPENDENCIES="beta=http://beta-svc" BETA_SVC_SERVICE_HOST=127.0.0.1 \
	BETA_SVC_SERVICE_PORT="${beta##*:}"
out=$(curl -sf --max-time 5 "http://$SVC_ADDR/dependencies")
expect_eq "active http://$beta" "$(jq -r '.dependencies[0] | "\(.status) \(.url)"' <<<"$out")" "service-link resolution"
pass "a dotless dependency host resolves through NAME_SERVICE_HOST/_PORT"

# --- configuration errors name the variable
for bad in "PORT=http" "PORT=70000" "POD_IP=not-an-ip" "DEPENDENCIES=noequals" "DEPENDENCIES=x=ftp://h"; do
	var=${bad%%=*}
	rc=0
	err=$(env "$bad" "$bin" 2>&1 >/dev/null) || rc=$?
	expect_eq 2 "$rc" "exit code for $bad"
	expect_contains "$err" "$var" "the message for $bad names the variable"
done
pass "bad configuration exits 2 naming the variable"

# --- bench/phx_loadgen against it: steady rate, every failure recorded with its time
lg="$PHX_BIN/phx_loadgen"
if [ -x "$lg" ]; then
	out=$("$lg" --url "http://$beta/health" --rate 100 --duration 1 --quiet --out "$E2E_TMP/lg.json" && cat "$E2E_TMP/lg.json")
	expect_eq "100 0" "$(jq -r '"\(.sent) \(.failed)"' <<<"$out")" "loadgen sent/failed against a live service"
	out=$("$lg" --url "http://127.0.0.1:1/health" --rate 50 --duration 1)
	expect_eq "50 50 50 refused" "$(jq -r '"\(.sent) \(.failed) \(.longestFailureRun.count) \(.failures[0].error)"' <<<"$out")" "loadgen against a refusing port"
	"$lg" --url "http://$beta/health" --rate 50 --duration 0 --quiet --out "$E2E_TMP/lg2.json" &
	lg_pid=$!
	wait_for 10 "the loadgen's requests arrive" sh -c "[ \"\$(curl -sf 'http://$beta/state' | jq .requests)\" -ge 120 ]"
	kill -INT "$lg_pid"
	wait "$lg_pid" || fail "loadgen exit status after SIGINT"
	[ "$(jq .sent "$E2E_TMP/lg2.json")" -ge 10 ] || fail "loadgen until SIGINT: $(jq -c '{sent,failed}' "$E2E_TMP/lg2.json")"
	expect_eq 0 "$(jq .failed "$E2E_TMP/lg2.json")" "loadgen until SIGINT: no failure"
	pass "phx_loadgen: rate x duration sent, failures timed and counted, runs until SIGINT"
fi

# --- graceful SIGTERM: the request in flight (probing the hanging dependency) completes
curl -s --max-time 10 "$a/dependencies" >"$E2E_TMP/inflight.json" &
curl_pid=$!
wait_for 10 "a request in flight" sh -c "[ \"\$(curl -sf '$a/state' | jq .inFlight)\" -ge 2 ]"
kill -TERM "$alpha_pid"
# the lame-duck period: still answering, /health 503 "draining" (readiness fails first) ...
draining() { [ "$(curl -s --max-time 1 "$a/health" | jq -r .status)" = draining ] &&
	[ "$(code --max-time 1 "$a/health")" = 503 ]; }
wait_for 3 "/health 503 draining after SIGTERM" draining
expect_eq 200 "$(code "$a/state")" "other endpoints still answer while draining"
# ... then the port closes
wait_for 10 "new connections refused" sh -c "! curl -s --max-time 1 '$a/health' >/dev/null"
wait "$curl_pid" || fail "the request in flight failed"
expect_eq alpha "$(jq -r .service "$E2E_TMP/inflight.json")" "the in-flight answer"
rc=0
wait "$alpha_pid" || rc=$?
expect_eq 0 "$rc" "exit status after SIGTERM"
pass "SIGTERM: lame duck (health 503 draining), then stopped accepting, finished the request in flight, exited 0"
