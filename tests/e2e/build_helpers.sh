# Helpers shared by the Build end-to-end tests (tests/e2e/44_build_*.sh). Source after lib.sh and
# phx_helpers.sh. Not a test itself (the name does not start with a digit).

# Installs the PhoenixService, Build and Approval CRDs and waits until they are served.
build_install_crds() {
	for f in phoenixservices builds approvals; do
		k apply -f "$PHX_ROOT/manifests/crds/phoenix.fpai.io_$f.yaml" >/dev/null
	done
	wait_for 10 "Build API served" k get builds
	wait_for 10 "Approval API served" k get approvals
	wait_for 10 "PhoenixService API served" k get phx
}

# build_runpods_start [SETUP...]: kubesim running pods as processes with an image store ($RP,
# $STORE under $E2E_TMP), the CRDs, the SETUP command when given, then the operator as
# controller "ctl".
build_runpods_start() {
	RP="$E2E_TMP/runpods"
	STORE="$E2E_TMP/images"
	mkdir -p "$RP" "$STORE"
	sim_start --run-pods --run-pods-dir "$RP" --image-store "$STORE" --crashloop-backoff-scale 0.1
	build_install_crds
	[ $# -eq 0 ] || "$@"
	phx_start_controller ctl
}

# build_cond NAME TYPE FIELD: a field of a condition of a Build.
build_cond() {
	k get build "$1" -o "jsonpath={.status.conditions[?(@.type==\"$2\")].$3}"
}

build_has_reason() { [ "$(build_cond "$1" Succeeded reason)" = "$2" ]; }

# build_wait_reason NAME REASON SECS
build_wait_reason() {
	wait_for "$3" "Build $1 Succeeded reason $2 (now: \$(build_cond $1 Succeeded reason))" build_has_reason "$1" "$2"
}
