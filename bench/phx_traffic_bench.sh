#!/usr/bin/env bash
# Zero downtime measured in requests (run by hand, never by hack/test.sh; prints numbers).
#   bench/phx_traffic_bench.sh [--kills N] [--rate R] [--kinds k,k,...] [--targets t,t,...]
#                              [--path /capabilities] [--out FILE]
# kubesim --run-pods --proxy runs the example service (phoenix/contract-service:dev) as real
# processes; bench/phx_loadgen sends R requests/s (default 50), each on a new connection, to
# GET PATH (--path, default /capabilities: not /health, which answers 503 by design while a pod
# drains) on the Service's clusterIP while the serving pod is killed N times (default 3)
# in each way:
#   sigkill    the container's process gets SIGKILL          (control API: pods/.../signal)
#   sigstop    its processes are frozen (SIGSTOP), thawed after (pods/.../freeze, thaw)
#   readiness  its probes fail (pods/.../block-probes), restored after
#   delete     kubectl delete pod (graceful: SIGTERM, the service drains)
#   nodedown   its node goes down (nodes/.../down), up after
#   switchover kubectl phoenix switchover (PhoenixService only)
#   rollout    a template change (PhoenixService) / kubectl rollout restart (Deployments)
# against three targets behind a Service: phx (a PhoenixService, 1 primary + 2 standbys, its default heartbeat),
# dep1 and dep3 (Deployments with 1 and 3 replicas, readinessProbe GET /health every 5 s,
# failureThreshold 3, timeout 1 s: common settings). After each kill it waits until the target
# is whole again (at most 30 s; a baseline that never heals, e.g. a frozen single replica, is
# then restored by hand: thaw / unblock / node up). Per target and kind: requests sent, failed,
# failed per kill, latency p50/p99/max, time without a ready endpoint (kubesim's endpoints
# history), the longest run of failed requests, and in the --out rows what the proxy saw
# (connections reset for want of an endpoint, or because the chosen backend refused, and which);
# then the ratio of PhoenixService failures to each baseline's. A kind the control API does not offer is reported "not measured".
set -euo pipefail
PHX_ROOT=${PHX_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
export PHX_E2E_WAIT_SCALE=${PHX_E2E_WAIT_SCALE:-1}
source "$PHX_ROOT/tests/e2e/lib.sh"
source "$PHX_ROOT/tests/e2e/phx_helpers.sh"

kills=3 rate=50 path=/capabilities
kinds=sigkill,sigstop,readiness,delete,nodedown,switchover,rollout
targets=phx,dep1,dep3
out="$PHX_ROOT/build/bench-traffic.json"
while [ $# -gt 0 ]; do
	case "$1" in
	--kills) kills=$2; shift ;;
	--rate) rate=$2; shift ;;
	--kinds) kinds=$2; shift ;;
	--targets) targets=$2; shift ;;
	--out) out=$2; shift ;;
	--path) path=$2; shift ;;
	-h | --help) sed -n '2,/^set /p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "phx_traffic_bench: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
for b in kubesim phoenix-controller phoenix-contract-service phx_loadgen kubectl-phoenix; do
	[ -x "$PHX_BIN/$b" ] || fail "$PHX_BIN/$b is not built"
done
"$PHX_BIN/kubesim" --help 2>&1 | grep -Eq -- '^ *--run-pods ' ||
	fail "this kubesim has no --run-pods: nothing can be measured (merge the runpods work first)"

image=phoenix/contract-service:dev
sim_start --run-pods --proxy --image-map "$image=$PHX_BIN/phoenix-contract-service" --nodes 3
phx_install_crd
phx_start_controller ctl
ns=default
rows="$E2E_TMP/rows.jsonl"
: >"$rows"

# --- targets ----------------------------------------------------------------------------------
container_env='
            - {name: PORT, value: "8080"}
            - name: POD_IP
              valueFrom: {fieldRef: {fieldPath: status.podIP}}'
deployment() { # NAME REPLICAS
	k apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1}
spec:
  replicas: $2
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      containers:
        - name: app
          image: $image
          env:
            - {name: SERVICE_NAME, value: $1}$container_env
          ports: [{name: http, containerPort: 8080}]
          readinessProbe:
            httpGet: {path: /health, port: http}
            periodSeconds: 5
            timeoutSeconds: 1
            failureThreshold: 3
---
apiVersion: v1
kind: Service
metadata: {name: $1}
spec:
  selector: {app: $1}
  ports: [{name: http, port: 80, targetPort: http}]
EOF
}
phoenixservice() { phx_apply_contract_service "$1" "$image"; } # NAME

