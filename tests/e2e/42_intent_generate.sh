#!/usr/bin/env bash
# An Intent with neither source nor image goes all the way to a running service on kubesim
# --run-pods, with no external model: the Intent controller writes and verifies the SPEC
# (ConfigMap gen-spec) and creates Build gen with `generate: {}`; the built-in generator writes a
# service from that SPEC, its tests run, it is packed and deployed, the Intent is Ready and the
# service answers /capabilities with the Intent's key features through its Service.
# The Intent's spec.imageBuild picks the `local` builder (the Build's default, buildah, is not
# what kubesim runs) and is passed to the Build as spec.image.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/intent_helpers.sh"
source "$(dirname "$0")/build_helpers.sh"
command -v python3 >/dev/null || fail "python3 not installed (the generated service needs it)"

intent_setup() {
	intent_install_crds
	intent_policy aggressive
}
build_runpods_start intent_setup

intent_apply gen gen-svc 2 medium "  port: 9090
  approvalMode: auto
  imageBuild: {name: registry.local/default/gen-svc, builder: local, localStore: \"$STORE\"}"
wait_for 30 "Build gen created" k get build gen
expect_eq "{}" "$(k get build gen -o jsonpath='{.spec.generate}')" "generate {}"
expect_eq gen-spec "$(k get build gen -o jsonpath='{.spec.specConfigMap.name}')" "the SPEC ConfigMap"
expect_eq local "$(k get build gen -o jsonpath='{.spec.image.builder}')" "the Intent's imageBuild on the Build"
build_wait_reason gen Succeeded 240
expect_contains "$(k get build gen -o jsonpath='{.status.steps[?(@.name=="generate")].message}')" \
	"generated service gen-svc (python, port 9090, 3 feature stubs" "generated from the Intent's SPEC"
expect_eq "make test" "$(k get build gen -o jsonpath='{.status.testCommand}')" "its tests ran"
wait_for 60 "Intent gen Ready" intent_has_cond gen Ready True
expect_eq 2 "$(k get phx gen-svc -o jsonpath='{.spec.standbys}')" "1 primary + 2 hot standbys by default"
bs=$(k get intent gen -o jsonpath='{.status.conditions[?(@.type=="BuildSucceeded")].lastTransitionTime}')
rd=$(k get intent gen -o jsonpath='{.status.conditions[?(@.type=="Ready")].lastTransitionTime}')
[[ ! "$rd" < "$bs" ]] || fail "Ready ($rd) before BuildSucceeded ($bs): Ready must wait for verify and register"
cip=$(k get svc gen-svc -o jsonpath='{.spec.clusterIP}')
wait_for 30 "/health through the Service $cip:9090" curl -sf "http://$cip:9090/health"
expect_eq active "$(curl -sf "http://$cip:9090/health" | jq -r .status)" "GET /health"
expect_eq "[\"$INTENT_F1\",\"$INTENT_F2\",\"$INTENT_F3\"]" \
	"$(curl -sf "http://$cip:9090/capabilities" | jq -c .features)" "GET /capabilities lists the Intent's key features"
pass "an Intent without source or image: SPEC -> built-in generator -> tests -> image -> PhoenixService gen-svc; Intent Ready; /capabilities lists its features through $cip:9090"
