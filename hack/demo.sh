#!/usr/bin/env bash
# The README's first command: builds Phoenix, starts kubesim (the Kubernetes API simulator), runs
# the operator against it (3 replicas, one leader), applies the five core services, kills a
# primary and shows the failover and the recovery as they happen, then stops the operator's
# leader and shows a standby replica take over. Ctrl-C stops every process it started.
#   hack/demo.sh                      run, then keep the cluster up for exploring until Ctrl-C
#   hack/demo.sh --non-interactive    run through and exit (also PHX_DEMO_NONINTERACTIVE=1)
#   hack/demo.sh --up [--kubeconfig-out FILE]
#                                     only the playground (kubesim, the CRD, the operator's 3
#                                     replicas), no story: prints the export KUBECONFIG=... line
#                                     (and writes the kubeconfig's path to FILE) and stays up
#                                     until Ctrl-C, for trying your own manifests
# kubesim runs pods as local processes (--run-pods, the samples' image mapped to the example
# service) when this checkout's kubesim has it; PHX_DEMO_RUN_PODS=0 turns that off.
# Every wait has a deadline: when a step does not happen in time the demo says which and exits 1.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
interactive=1
up=0
kubeconfig_out=""
[ "${PHX_DEMO_NONINTERACTIVE:-0}" = 1 ] && interactive=0
while [ $# -gt 0 ]; do
	case "$1" in
	--non-interactive | -y) interactive=0 ;;
	--up) up=1 ;;
	--kubeconfig-out)
		[ $# -ge 2 ] && [ -n "$2" ] || { echo "demo: --kubeconfig-out needs a file name" >&2; exit 2; }
		kubeconfig_out=$2
		shift
		;;
	--kubeconfig-out=*) kubeconfig_out=${1#*=} ;;
	-h | --help) sed -n '2,/^[^#]/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "demo: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
	shift
done
[ -z "$kubeconfig_out" ] || [ $up = 1 ] || { echo "demo: --kubeconfig-out goes with --up" >&2; exit 2; }

build=${PHX_DEMO_BUILD:-$root/build}
bin=${PHX_BIN:-$build/bin}
state=${PHX_DEMO_DIR:-$build/demo}
ns=phoenix-demo
victim=intent-queue
samples=(intent-queue governance sovereign-factory build-executor registry)
# Replacement pods take this long to become Ready in kubesim, so the recovery is visible.
ready_delay_ms=${PHX_DEMO_POD_READY_MS:-1500}

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
	B=$'\033[1m' G=$'\033[32m' Y=$'\033[33m' R=$'\033[31m' C=$'\033[36m' N=$'\033[0m'
else
	B='' G='' Y='' R='' C='' N=''
fi
step() { printf '\n%s==> %s%s\n' "$B$C" "$*" "$N"; }
note() { printf '    %s\n' "$*"; }
die() { printf '\n%sdemo: %s%s\n' "$R" "$*" "$N" >&2; exit 1; }
run() { printf '%s$ %s%s\n' "$B" "$*" "$N"; "$@"; }

# --- processes: we record every pid we start and stop exactly those ------------------------
pids=()
cleanup() {
	local p
	trap - INT TERM EXIT
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	rm -f "$state/pids"
}
on_signal() {
	printf '\n%sdemo: interrupted, stopping what it started%s\n' "$Y" "$N" >&2
	cleanup
	exit 130
}
trap on_signal INT TERM
trap cleanup EXIT

start_bg() { # name logfile cmd...: start a process in the background and remember it
	local name=$1 log=$2
	shift 2
	"$@" >"$log" 2>&1 &
	pids+=($!)
	echo "$! $name" >>"$state/pids"
}

# A previous run that was killed hard may have left its processes behind: stop those (and only
# those: the pid must still run the binary we started from this state directory).
stop_previous() {
	local pid name
	[ -f "$state/pids" ] || return 0
	while read -r pid name; do
		if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$state"; then
			note "stopping $name (pid $pid) left over from a previous run"
			kill "$pid" 2>/dev/null
		fi
	done <"$state/pids"
	rm -f "$state/pids"
}

# wait_for DESCRIPTION SECONDS CMD...: polls CMD until it succeeds; dies with DESCRIPTION.
wait_for() {
	local what=$1 secs=$2 deadline
	shift 2
	deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.2
	done
	return 0
}

free_port() { # first free TCP port on 127.0.0.1 at or above $1
	local p=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
	echo "$p"
}

