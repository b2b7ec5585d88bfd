# Shared harness for the end-to-end tests: starts kubesim, points kubectl and helm at it, and
# cleans everything up. Source it from a test script:
#
#   #!/usr/bin/env bash
#   set -euo pipefail
#   source "$(dirname "$0")/lib.sh"
#   sim_start                      # or: sim_start --nodes 2 --pod-ready-delay-ms 50
#   k apply -f "$PHX_ROOT/manifests/crds/..."
#   wait_for 10 "crd established" k get crd foo.example.com
#   pass "what this proved"        # at the end
#
# What it gives you
#   $PHX_BIN, $PHX_ROOT  build bin dir and repo root (set by ctest; derived when run by hand)
#   $E2E_TMP             a private temp dir, removed on exit (HOME points here, so kubectl and
#                        helm write nothing outside it)
#   sim_start [ARGS]     starts $PHX_BIN/kubesim on 127.0.0.1:0 with --kubeconfig-out; waits
#                        until /readyz answers; sets $KUBECONFIG, $SIM_URL, $SIM_TOKEN, $SIM_CA,
#                        $SIM_PID. Extra ARGS go to kubesim (--http, --nodes N, --history N, ...).
#   sim_stop             SIGTERM and wait (fails the test if kubesim does not exit in 10 s or
#                        exits non-zero). Called by the exit trap if you don't.
#   k ARGS               kubectl with --kubeconfig "$KUBECONFIG" and a per-test --cache-dir
#   h ARGS               helm with the same kubeconfig and private cache/config/data dirs
#   sim_curl ARGS        curl with the CA and bearer token (e.g. sim_curl "$SIM_URL/api/v1/pods")
#   sim_control ARGS     sim_curl against the control API; e.g.
#                        sim_control -X POST "$SIM_URL/sim/v1/..." -d '{...}'
#   wait_for SECS DESC CMD...  re-runs CMD every 0.1 s until it succeeds or SECS x
#                        $PHX_E2E_WAIT_SCALE pass (then fails the test with DESC and CMD's last
#                        output). Never use a fixed sleep. SECS is a correctness bound, not a
#                        speed assertion (speed is measured in bench/); the scale (default 3)
#                        keeps a loaded CI machine (parallel ctest, sanitizer builds) from
#                        failing a correct test, and costs nothing when the test passes.
#   expect_eq WANT GOT DESC, expect_contains HAYSTACK NEEDLE DESC, expect_fail DESC CMD...
#   fail MSG             prints MSG, kubesim's log tail, exits 1
#   pass MSG             prints "PASS: MSG"
#   on_exit CMD          registers extra cleanup (run before kubesim is stopped; output discarded)
#   PHX_E2E_KEEP=1       keep $E2E_TMP (every log) when a test fails, for a post-mortem;
#                        PHX_E2E_KEEP=always keeps it for passing tests too
#   on_failure CMD       registers a diagnostic to print when the test fails (exit status != 0):
#                        run before the on_exit cleanup, output goes to stderr; e.g.
#                        on_failure 'tail -n 40 "$E2E_TMP/operator.log"'
#
# Every process started through this file is stopped by the EXIT trap; tests must start any other
# background process with `&` and register `on_exit "kill $!"`.

set -o pipefail

