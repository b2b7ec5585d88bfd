#!/usr/bin/env bash
# kubesim --proxy with the real kubectl and curl: a Service gets a loopback clusterIP, curl on
# clusterIP:port reaches two real HTTP servers (python3 -m http.server on two 127.3.x addresses)
# in turn, and the proxy follows what is published: an EndpointSlice's ready condition, the
# slice going away (RST), a selectorless Service with only v1 Endpoints, a dead backend (RST),
# and the Service's deletion (the address stops listening). Without --proxy nothing listens.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || fail "python3 is needed for the backends"
sim_start --proxy

net=$((RANDOM % 200 + 20))
ipa="127.3.$net.2" ipb="127.3.$net.3"
port=$((20000 + RANDOM % 20000))
mkdir -p "$E2E_TMP/a" "$E2E_TMP/b"
echo a >"$E2E_TMP/a/who"
echo b >"$E2E_TMP/b/who"
start_backend() { # DIR IP -> pid in BACKEND_PID
	(cd "$1" && exec python3 -m http.server --bind "$2" "$port") >"$1.log" 2>&1 &
	BACKEND_PID=$!
	on_exit "kill $BACKEND_PID 2>/dev/null || true"
}
start_backend "$E2E_TMP/a" "$ipa"
pid_a=$BACKEND_PID
start_backend "$E2E_TMP/b" "$ipb"
pid_b=$BACKEND_PID
wait_for 10 "backend a answers" curl -sf "http://$ipa:$port/who"
wait_for 10 "backend b answers" curl -sf "http://$ipb:$port/who"

slice() { # READY_A READY_B [TERMINATING_A]
	k apply -f - >/dev/null <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-manual
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: $port, protocol: TCP}]
endpoints:
- addresses: ["$ipa"]
  conditions: {ready: $1, serving: ${3:-$1}, terminating: ${3:-false}}
- addresses: ["$ipb"]
  conditions: {ready: $2}
EOF
}

k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports: [{name: http, port: 8080, targetPort: $port}]
EOF
cip=$(k get svc web -o jsonpath='{.spec.clusterIP}')
case "$cip" in 127.2.*) ;; *) fail "clusterIP $cip is not in 127.2.0.0/16" ;; esac
pass "the Service got the loopback clusterIP $cip"

backends() { sim_curl -sf "$SIM_URL/sim/v1/proxy" | jq -c --arg n "${1:-web}" \
	'[.services[] | select(.name==$n) | .ports[0].backends] | .[0] // []'; }
wait_backends() { # EXPECTED_JSON [SERVICE]
	local deadline=$((SECONDS + 10 * ${PHX_E2E_WAIT_SCALE:-3}))
	until [ "$(backends "${2:-web}")" = "$1" ]; do
		[ "$SECONDS" -lt "$deadline" ] || fail "proxy backends: want $1, got $(backends "${2:-web}")"
		sleep 0.1
	done
}
slice true true
wait_backends "[\"$ipa:$port\",\"$ipb:$port\"]"
seq=""
for _ in 1 2 3 4; do seq="$seq$(curl -sf --max-time 5 "http://$cip:8080/who")"; done
[ "$seq" = abab ] || [ "$seq" = baba ] || fail "round robin expected abab or baba, got $seq"
pass "curl through $cip:8080 alternates between the two backends ($seq)"

# --- follows the slice: b not ready -> only a
slice true false
wait_backends "[\"$ipa:$port\"]"
seq=""
for _ in 1 2 3; do seq="$seq$(curl -sf --max-time 5 "http://$cip:8080/who")"; done
expect_eq aaa "$seq" "only the ready endpoint serves"
# --- none ready, a serving and terminating: upstream's fallback uses a
slice false false true
wait_backends "[\"$ipa:$port\"]"
expect_eq a "$(curl -sf --max-time 5 "http://$cip:8080/who")" "serving+terminating fallback"
pass "the proxy follows the slice's conditions (ready only; serving terminating as fallback)"

