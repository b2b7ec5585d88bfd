#!/usr/bin/env bash
# Governance's view of the namespace's PhoenixServices (issue 12: an index kept from the
# PhoenixService informer's events, not a walk of the cache per evaluation): a serviceName taken
# by a PhoenixService the Intent does not own fails name-available; one in another namespace does
# not count; once that PhoenixService is deleted a new Intent for the name passes.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/intent_helpers.sh"

sim_start
intent_install_crds
intent_policy autonomous
phx_start_controller ctl --workers 2

phx_svc() {
	k apply -n "$2" -f - >/dev/null <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: PhoenixService
metadata: {name: $1}
spec:
  template:
    spec:
      containers:
        - name: app
          image: registry.example/app:1
          ports: [{containerPort: 8080}]
YAML
}
rule() { intent_get "$1" "{.status.governance.results[?(@.rule==\"$2\")].result}" "${3:-default}"; }
rule_is() { [ "$(rule "$1" "$2" "${4:-default}")" = "$3" ]; }

k create namespace other >/dev/null
phx_svc ledger default
phx_svc elsewhere other
wait_for 10 "PhoenixServices stored" k get phx ledger

intent_apply taken ledger 2 medium
wait_for 10 "taken: name-available fail" rule_is taken name-available fail
msg=$(intent_get taken '{.status.governance.results[?(@.rule=="name-available")].message}')
expect_contains "$msg" "a PhoenixService named ledger exists" "taken: the message names the PhoenixService"
intent_apply free elsewhere 2 medium
wait_for 10 "free: name-available pass (the other namespace's service does not count)" \
	rule_is free name-available pass
pass "a PhoenixService of the namespace takes its name; another namespace's does not"

# A port a PhoenixService already serves on is taken: its Service's port, or with no
# spec.service.ports its first container port (what the Service then exposes).
intent_apply porty porty 2 medium "  port: 8080"
wait_for 10 "porty: port-available fail (ledger's container port)" rule_is porty port-available fail
expect_contains "$(intent_get porty '{.status.governance.results[?(@.rule=="port-available")].message}')" \
	"ledger" "porty: the message names the PhoenixService"
intent_apply porty2 porty2 2 medium "  port: 8081"
wait_for 10 "porty2: port-available pass (8081 is free)" rule_is porty2 port-available pass
pass "a PhoenixService's port is taken for governance; a free one passes"

# The Intent that asked for the name goes too (else it, not the service, takes the name).
k delete phx ledger -n default >/dev/null
k delete intent taken -n default --wait=false >/dev/null
gone() { ! k get "$1" "$2" -n default >/dev/null 2>&1; }
wait_for 10 "ledger gone" gone phx ledger
wait_for 10 "Intent taken gone" gone intent taken
intent_apply again ledger 2 medium
wait_for 10 "again: name-available pass once ledger is deleted" rule_is again name-available pass
pass "a deleted PhoenixService frees its name"

intent_stop_check ctl
