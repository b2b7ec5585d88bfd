# Helpers shared by the PhoenixService end-to-end tests (tests/e2e/20_phoenixservice_*.sh).
# Source after lib.sh. Not a test itself (the name does not start with a digit).

PHX_CRD="$PHX_ROOT/manifests/crds/phoenix.fpai.io_phoenixservices.yaml"

# Installs the CRD and waits until the API serves it.
phx_install_crd() {
	k apply -f "$PHX_CRD" >/dev/null
	wait_for 10 "PhoenixService API served" k get phoenixservices
}

# Starts a controller in the background: phx_start_controller NAME [ARGS...]. Its log is
# $E2E_TMP/NAME.log, its pid is in $E2E_TMP/NAME.pid and the variable PHX_CTL_PID.
phx_start_controller() {
	local name=$1
	shift
	"$PHX_BIN/phoenix-controller" --kubeconfig "$KUBECONFIG" --metrics-bind-address 0 \
		--health-probe-bind-address 0 "$@" >"$E2E_TMP/$name.log" 2>&1 &
	PHX_CTL_PID=$!
	echo "$PHX_CTL_PID" >"$E2E_TMP/$name.pid"
	on_exit "phx_stop_pid $PHX_CTL_PID"
	on_failure "echo '--- controller $name log (tail)'; tail -n 80 '$E2E_TMP/$name.log'"
}

# SIGTERM, up to 5 s for a graceful exit, then SIGKILL.
phx_stop_pid() {
	kill -TERM "$1" 2>/dev/null || return 0
	for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null || true
}

# phx_get NAME JSONPATH [NAMESPACE]
phx_get() { k get phoenixservice "$1" -n "${3:-default}" -o "jsonpath=$2"; }

# Succeeds when the service is 3/3 (or N/N), Healthy, and has exactly that many pods (none
# terminating, none left over).
phx_is_settled() {
	local name=$1 ns=${2:-default} want
	want=$(phx_get "$name" '{.status.totalInstances}' "$ns")
	[ -n "$want" ] || return 1
	[ "$(phx_get "$name" '{.status.phase}' "$ns")" = Healthy ] || return 1
	[ "$(phx_get "$name" '{.status.readyDisplay}' "$ns")" = "$want/$want" ] || return 1
	local pods
	pods=$(k get pods -n "$ns" -l "phoenix.fpai.io/service=$name" --no-headers 2>/dev/null | wc -l)
	[ "$pods" -eq "$want" ] || return 1
	local serving
	serving=$(k get pods -n "$ns" -l "phoenix.fpai.io/service=$name,phoenix.fpai.io/serving=true" \
		--no-headers 2>/dev/null | wc -l)
	[ "$serving" -eq 1 ]
}

# phx_is_available NAME [NS]: the PhoenixService's Available condition is True.
phx_is_available() { [ "$(phx_get "$1" '{.status.conditions[?(@.type=="Available")].status}' "${2:-default}")" = True ]; }
phx_wait_settled() { wait_for "${3:-30}" "$1 settled (N/N Healthy, no leftover pods)" phx_is_settled "$1" "${2:-default}"; }

# The endpoints history of a Service as JSON: phx_history NAME [NS] [SINCE_MS]
phx_history() {
	local q=""
	[ -n "${3:-}" ] && q="?sinceMs=$3"
	sim_control "$SIM_URL/sim/v1/endpoints/${2:-default}/$1/history$q"
}

phx_history_reset() { sim_control -X POST "$SIM_URL/sim/v1/endpoints/${2:-default}/$1/history/reset" >/dev/null; }

# A field of the history stats: phx_hist_stat JSON FIELD
phx_hist_stat() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["stats"][sys.argv[2]])' "$1" "$2"; }

# Prints the max zero-endpoint duration (ms) of the history JSON, 0 when none.
phx_hist_zero_max() {
	python3 -c 'import json,sys; s=json.loads(sys.argv[1])["stats"]; print(s.get("zeroMaxMs",0) if s.get("zeroMoments",0) else 0)' "$1"
}

# Succeeds when some pod other than $2 is a ready endpoint of Service $1.
phx_other_serving() {
	local eps
	eps=$(k get endpoints "$1" -n "${3:-default}" -o 'jsonpath={.subsets[*].addresses[*].targetRef.name}')
	[ -n "$eps" ] || return 1
	for p in $eps; do [ "$p" != "$2" ] && return 0; done
	return 1
}

# Counts Events with this reason about a PhoenixService (aggregated repeats count each).
phx_event_count() {
	k get events -n "${3:-default}" -o json | python3 -c '
import json, sys
n = 0
for e in json.load(sys.stdin).get("items", []):
    if e.get("involvedObject", {}).get("name") == sys.argv[1] and e.get("reason") == sys.argv[2]:
        n += e.get("count") or 1
print(n)' "$1" "$2"
}

# phx_wait_events NAME REASON N: waits (scaled deadline) until at least N such Events exist.
# Events are written asynchronously (their own client and queue), after the action they record.
phx_events_at_least() { [ "$(phx_event_count "$1" "$2")" -ge "$3" ]; }
phx_wait_events() { wait_for 5 "$3 $2 Event(s) about $1" phx_events_at_least "$1" "$2" "$3"; }

sim_pod_op() {
	sim_control -X POST "$SIM_URL/sim/v1/pods/$1/$2/$3" -d "${4:-{\}}" >/dev/null
}

# Milliseconds since the epoch (for history windows).
now_ms() { date +%s%3N; }

# kubesim with the CRD, a controller "ctl" and the sample service hello settled.
phx_start_hello() {
	sim_start
	phx_install_crd
	phx_start_controller ctl
	k apply -f "$PHX_ROOT/manifests/samples/minimal.yaml" >/dev/null
	phx_wait_settled hello
}

# A PhoenixService of the example service (examples/contract-service) on port 8080 behind its
# Service on port 80, with the default heartbeat: phx_apply_contract_service NAME IMAGE.
phx_apply_contract_service() {
	k apply -f - >/dev/null <<EOT
apiVersion: phoenix.fpai.io/v1alpha1
kind: PhoenixService
metadata: {name: $1}
spec:
  standbys: 2
  heartbeat: {path: /health, port: http} # the CRD defaults: every 1 s, NotReady after 2 failures
  service:
    ports: [{name: http, port: 80, targetPort: http}]
  template:
    spec:
      containers:
        - name: app
          image: $2
          env:
            - {name: SERVICE_NAME, value: $1}
            - {name: PORT, value: "8080"}
            - name: POD_IP
              valueFrom: {fieldRef: {fieldPath: status.podIP}}
          ports: [{name: http, containerPort: 8080}]
EOT
}