# --- no endpoint: the connection is reset at once, and counted
k delete endpointslice web-manual >/dev/null
wait_backends "[]"
start=$SECONDS
if curl -s --max-time 5 "http://$cip:8080/who" >/dev/null 2>&1; then fail "served without endpoints"; fi
[ $((SECONDS - start)) -le 2 ] || fail "a Service without endpoints must refuse at once"
ne=$(sim_curl -sf "$SIM_URL/sim/v1/proxy" | jq '[.services[]|select(.name=="web")|.ports[0].noEndpoint][0]')
[ "$ne" -ge 1 ] || fail "noEndpoint counter $ne"
pass "no endpoint: curl fails at once (reset), noEndpoint=$ne"

# --- a dead backend listed as ready: reset, not a hang
slice true false
wait_backends "[\"$ipa:$port\"]"
kill "$pid_a"
wait "$pid_a" 2>/dev/null || true
if curl -s --max-time 5 "http://$cip:8080/who" >/dev/null 2>&1; then fail "served by a dead backend"; fi
bf=$(sim_curl -sf "$SIM_URL/sim/v1/proxy" | jq '[.services[]|select(.name=="web")|.ports[0].backendFailed][0]')
[ "$bf" -ge 1 ] || fail "backendFailed counter $bf"
lf=$(sim_curl -sf "$SIM_URL/sim/v1/proxy" | jq -r '[.services[]|select(.name=="web")|.ports[0].lastBackendFailure][0]')
expect_eq "$ipa:$port: Connection refused" "$lf" "the status names the backend that failed"
pass "a refusing backend resets the client (backendFailed=$bf)"

# --- a selectorless Service with v1 Endpoints only (no slice): the proxy uses the Endpoints
k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: legacy}
spec:
  ports: [{port: 8081, targetPort: $port}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: legacy}
subsets:
- addresses: [{ip: "$ipb"}]
  ports: [{port: $port}]
EOF
lip=$(k get svc legacy -o jsonpath='{.spec.clusterIP}')
wait_for 10 "legacy answers" curl -sf --max-time 2 "http://$lip:8081/who"
expect_eq b "$(curl -sf --max-time 5 "http://$lip:8081/who")" "v1 Endpoints fallback"
pass "a Service with only v1 Endpoints is proxied ($lip:8081 -> b)"

# --- the Service goes: its address stops listening
k delete svc legacy >/dev/null
deadline=$((SECONDS + 10))
while curl -s --max-time 1 "http://$lip:8081/who" >/dev/null 2>&1; do
	[ "$SECONDS" -lt "$deadline" ] || fail "$lip:8081 still listening after the Service was deleted"
	sleep 0.1
done
pass "deleting the Service closes its listener"

# --- with --run-pods (when this kubesim has it, implying --proxy): a selector Service with a
# named targetPort over two real pods; the proxy follows the endpoints controller's slices.
if "$PHX_BIN/kubesim" --help 2>&1 | grep -Eq -- '^ *--run-pods ' && [ -x "$PHX_BIN/phoenix-contract-service" ]; then
	sim_stop
	rm -f "$E2E_TMP/kubesim.url"
	sim_start --run-pods --image-map "phoenix/contract-service:dev=$PHX_BIN/phoenix-contract-service"
	k apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: rr}
