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

# Scripted steps (kubesim's Job controller, without --run-pods): script JSON posts a container
# outcome script; report STEP REASON MESSAGE is a Failed step report as a JSON string literal;
# $image_ok is an image container that reports registry.local/team/retry@$DIGEST.
DIGEST=sha256:$(printf 'b%.0s' $(seq 64))
script() { sim_control -X POST "$SIM_URL/sim/v1/jobs/script" -d "$1" >/dev/null; }
report() { # STEP REASON MESSAGE: a Failed step report as a JSON string literal
	printf '"{\\"step\\":\\"%s\\",\\"result\\":\\"Failed\\",\\"reason\\":\\"%s\\",\\"message\\":\\"%s\\"}"' "$1" "$2" "$3"
}
image_ok="\"image\":{\"exitCode\":0,\"durationMs\":50,\"message\":\"{\\\"step\\\":\\\"image\\\",\\\"result\\\":\\\"Succeeded\\\",\\\"image\\\":\\\"registry.local/team/retry@$DIGEST\\\"}\"}"
apply_build() { # NAME [EXTRA SPEC LINES]; serviceName $BUILD_SVC, else NAME
	k apply -f - >/dev/null <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: Build
metadata: {name: $1}
spec:
  serviceName: ${BUILD_SVC:-$1}
  source:
    git: {url: 'file:///srv/git/$1'}
  image: {name: registry.local/team/$1}
${2:-}
YAML
}
