#!/usr/bin/env bash
# PhoenixService names the API server would let through but the derived objects could not carry:
# the CRD bounds metadata.name (at most 57 characters, a DNS-1035 label) so that the pods
# (NAME-xxxxx <= 63), the Service, the PDB and the label values stay valid. kubectl apply refuses
# a too-long, a dotted and an upper-case name with a message naming metadata.name; the longest
# allowed name works end to end.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"

sim_start
phx_install_crd

svc_yaml() {
	cat <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: PhoenixService
metadata: {name: $1}
spec:
  template: {spec: {containers: [{name: a, image: x, ports: [{containerPort: 8080}]}]}}
YAML
}

# refused NAME WANT: kubectl apply fails, the message names metadata.name and says WANT.
refused() {
	local out
	if out=$(svc_yaml "$1" | k apply -f - 2>&1); then
		fail "name '$1' accepted"
	fi
	expect_contains "$out" "metadata.name" "refusal of '$1' names the field"
	expect_contains "$out" "$2" "refusal of '$1' says why"
	echo "refused: $(echo "$out" | tail -n1 | cut -c1-200)"
	if k get phx "$1" >/dev/null 2>&1; then fail "refused '$1' exists"; fi
}

longest=p$(printf '%056d' 0 | tr 0 a) # 57 characters
[ ${#longest} -eq 57 ] || fail "test bug: longest name is ${#longest} characters"
refused "${longest}b" "at most 57 chars long"
refused "my.service" "should match"
refused "MyService" "metadata.name"
refused "1service" "should match"
pass "too long, dotted, upper-case and digit-first names refused, naming metadata.name"

# The longest name works end to end: pods, Service and PDB exist and carry it.
phx_start_controller ctl
svc_yaml "$longest" | k apply -f - >/dev/null
phx_wait_settled "$longest"
for pod in $(k get pods -l "phoenix.fpai.io/service=$longest" -o 'jsonpath={.items[*].metadata.name}'); do
	[ ${#pod} -le 63 ] || fail "pod name $pod is ${#pod} characters"
	case $pod in "$longest"-?????) ;; *) fail "pod $pod is not NAME-xxxxx" ;; esac
done
expect_eq "$longest" "$(k get svc "$longest" -o 'jsonpath={.metadata.name}')" "Service named after the PhoenixService"
expect_eq "$longest" "$(k get svc "$longest" -o 'jsonpath={.spec.selector.phoenix\.fpai\.io/service}')" "Service selector carries the name"
expect_eq "$longest" "$(k get pdb "$longest" -o 'jsonpath={.metadata.name}')" "PDB named after the PhoenixService"
pass "the longest allowed name (57) gets 3 pods (NAME-xxxxx, <= 63), a Service and a PDB"