spec:
  replicas: 2
  selector: {matchLabels: {app: rr}}
  template:
    metadata: {labels: {app: rr}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - name: app
          image: phoenix/contract-service:dev
          env:
            - {name: PORT, value: "8080"}
            - name: SERVICE_NAME
              valueFrom: {fieldRef: {fieldPath: metadata.name}}
          ports: [{name: web, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /health, port: web}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: rr}
spec:
  selector: {app: rr}
  ports: [{name: http, port: 8080, targetPort: web}]
EOF
	rcip=$(k get svc rr -o jsonpath='{.spec.clusterIP}')
	two_backends() { [ "$(backends rr | jq 'map(select(startswith("127.1.") and endswith(":8080"))) | length')" = 2 ]; }
	wait_for 60 "two pod backends for rr" two_backends
	who() { curl -sf --max-time 5 "http://$rcip:8080/health" | jq -r .service; }
	w1=$(who) w2=$(who) w3=$(who) w4=$(who)
	[ "$w1" != "$w2" ] && [ "$w1" = "$w3" ] && [ "$w2" = "$w4" ] ||
		fail "round robin over the pods: $w1 $w2 $w3 $w4"
	pass "--run-pods: $rcip:8080 alternates between the pods $w1 and $w2 (named targetPort web)"
	k delete pod "$w1" --wait=false >/dev/null
	w1_gone() { ! backends rr | grep -q "$(k get pod "$w1" -o jsonpath='{.status.podIP}' 2>/dev/null || echo none):"; }
	wait_for 30 "the deleted pod leaves the backends" w1_gone
	for _ in 1 2 3 4; do
		got=$(who) || fail "a request failed after the endpoint change"
		[ "$got" != "$w1" ] || fail "the deleted pod $w1 still got a new connection"
	done
	pass "--run-pods: once the deleted pod leaves the slice, no new connection reaches it"

	# A write to a terminating pod (what an operator's relabel does) neither removes it nor cuts
	# its grace period short: the program keeps serving its lame duck (SHUTDOWN_DELAY_MS), as
	# under a real kubelet (upstream's ShouldDeleteDuringUpdate keeps a pod in its grace period).
	k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: lame, labels: {app: lame}}
spec:
  terminationGracePeriodSeconds: 20
  containers:
    - name: app
      image: phoenix/contract-service:dev
      env:
        - {name: PORT, value: "8080"}
        - {name: SHUTDOWN_DELAY_MS, value: "3000"}
EOF
	lame_up() { curl -sf --max-time 1 "http://$(k get pod lame -o jsonpath='{.status.podIP}'):8080/health" >/dev/null; }
	wait_for 30 "lame answers on its pod IP" lame_up
	lip=$(k get pod lame -o jsonpath='{.status.podIP}')
	# Milliseconds since before the delete: the lame duck starts after t0, so it lasts at least
	# until t0 + 3000 (whole seconds of $SECONDS could read 2 for 2.9 s).
	ms() { date +%s%3N; }
	t0=$(ms)
	k delete pod lame --wait=false >/dev/null
	k label pod lame touched=yes >/dev/null || fail "labelling the terminating pod failed"
	# For the next 2 s (inside its 3 s lame duck) the pod is there and its program answers 503.
	while [ $(($(ms) - t0)) -lt 2000 ]; do
		k get pod lame >/dev/null 2>&1 || fail "a label write removed the terminating pod at once"
		st=$(curl -s --max-time 1 "http://$lip:8080/health" | jq -r .status 2>/dev/null) ||
			fail "the terminating pod's program stopped serving during its lame duck"
		expect_eq draining "$st" "/health of the terminating pod during its lame duck"
		sleep 0.2
	done
	wait_for 30 "lame goes once its program has drained and exited" sh -c '! kubectl get pod lame >/dev/null 2>&1'
	el=$(($(ms) - t0))
	[ "$el" -ge 3000 ] || fail "lame went after $el ms, before its 3 s lame duck ended"
	pass "--run-pods: a label write to a terminating pod keeps it and its lame duck (503 draining) until the program exits"
fi

# --- without --proxy: today's behaviour (10.96.0.0/16 clusterIPs, nothing listens)
sim_stop
rm -f "$E2E_TMP/kubesim.url" # sim_start polls it: the old URL must not be read
sim_start
out=$(k apply -f - -o jsonpath='{.spec.clusterIP}' <<EOF
apiVersion: v1
kind: Service
metadata: {name: plain}
spec:
  ports: [{port: 8080}]
EOF
)
case "$out" in 10.96.*) ;; *) fail "without --proxy the clusterIP must stay in 10.96.0.0/16: $out" ;; esac
expect_fail "no /sim/v1/proxy without --proxy" sim_curl -sf "$SIM_URL/sim/v1/proxy"
pass "without --proxy: clusterIP $out, no proxy"