PHX_ROOT=${PHX_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PHX_BIN=${PHX_BIN:-$PHX_ROOT/build/bin}
export PATH="$PHX_ROOT/.tools/bin:$PHX_BIN:$PATH"

E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/phx-e2e.XXXXXX")
export HOME="$E2E_TMP/home"
mkdir -p "$HOME"
export KUBECACHEDIR="$E2E_TMP/kube-cache"
export HELM_CACHE_HOME="$E2E_TMP/helm/cache"
export HELM_CONFIG_HOME="$E2E_TMP/helm/config"
export HELM_DATA_HOME="$E2E_TMP/helm/data"
SIM_PID=""
SIM_LOG="$E2E_TMP/kubesim.log"
_E2E_CLEANUP=()
_E2E_ON_FAILURE=()

on_exit() { _E2E_CLEANUP+=("$*"); }

on_failure() { _E2E_ON_FAILURE+=("$*"); }

_e2e_exit() {
	local rc=$?
	local c
	if [ "$rc" -ne 0 ]; then
		for c in "${_E2E_ON_FAILURE[@]}"; do eval "$c" >&2 || true; done
	fi
	for c in "${_E2E_CLEANUP[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
	if [ -n "$SIM_PID" ] && kill -0 "$SIM_PID" 2>/dev/null; then
		kill -TERM "$SIM_PID" 2>/dev/null || true
		local i
		for i in $(seq 1 100); do kill -0 "$SIM_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$SIM_PID" 2>/dev/null || true
	fi
	if [ "$rc" -ne 0 ] && [ -f "$SIM_LOG" ]; then
		echo "--- kubesim log (tail) ---" >&2
		tail -n 40 "$SIM_LOG" >&2 || true
	fi
	if { [ "$rc" -ne 0 ] && [ "${PHX_E2E_KEEP:-0}" = 1 ]; } || [ "${PHX_E2E_KEEP:-0}" = always ]; then
		echo "--- kept $E2E_TMP (PHX_E2E_KEEP=${PHX_E2E_KEEP}): logs of kubesim and the controllers ---" >&2
	else
		rm -rf "$E2E_TMP"
	fi
	exit "$rc"
}
trap _e2e_exit EXIT
trap 'exit 130' INT TERM
# A command that set -e stops the test on says so (an assignment from a failing $(...) would
# otherwise end the test with no message at all).
trap '_e2e_rc=$?; echo "FAIL: $(basename "$0") line $LINENO: \`$BASH_COMMAND\` exited with status $_e2e_rc" >&2' ERR

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

pass() { echo "PASS: $*"; }

k() { kubectl --kubeconfig "$KUBECONFIG" --cache-dir "$KUBECACHEDIR" "$@"; }

h() { helm --kubeconfig "$KUBECONFIG" "$@"; }

sim_curl() {
	if [ -n "${SIM_TOKEN:-}" ]; then
		curl -sS --cacert "$SIM_CA" -H "Authorization: Bearer $SIM_TOKEN" "$@"
	else
		curl -sS "$@"
	fi
}

sim_control() { sim_curl -H 'Content-Type: application/json' "$@"; }

wait_for() {
	local secs=$1 desc=$2
	shift 2
	local scaled=$(( ${secs%.*} * ${PHX_E2E_WAIT_SCALE:-3} ))
	local deadline=$((SECONDS + scaled)) out=""
	while :; do
		if out=$("$@" 2>&1); then
			return 0
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "last output of '$*':" >&2
			echo "$out" | tail -n 20 >&2
			fail "timed out after ${scaled}s waiting for: $desc"
		fi
		sleep 0.1
	done
}

expect_eq() {
	[ "$1" = "$2" ] || fail "$3: want '$1', got '$2'"
}

expect_contains() {
	case "$1" in
	*"$2"*) ;;
	*) fail "$3: '$2' not found in: $1" ;;
	esac
}

expect_fail() {
	local desc=$1
	shift
	if "$@" >/dev/null 2>&1; then fail "$desc: command succeeded: $*"; fi
}

sim_start() {
	[ -x "$PHX_BIN/kubesim" ] || fail "kubesim not built at $PHX_BIN/kubesim"
	export KUBECONFIG="$E2E_TMP/kubeconfig"
	local urlfile="$E2E_TMP/kubesim.url"
	"$PHX_BIN/kubesim" --listen 127.0.0.1:0 --kubeconfig-out "$KUBECONFIG" "$@" \
		>"$urlfile" 2>"$SIM_LOG" &
	SIM_PID=$!
	local deadline=$((SECONDS + 10))
	while [ ! -s "$urlfile" ]; do
		kill -0 "$SIM_PID" 2>/dev/null || fail "kubesim exited at start: $(cat "$SIM_LOG")"
		[ "$SECONDS" -lt "$deadline" ] || fail "kubesim did not print its URL within 10 s"
		sleep 0.05
	done
	SIM_URL=$(head -n1 "$urlfile")
	SIM_TOKEN=$(awk '/token:/ {print $2}' "$KUBECONFIG")
	SIM_CA="$E2E_TMP/ca.crt"
	if grep -q certificate-authority-data "$KUBECONFIG"; then
		awk '/certificate-authority-data:/ {print $2}' "$KUBECONFIG" | base64 -d >"$SIM_CA"
	fi
	export SIM_URL SIM_TOKEN SIM_CA SIM_PID
	wait_for 10 "kubesim /readyz" sim_curl -f "$SIM_URL/readyz"
}