phase_of() { kubectl -n "$ns" get phx "$1" -o jsonpath='{.status.phase}' 2>/dev/null; }
all_healthy() {
	local s
	for s in "${samples[@]}"; do
		[ "$(phase_of "$s")" = Healthy ] || return 1
		[ "$(kubectl -n "$ns" get phx "$s" -o jsonpath='{.status.readyDisplay}')" = 3/3 ] || return 1
	done
}
primary_of() { kubectl -n "$ns" get phx "$1" -o jsonpath='{.status.primary}' 2>/dev/null; }
failovers_of() { kubectl -n "$ns" get phx "$1" -o jsonpath='{.status.failovers}' 2>/dev/null; }
failover_seen() {
	case "$(phase_of "$victim")" in FailingOver | Recovering | Degraded) return 0 ;; esac
	[ "$1" -lt "$(failovers_of "$victim" || echo 0)" ]
}
recovered() { # victim healthy again, with the failover counted and a new primary
	[ "$(phase_of "$victim")" = Healthy ] &&
		[ "$(kubectl -n "$ns" get phx "$victim" -o jsonpath='{.status.readyDisplay}')" = 3/3 ] &&
		[ "${1:-0}" -lt "$(failovers_of "$victim" || echo 0)" ] &&
		[ -n "$(primary_of "$victim")" ] && [ "$(primary_of "$victim")" != "$2" ]
}

# --- 1. dependencies and build --------------------------------------------------------------
mkdir -p "$state"
stop_previous

step "Installing what is missing (hack/install-deps.sh --no-helm: the demo does not use helm)"
"$root/hack/install-deps.sh" --no-helm || die "dependency installation failed"
export PATH="$root/.tools/bin:$bin:$PATH"