svc_of() { case "$1" in phx) echo phx-svc ;; *) echo "$1" ;; esac; }
replicas_of() { case "$1" in dep1) echo 1 ;; *) echo 3 ;; esac; }
dep_whole() { # all replicas updated, ready, in the endpoints, nothing terminating
	local d=$1 want
	want=$(replicas_of "$d")
	[ "$(k get deploy "$d" -o jsonpath='{.status.readyReplicas}')" = "$want" ] || return 1
	[ "$(k get deploy "$d" -o jsonpath='{.status.updatedReplicas}')" = "$want" ] || return 1
	[ "$(k get pods -l "app=$d" --no-headers 2>/dev/null | wc -l)" -eq "$want" ] || return 1
	[ "$(k get endpoints "$d" -o jsonpath='{.subsets[*].addresses[*].ip}' | wc -w)" -eq "$want" ]
}
whole() { # TARGET
	case "$1" in
	phx) phx_is_settled phx-svc "$ns" ;;
	*) dep_whole "$1" ;;
	esac
}
victim_of() { # the pod serving now: the primary, or the first ready endpoint
	case "$1" in
	phx) phx_get phx-svc '{.status.primary}' "$ns" ;;
	*) k get endpoints "$1" -o jsonpath='{.subsets[0].addresses[0].targetRef.name}' ;;
	esac
}

for t in ${targets//,/ }; do
	case "$t" in
	phx) phoenixservice phx-svc ;;
	dep1) deployment dep1 1 ;;
	dep3) deployment dep3 3 ;;
	*) fail "unknown target $t" ;;
	esac
done
for t in ${targets//,/ }; do
	wait_for 120 "$t whole" whole "$t"
done
for t in ${targets//,/ }; do
	cip=$(k get svc "$(svc_of "$t")" -o jsonpath='{.spec.clusterIP}')
	wait_for 30 "$t answers on $cip:80" curl -sf --max-time 2 "http://$cip:80/health"
done

# --- kills ------------------------------------------------------------------------------------
ctl() { sim_curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	"$SIM_URL/sim/v1/$1" -d "${2:-{\}}"; }
node_of() { k get pod "$1" -o jsonpath='{.spec.nodeName}'; }
rev=0
# kill TARGET KIND POD: 0 done, 3 not applicable/offered. Sets UNDO to what restores it.
kill_one() {
	local t=$1 kind=$2 pod=$3 code
	UNDO=""
	case "$kind" in
	sigkill) code=$(ctl "pods/$ns/$pod/signal" '{"signal":"KILL"}') ;;
	sigstop) code=$(ctl "pods/$ns/$pod/freeze") UNDO="pods/$ns/$pod/thaw" ;;
	readiness) code=$(ctl "pods/$ns/$pod/block-probes") UNDO="pods/$ns/$pod/unblock-probes" ;;
	nodedown)
		local node
		node=$(node_of "$pod")
		code=$(ctl "nodes/$node/down") UNDO="nodes/$node/up"
		;;
	delete) k delete pod "$pod" --wait=false >/dev/null && code=200 ;;
	switchover)
		[ "$t" = phx ] || return 3
		KUBECONFIG=$KUBECONFIG "$PHX_BIN/kubectl-phoenix" switchover phx-svc -n "$ns" >/dev/null && code=200
		;;
	rollout)
		rev=$((rev + 1))
		if [ "$t" = phx ]; then
			k patch phx phx-svc --type merge \
				-p "{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"bench/rev\":\"$rev\"}}}}}" >/dev/null && code=200
		else
			k rollout restart "deployment/$t" >/dev/null && code=200
		fi
		;;
	esac
	case "${code:-000}" in 2*) return 0 ;; 404 | 400) return 3 ;; *) return 1 ;; esac
}
restarts_of() { k get pod "$1" -o json 2>/dev/null | jq '[.status.containerStatuses[]?.restartCount] | add // 0' 2>/dev/null || echo 0; }
# The kill shows: not whole, another pod serves, or the victim's containers restarted (a SIGKILLed
# container can be restarted faster than the 0.2 s poll sees it not whole).
took_effect() { ! whole "$1" || [ "$(victim_of "$1")" != "$2" ] || [ "$(restarts_of "$2")" -gt "$3" ]; }
within() { # SECS CMD...: polls CMD until it succeeds or SECS pass; returns its last status
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.2
	done
}