sim_stop() {
	[ -n "$SIM_PID" ] || return 0
	kill -TERM "$SIM_PID"
	local i rc=0
	for i in $(seq 1 100); do
		kill -0 "$SIM_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$SIM_PID" 2>/dev/null && fail "kubesim did not exit within 10 s of SIGTERM"
	wait "$SIM_PID" || rc=$?
	SIM_PID=""
	[ "$rc" -eq 0 ] || fail "kubesim exited with status $rc"
}

# --- Backends (PHX_E2E_BACKEND=kubesim|real) ----------------------------------------------------
# kubesim (the default) is everything above. real: sim_start brings up the upstream control plane
# of hack/real-cluster.sh (kube-apiserver, etcd, controller-manager, scheduler, kwok nodes) in
# $E2E_TMP, or reuses a running one when PHX_REAL_KUBECONFIG names its admin kubeconfig (the lane
# in hack/test.sh starts one cluster for all its tests). A reused cluster is reset first: every
# namespace but the system ones is deleted and "default" emptied, with CRDs and the chart's
# cluster-wide RBAC, so each test starts from a fresh cluster's state. kubesim's control API
# (/sim/v1: faults, tokens, pod ops, endpoints history) does not exist there:
#   require_kubesim "reason"   on the real backend: prints "SKIP: <test>: reason", exits 0
#   e2e_backend_is_kubesim     succeeds on kubesim (for the parts of a test that need /sim/v1)
#   sim_control                on the real backend: fails the test naming the call
# sim_curl talks to the real server with the admin client certificate.
PHX_E2E_BACKEND=${PHX_E2E_BACKEND:-kubesim}

e2e_backend_is_kubesim() { [ "$PHX_E2E_BACKEND" != real ]; }

require_kubesim() {
	e2e_backend_is_kubesim && return 0
	echo "SKIP: $(basename "$0"): needs kubesim: $*"
	exit 0
}