step "Building kubesim, the operator and the kubectl plugin (the first build takes a minute)"
if [ -z "${PHX_BIN:-}" ]; then
	cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$state/cmake.log" 2>&1 ||
		{ cat "$state/cmake.log"; die "cmake configure failed"; }
	# Build only what the demo runs, and only what this checkout has sources for (the checks
	# below say what is missing).
	targets=()
	[ -f "$root/tests/kubesim/main.c" ] && targets+=(kubesim)
	[ -f "$root/controller/main.c" ] && targets+=(phoenix-controller)
	compgen -G "$root/plugin/*.c" >/dev/null && targets+=(kubectl-phoenix)
	# What pods run with --run-pods, and the load generator of the failover's traffic.
	[ -f "$root/examples/contract-service/contract_service.c" ] && targets+=(phoenix-contract-service)
	[ -f "$root/bench/phx_loadgen.c" ] && targets+=(phx_loadgen)
	[ ${#targets[@]} -gt 0 ] || die "no target to build: is the checkout complete?"
	cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target "${targets[@]}" >"$state/build.log" 2>&1 ||
		{ tail -30 "$state/build.log"; die "build failed (full log: $state/build.log)"; }
fi
[ -x "$bin/kubesim" ] || die "kubesim is not built ($bin/kubesim missing): the simulator has not landed in this checkout yet"
for b in phoenix-controller kubectl-phoenix; do
	[ -x "$bin/$b" ] || die "$b is not built ($bin/$b missing): this checkout does not have it yet, so the demo stops here"
done
note "binaries in $bin"

# --- 2. the cluster ---------------------------------------------------------------------------
step "Starting kubesim, a Kubernetes API simulator the real kubectl and helm talk to"
kubeconfig="$state/kubeconfig"
rm -f "$kubeconfig"
[ -z "$kubeconfig_out" ] || rm -f "$kubeconfig_out"
# Real processes behind the pods and a Service proxy, when this kubesim has them.
sim_flags=()
sim_help=$("$bin/kubesim" --help 2>&1)
run_pods=0
if [ "${PHX_DEMO_RUN_PODS:-1}" != 0 ] && grep -Eq -- '^ *--run-pods ' <<<"$sim_help" &&
	[ -x "$bin/phoenix-contract-service" ]; then
	run_pods=1
	sim_flags+=(--run-pods --image-map "phoenix/contract-service:dev=$bin/phoenix-contract-service")
	grep -Eq -- '^ *--proxy ' <<<"$sim_help" && sim_flags+=(--proxy)
	# An image store for the Build's `local` builder (its step runs $bin/phoenix-build), so a
	# Build or an Intent with imageBuild {builder: local, localStore: $state/images} runs here.
	if grep -Eq -- '^ *--image-store ' <<<"$sim_help"; then
		rm -rf "$state/images" && mkdir -p "$state/images"
		sim_flags+=(--image-store "$state/images")
	fi
fi
PATH="$bin:$PATH" start_bg kubesim "$state/kubesim.log" "$bin/kubesim" --listen 127.0.0.1:0 --kubeconfig-out "$kubeconfig" \
	--nodes 3 --pod-ready-delay-ms "$ready_delay_ms" "${sim_flags[@]}"
wait_for "kubesim" 15 test -s "$kubeconfig" || { cat "$state/kubesim.log"; die "kubesim did not write $kubeconfig within 15 s"; }
export KUBECONFIG="$kubeconfig"
# kubectl caches discovery per host:port; a previous kubesim on the same port had other CRDs.
export KUBECACHEDIR="$state/kube-cache"
rm -rf "$KUBECACHEDIR"
wait_for "the API" 15 kubectl version || die "kubesim does not answer kubectl within 15 s (log: $state/kubesim.log)"
server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
note "kubesim serves $server; kubeconfig: $kubeconfig"
run kubectl get nodes

step "Installing the PhoenixService CRD"
run kubectl apply -f "$root/manifests/crds/"
kubectl wait --for condition=established --timeout=20s crd/phoenixservices.phoenix.fpai.io >/dev/null ||
	die "the CRD was not established within 20 s"
kubectl create namespace "$ns" >/dev/null

# --- 3. the operator ---------------------------------------------------------------------------
# Three replicas, like the Helm chart: one leader elected through a Lease, two hot standbys.
step "Running the operator (phoenix-controller) against kubesim: 3 replicas, one leader"
lease=phoenix-demo-leader
replicas=3
mports=() hports=() dports=() op_pids=()
port=18080
for i in $(seq 1 $replicas); do
	mports[i]=$(free_port $port)
	hports[i]=$(free_port $((mports[i] + 1)))
	dports[i]=$(free_port $((hports[i] + 1)))
	port=$((dports[i] + 1))
	# POD_NAME is the replica's identity in the Lease, as in a cluster.
	POD_NAME=operator-$i start_bg "operator-$i" "$state/operator-$i.log" "$bin/phoenix-controller" \
		--kubeconfig "$kubeconfig" --metrics-bind-address "127.0.0.1:${mports[i]}" \
		--health-probe-bind-address "127.0.0.1:${hports[i]}" \
		--dashboard-bind-address "127.0.0.1:${dports[i]}" \
		--leader-elect --leader-election-namespace "$ns" --leader-election-id "$lease"
	op_pids[i]=${pids[-1]}
done
for i in $(seq 1 $replicas); do
	wait_for "operator-$i ready" 20 curl -fsS "http://127.0.0.1:${hports[i]}/readyz" ||
		{ tail -20 "$state/operator-$i.log"; die "operator-$i did not become ready within 20 s"; }
done
leader_of() { kubectl -n "$ns" get lease "$lease" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
has_leader() { [ -n "$(leader_of)" ]; }
wait_for "a leader" 30 has_leader || die "no replica took the Lease $ns/$lease within 30 s"
leader=$(leader_of)
li=${leader#operator-}
note "${G}3 replicas ready (caches synced); the leader is $leader${N}, the other two are hot standbys"
note "leader's metrics: http://127.0.0.1:${mports[li]}/metrics   web dashboard: kubectl phoenix dashboard --target http://127.0.0.1:${dports[li]}"
note "logs: $state/operator-{1,2,3}.log"

# --- --up: the playground only -------------------------------------------------------------
if [ $up = 1 ]; then
	if [ -n "$kubeconfig_out" ]; then
		{ printf '%s\n' "$kubeconfig" >"$kubeconfig_out.tmp.$$" && mv -f "$kubeconfig_out.tmp.$$" "$kubeconfig_out"; } ||
			die "cannot write $kubeconfig_out"
	fi
	step "The playground is up"
	[ $run_pods = 1 ] && note "pods run as local processes; the image phoenix/contract-service:dev is $bin/phoenix-contract-service"
	[ -d "$state/images" ] && note "image store for Builds: imageBuild {builder: local, localStore: $state/images} (docs/user-guide.md, 'From a few sentences to a running service')"
	cat <<EOF
    export KUBECONFIG=$kubeconfig KUBECACHEDIR=$KUBECACHEDIR PATH=$bin:\$PATH
    kubectl create namespace try && kubectl -n try apply -f $root/manifests/samples/registry.yaml
    kubectl get phx -A -w
    kubectl phoenix status -n try
EOF
	printf '\n%sPress Ctrl-C to stop kubesim and the operator.%s\n' "$B" "$N"
	while :; do sleep 1; done
fi

# --- 4. the services -----------------------------------------------------------------------
step "Protecting the five core services: 1 primary + 2 hot standbys each"
files=()
for s in "${samples[@]}"; do files+=(-f "$root/manifests/samples/$s.yaml"); done
run kubectl -n "$ns" apply "${files[@]}"
wait_for "healthy" 60 all_healthy || {
	kubectl -n "$ns" get phx
	die "the services did not all reach 3/3 Healthy within 60 s (operator logs: $state/operator-*.log)"
}
run kubectl -n "$ns" get phx
run kubectl -n "$ns" get pods -l phoenix.fpai.io/service="$victim" -L phoenix.fpai.io/role,phoenix.fpai.io/serving
echo
run kubectl phoenix status -n "$ns" --operator-namespace "$ns" --leader-election-id "$lease"

# --- 5. the failover ---------------------------------------------------------------------------
# kubesim records every change of a Service's ready endpoints (its /sim/v1 control API, not
# part of Kubernetes): it shows exactly what clients of the Service saw during the failover.
sim_history() { kubectl get --raw "/sim/v1/endpoints/$ns/$victim/history${1:+?sinceMs=$1}" 2>/dev/null; }
json_num() { grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2; }
since=$(sim_history | json_num nowMs)
old_primary=$(primary_of "$victim")
before=$(failovers_of "$victim")
# With real processes behind the pods, clients' requests through the Service tell the story.
lg_pid=""
vip=$(kubectl -n "$ns" get svc "$victim" -o jsonpath='{.spec.clusterIP}' 2>/dev/null)
vport=$(kubectl -n "$ns" get svc "$victim" -o jsonpath='{.spec.ports[0].port}' 2>/dev/null)
if [ $run_pods = 1 ] && [ -x "$bin/phx_loadgen" ] && [[ "$vip" == 127.* ]]; then
	rm -f "$state/loadgen.json"
	start_bg loadgen "$state/loadgen.log" "$bin/phx_loadgen" --url "http://$vip:$vport/health" \
		--rate 50 --duration 0 --timeout-ms 1000 --quiet --out "$state/loadgen.json"
	lg_pid=${pids[-1]}
	note "a client sends 50 requests/s to http://$vip:$vport/health (the Service's address) throughout"
fi
step "Killing the primary of $victim ($old_primary)"
run kubectl -n "$ns" delete pod "$old_primary" --wait=false
# The reaction takes milliseconds: by the time we look, standbys already serve and the
# replacements are starting (they take ${ready_delay_ms} ms to become Ready in kubesim).
wait_for "failover seen" 10 failover_seen "$before" || die "no failover within 10 s of the kill"
step "During the failover"
run kubectl phoenix status -n "$ns" --operator-namespace "$ns" --leader-election-id "$lease" "$victim"
echo
printf '%s$ kubectl -n %s get endpoints %s -o jsonpath=...%s\n' "$B" "$ns" "$victim" "$N"
printf 'pods behind the Service now: %s\n' \
	"$(kubectl -n "$ns" get endpoints "$victim" -o jsonpath='{range .subsets[*].addresses[*]}{.targetRef.name}{" "}{end}')"

wait_for "recovered" 60 recovered "$before" "$old_primary" ||
	{ kubectl -n "$ns" get phx "$victim"; die "$victim did not recover to 3/3 Healthy within 60 s"; }

step "After: recovered"
run kubectl phoenix status -n "$ns" --operator-namespace "$ns" --leader-election-id "$lease"
echo
run kubectl -n "$ns" get phx "$victim" -o wide
echo
run kubectl -n "$ns" get events --field-selector involvedObject.kind=PhoenixService,involvedObject.name="$victim" \
	--sort-by=.lastTimestamp
if [ -n "$since" ] && h=$(sim_history "$since") && [ -n "$h" ]; then
	printf '\n%sThe Service'"'"'s endpoints through the failover (recorded by kubesim):%s\n' "$B" "$N"
	grep -o '"time":"[^"]*","count":[0-9]*,"ready":\[[^]]*\]' <<<"$h" |
		sed -E 's/"time":"([^"]*)","count":([0-9]*),"ready":\[([^]]*)\]/    \1  \2 serving: \3/; s/"//g; s/,/, /g'
	min=$(json_num minReady <<<"$h")
	zero=$(json_num zeroMoments <<<"$h")
	if [ "${zero:-1}" = 0 ]; then
		printf '    %snever empty: at least %s pod(s) served at every moment%s\n' "$G" "${min:-?}" "$N"
	else
		printf '    %sthe Service had no ready endpoint for %s ms in total (%s time(s)): the deleted pod left\n' \
			"$Y" "$(json_num zeroTotalMs <<<"$h")" "$zero"
		printf '    the endpoints before the operator'"'"'s reaction labelled a standby serving%s\n' "$N"
	fi
fi
if [ -n "$lg_pid" ]; then
	kill -INT "$lg_pid" 2>/dev/null
	wait "$lg_pid" 2>/dev/null
	if [ -s "$state/loadgen.json" ]; then
		lg() { grep -o "\"$1\":[[:space:]]*[0-9.]*" "$state/loadgen.json" | head -1 | sed 's/.*:[[:space:]]*//'; }
		printf '\n%sRequests through the Service during the failover:%s %s sent, %s served, %s failed\n' \
			"$B" "$N" "$(lg sent)" "$(lg ok)" "$(lg failed)"
		[ "$(lg failed)" = 0 ] || note "failures and when they happened: $state/loadgen.json"
	fi
fi
reaction=$(kubectl -n "$ns" get phx "$victim" -o jsonpath='{.status.lastFailoverReactionMs}')
recovery=$(kubectl -n "$ns" get phx "$victim" -o jsonpath='{.status.lastRecoverySeconds}')
printf '\n%sFailover complete:%s %s lost its primary %s; a standby was serving after %s ms, and the\n' \
	"$B$G" "$N" "$victim" "$old_primary" "${reaction:-?}"
printf 'service was back to 1 primary + 2 standbys after %s s. New primary: %s.\n' "${recovery:-?}" "$(primary_of "$victim")"

# --- 6. the operator protects itself ----------------------------------------------------------
step "The operator protects itself: stopping the leader ($leader)"
printf '%s$ kill %s   # SIGTERM: the leader releases the Lease as it stops%s\n' "$B" "${op_pids[li]}" "$N"
t0=$SECONDS
kill "${op_pids[li]}"
new_leader() { local l; l=$(leader_of); [ -n "$l" ] && [ "$l" != "$leader" ]; }
wait_for "a new leader" 30 new_leader || die "no standby replica took over the Lease within 30 s"
old_leader=$leader
leader=$(leader_of)
li=${leader#operator-}
note "${G}$leader took over from $old_leader within $((SECONDS - t0)) s${N}; it had warm caches, so it acts at once"
victim2=governance
before2=$(failovers_of "$victim2")
old2=$(primary_of "$victim2")
step "Killing the primary of $victim2 ($old2): the new leader handles it"
run kubectl -n "$ns" delete pod "$old2" --wait=false
recovered2() {
	[ "$(phase_of "$victim2")" = Healthy ] &&
		[ "$(kubectl -n "$ns" get phx "$victim2" -o jsonpath='{.status.readyDisplay}')" = 3/3 ] &&
		[ "${before2:-0}" -lt "$(failovers_of "$victim2" || echo 0)" ]
}
wait_for "recovered" 60 recovered2 || { kubectl -n "$ns" get phx "$victim2"; die "$victim2 did not recover within 60 s"; }
run kubectl -n "$ns" get phx
printf '\n%s%s recovered under the new leader %s: reaction %s ms.%s\n' "$B$G" "$victim2" "$leader" \
	"$(kubectl -n "$ns" get phx "$victim2" -o jsonpath='{.status.lastFailoverReactionMs}')" "$N"

# --- 7. what next --------------------------------------------------------------------------
step "Keep exploring"
cat <<EOF
    export KUBECONFIG=$kubeconfig KUBECACHEDIR=$KUBECACHEDIR PATH=$bin:\$PATH
    kubectl get phx -n $ns -w                    # watch the services
    kubectl phoenix status -n $ns -w --operator-namespace $ns --leader-election-id $lease   # the dashboard, live
    kubectl delete pod -n $ns \$(kubectl get phx -n $ns registry -o jsonpath='{.status.primary}')
    kubectl phoenix switchover -n $ns intent-queue   # hand the primary role to a standby
    kubectl phoenix pause -n $ns build-executor      # the operator keeps its hands off
    kubectl get lease -n $ns $lease      # who leads the operator
    kubectl phoenix dashboard --target http://127.0.0.1:${dports[li]}   # the web dashboard (open the URL it prints)
    curl -s http://127.0.0.1:${mports[li]}/metrics | grep ^phoenix_
    less $state/operator-$li.log
EOF
if [ $interactive = 1 ]; then
	printf '\n%sThe cluster and the operator keep running. Press Ctrl-C to stop them.%s\n' "$B" "$N"
	while :; do sleep 1; done
fi
echo
note "non-interactive run: stopping kubesim and the operator"
exit 0