proxy_port() { # SERVICE: the proxy's counters of its first port
	sim_control "$SIM_URL/sim/v1/proxy" | jq -c --arg n "$1" \
		'[.services[] | select(.name == $n) | .ports[0]][0] // {}'
}
measure() { # TARGET KIND
	local t=$1 kind=$2 svc cip lg_pid since i pod st r0 done_kills=0 na=0 hist
	svc=$(svc_of "$t")
	cip=$(k get svc "$svc" -o jsonpath='{.spec.clusterIP}')
	since=$(sim_control "$SIM_URL/sim/v1/time" | jq .monoMs)
	local px0 px1
	px0=$(proxy_port "$svc")
	"$PHX_BIN/phx_loadgen" --url "http://$cip:80$path" --rate "$rate" --duration 0 \
		--timeout-ms 1000 --quiet --out "$E2E_TMP/lg-$t-$kind.json" &
	lg_pid=$!
	on_exit "kill $lg_pid 2>/dev/null || true"
	for i in $(seq 1 "$kills"); do
		pod=$(victim_of "$t")
		[ -n "$pod" ] || { echo "  $t: no serving pod" >&2; break; }
		st=0
		r0=$(restarts_of "$pod")
		kill_one "$t" "$kind" "$pod" || st=$?
		if [ $st = 3 ]; then na=1; break; fi
		[ $st = 0 ] || { echo "  $t $kind: the kill failed" >&2; break; }
		done_kills=$((done_kills + 1))
		# the kill shows (not whole, or another pod serves), then whole again within 30 s;
		# else restore by hand (thaw, unblock, node up) and wait again
		within 30 took_effect "$t" "$pod" "$r0" || echo "  $t $kind: no effect seen within 30 s" >&2
		within 30 whole "$t" || true
		[ -z "$UNDO" ] || ctl "$UNDO" >/dev/null || true
		wait_for 120 "$t whole after $kind" whole "$t"
	done
	kill -INT "$lg_pid"
	wait "$lg_pid" || true
	if [ $na = 1 ]; then
		printf '{"target":"%s","kind":"%s","measured":false}\n' "$t" "$kind" >>"$rows"
		return
	fi
	hist=$(sim_control "$SIM_URL/sim/v1/endpoints/$ns/$svc/history?sinceMs=$since")
	px1=$(proxy_port "$svc")
	jq -c --arg t "$t" --arg k "$kind" --argjson n "$done_kills" --argjson h "$hist" \
		--argjson p0 "$px0" --argjson p1 "$px1" '{
		target: $t, kind: $k, measured: true, kills: $n, sent, failed,
		failedPerKill: (if $n > 0 then (.failed / $n) else null end),
		p50: .latencyMs.p50, p99: .latencyMs.p99, max: .latencyMs.max,
		noEndpointMs: $h.stats.zeroTotalMs, longestFailMs: (.longestFailureRun.spanMs // 0),
		errors,
		proxyNoEndpoint: (($p1.noEndpoint // 0) - ($p0.noEndpoint // 0)),
		proxyBackendFailed: (($p1.backendFailed // 0) - ($p0.backendFailed // 0)),
		lastBackendFailure: $p1.lastBackendFailure}' "$E2E_TMP/lg-$t-$kind.json" >>"$rows"
	tail -n1 "$rows" | jq -r '"  \(.target) \(.kind): sent \(.sent) failed \(.failed)"'
}

for kind in ${kinds//,/ }; do
	for t in ${targets//,/ }; do
		echo "measuring $t $kind ($kills kills at $rate req/s)" >&2
		measure "$t" "$kind"
	done
done

# --- report -------------------------------------------------------------------------------------
jq -s '.' "$rows" >"$out"
echo
printf '%-7s %-10s %5s %7s %6s %8s %7s %7s %8s %11s %10s\n' target kind kills sent failed \
	fail/kill p50ms p99ms maxms noEndpMs longRunMs
jq -r '.[] | if .measured then
	[.target, .kind, .kills, .sent, .failed, (.failedPerKill // 0 | . * 10 | round / 10),
	 (.p50 | . * 10 | round / 10), (.p99 | round), (.max | round), (.noEndpointMs // 0),
	 (.longestFailMs | round)] else [.target, .kind, "not measured"] end | @tsv' "$out" |
	awk -F'\t' 'NF < 5 { printf "%-7s %-10s %s\n", $1, $2, $3; next }
		{ printf "%-7s %-10s %5s %7s %6s %8s %7s %7s %8s %11s %10s\n", $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11 }'
echo
echo "PhoenixService failed requests against each baseline's (ratio; lower is better):"
jq -r '
	def f(t; k): (map(select(.target == t and .kind == k and .measured)) | .[0].failed);
	def ratio(a; b): if a == null or b == null then "-" elif b == 0 then (if a == 0 then "0/0" else "inf" end)
		else ((a / b * 100 | round) / 100 | tostring) end;
	. as $all | (map(.kind) | unique) as $kinds | $kinds[] as $k |
	($all | f("phx"; $k)) as $p | ($all | f("dep1"; $k)) as $d1 | ($all | f("dep3"; $k)) as $d3 |
	"  \($k): phx/dep1 \(ratio($p; $d1)), phx/dep3 \(ratio($p; $d3))   (failed: phx \($p // "-"), dep1 \($d1 // "-"), dep3 \($d3 // "-"))"' "$out"
echo "raw rows: $out"