if [ "$PHX_E2E_BACKEND" = real ]; then
	REAL_DIR=""

	sim_curl() {
		curl -sS --cacert "$SIM_CA" --cert "$E2E_TMP/real-admin.crt" --key "$E2E_TMP/real-admin.key" "$@"
	}

	sim_control() { fail "kubesim's control API is not available on the real backend (sim_control $*)"; }

	# Deletes what earlier tests left on a shared cluster and waits until it is gone. Ordered so
	# no step waits on another: our custom objects lose their finalizers first (no operator runs
	# between tests to remove them, and a CRD is only deleted once its objects are), then the
	# namespaces go while every CRD still serves (the namespace controller lists every served
	# resource of a namespace; a CRD vanishing under it fails that discovery and sends the
	# namespace into the controller's exponential retry backoff, minutes in the worst case),
	# and only then the CRDs.
	real_reset() {
		local sys='default|kube-system|kube-public|kube-node-lease' ns r n
		for r in $(k api-resources --api-group=phoenix.fpai.io -o name 2>/dev/null); do
			k get "$r" -A -o 'jsonpath={range .items[*]}{.metadata.namespace}{" "}{.metadata.name}{"\n"}{end}' 2>/dev/null |
				while read -r n o; do
					[ -n "$o" ] && k -n "$n" patch "$r" "$o" --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1
				done
		done
		ns=$(k get namespaces -o name | sed 's|^namespace/||' | grep -Ev "^($sys)\$" || true)
		k -n default delete deployments,replicasets,jobs,poddisruptionbudgets,leases,roles,rolebindings \
			--all --cascade=orphan --wait=false >/dev/null 2>&1 || true
		[ -z "$ns" ] || k delete namespace $ns --wait=false >/dev/null 2>&1 || true
		# kwok's pods run nothing: remove them at once rather than wait for kwok to confirm each
		# graceful deletion (a namespace is only gone once its pods are;
		# a terminating one accepts no new pod)
		for n in $ns default; do
			k -n "$n" delete pods --all --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
		done
		for r in $(k api-resources --api-group=phoenix.fpai.io --namespaced -o name 2>/dev/null); do
			k -n default delete "$r" --all --wait=false >/dev/null 2>&1 || true
		done
		k -n default delete services --field-selector metadata.name!=kubernetes --wait=false >/dev/null 2>&1 || true
		k -n default delete configmaps --field-selector metadata.name!=kube-root-ca.crt --wait=false >/dev/null 2>&1 || true
		k -n default delete serviceaccounts --field-selector metadata.name!=default --wait=false >/dev/null 2>&1 || true
		k -n default delete secrets,events --all --wait=false >/dev/null 2>&1 || true
		k get clusterroles,clusterrolebindings -o name | grep -i phoenix | xargs -r kubectl \
			--kubeconfig "$KUBECONFIG" delete --wait=false >/dev/null 2>&1 || true
		# the chart's optional Approval admission policy (45_approval_policy)
		k get validatingadmissionpolicies,validatingadmissionpolicybindings -o name 2>/dev/null |
			grep -i phoenix | xargs -r kubectl --kubeconfig "$KUBECONFIG" delete >/dev/null 2>&1 || true
		wait_for 60 "real cluster reset: earlier tests' namespaces and pods gone" real_is_clean_ns
		k delete crd --all --wait=false >/dev/null 2>&1 || true
		wait_for 60 "real cluster reset: CRDs gone" real_is_clean
		# the reset's own kubectl calls cached discovery from before (the CRDs just deleted):
		# the test starts with an empty cache, as on a fresh cluster
		rm -rf "$KUBECACHEDIR"
	}

	# Each prints what is still there when it fails (wait_for shows it on a timeout).
	real_is_clean_ns() {
		local left
		left=$(k get namespaces -o 'jsonpath={range .items[*]}{.metadata.name} {.status.phase} {range .status.conditions[?(@.status=="True")]}{.type}: {.message}; {end}{"\n"}{end}' 2>&1 |
			awk '$1 !~ /^(default|kube-system|kube-public|kube-node-lease)$/')
		left+=$(k -n default get pods,phoenixservices --no-headers 2>/dev/null)
		[ -z "$left" ] || { echo "$left"; return 1; }
		k -n default get serviceaccount default >/dev/null 2>&1 || { echo "no default service account yet"; return 1; }
	}

	real_is_clean() {
		real_is_clean_ns || return 1
		local left
		left=$(k get crd -o 'jsonpath={range .items[*]}{.metadata.name} {.metadata.finalizers} {range .status.conditions[?(@.type=="Terminating")]}{.message}{end}{"\n"}{end}' 2>&1)
		[ -z "$left" ] || { echo "$left"; return 1; }
		# discovery lags the CRDs' removal: until it has caught up, a category (kubectl get
		# phoenix) still expands to a resource that is gone ("doesn't have a resource type")
		left=$(sim_curl -H 'Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json' \
			"$SIM_URL/apis" 2>&1 | grep -o '"phoenix.fpai.io[^"]*"' | head -n 3 || true)
		[ -z "$left" ] || { echo "discovery still lists $left"; return 1; }
	}

	sim_start() {
		export KUBECONFIG="$E2E_TMP/kubeconfig"
		local src="${PHX_REAL_KUBECONFIG:-}"
		if [ -z "$src" ]; then
			REAL_DIR="$E2E_TMP/real"
			# with the user's real HOME: the binaries and the Go caches live under it
			HOME=$(getent passwd "$(id -u)" | cut -d: -f6) \
				"$PHX_ROOT/hack/real-cluster.sh" up --dir "$REAL_DIR" >"$E2E_TMP/real-up.log" 2>&1 ||
				fail "hack/real-cluster.sh up failed: $(tail -n 30 "$E2E_TMP/real-up.log")"
			on_exit "PHX_REAL_KEEP=1 '$PHX_ROOT/hack/real-cluster.sh' down --dir '$REAL_DIR'"
			src="$REAL_DIR/kubeconfig"
		fi
		[ -f "$src" ] || fail "PHX_REAL_KUBECONFIG=$src: no such file"
		cp "$src" "$KUBECONFIG"
		SIM_URL=$(awk '/server:/ {print $2; exit}' "$KUBECONFIG")
		SIM_TOKEN=""
		SIM_CA="$E2E_TMP/ca.crt"
		awk '/certificate-authority-data:/ {print $2; exit}' "$KUBECONFIG" | base64 -d >"$SIM_CA"
		awk '/client-certificate-data:/ {print $2; exit}' "$KUBECONFIG" | base64 -d >"$E2E_TMP/real-admin.crt"
		awk '/client-key-data:/ {print $2; exit}' "$KUBECONFIG" | base64 -d >"$E2E_TMP/real-admin.key"
		export SIM_URL SIM_TOKEN SIM_CA
		wait_for 10 "real API server /readyz" sim_curl -f "$SIM_URL/readyz"
		[ -z "${PHX_REAL_KUBECONFIG:-}" ] || real_reset
	}

	sim_stop() { :; }
fi

# e2e_crd_undescribed CRD: the fields of the served CRD's schema (metadata aside) that have no
# description, space-separated; empty when every field says what it is (what `kubectl explain`
# shows on a real cluster; kubesim serves no OpenAPI for it).
e2e_crd_undescribed() {
	k get crd "$1" -o json | python3 -c '
import json, sys
s = json.load(sys.stdin)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
out = []
def walk(n, p):
    for k, v in (n.get("properties") or {}).items():
        if k != "metadata" and not v.get("description"):
            out.append(p + "." + k)
        walk(v, p + "." + k)
    if "items" in n:
        walk(n["items"], p + "[]")
walk(s, "")
print(" ".join(out))'
}

# e2e_admin_token: a bearer token of a cluster admin, for servers that authenticate by token
# (the operator's web dashboard). kubesim: its own token; real: a service account bound to
# cluster-admin (named phoenix-e2e-admin, so the reset between tests removes it) and
# `kubectl create token`, made once per test.
e2e_admin_token() {
	if e2e_backend_is_kubesim; then
		echo "$SIM_TOKEN"
		return
	fi
	if [ -z "${E2E_ADMIN_TOKEN:-}" ]; then
		k -n default create serviceaccount phoenix-e2e-admin >/dev/null 2>&1 || true
		k create clusterrolebinding phoenix-e2e-admin --clusterrole cluster-admin \
			--serviceaccount default:phoenix-e2e-admin >/dev/null 2>&1 || true
		E2E_ADMIN_TOKEN=$(k -n default create token phoenix-e2e-admin --duration 1h) ||
			fail "kubectl create token phoenix-e2e-admin"
	fi
	echo "$E2E_ADMIN_TOKEN"
}

# e2e_fail_readiness NS POD: the pod's readiness starts failing. kubesim: its control API;
# real: a status patch through the API (Ready and ContainersReady False, every container not
# ready), as a kubelet would write it; kwok's pod-ready stage only acts on pods without a podIP,
# so it does not put the status back.
e2e_fail_readiness() {
	if e2e_backend_is_kubesim; then
		sim_control -X POST "$SIM_URL/sim/v1/pods/$1/$2/fail-readiness" -d '{}' >/dev/null
		return
	fi
	e2e_patch_unready "$1" "$2"
}

# e2e_patch_unready NS POD: the status patch above (on either backend).
e2e_patch_unready() {
	local cs
	cs=$(k -n "$1" get pod "$2" -o 'jsonpath={range .spec.containers[*]}{.name}{" "}{end}' |
		awk '{for (i = 1; i <= NF; i++) printf "%s{\"name\":\"%s\",\"ready\":false}", (i > 1 ? "," : ""), $i}')
	k -n "$1" patch pod "$2" --subresource=status --type=strategic -p \
		"{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\",\"reason\":\"ReadinessProbeFailed\"},{\"type\":\"ContainersReady\",\"status\":\"False\"}],\"containerStatuses\":[$cs]}}" >/dev/null
}
