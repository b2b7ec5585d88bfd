#!/usr/bin/env bash
# Owned pods whose labels were edited by hand are taken back, never left running beside a full
# set; and an operator upgrade to the owner-UID selector costs no endpoint: existing pods get
# the label before the Service selects it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"

phx_start_hello
uid=$(phx_get hello '{.metadata.uid}')

# Pods the PhoenixService owns (by ownerReference), not terminating, whatever their labels.
owned_live() {
	k get pods -o json | python3 -c '
import json, sys
n = 0
for p in json.load(sys.stdin)["items"]:
    md = p["metadata"]
    if md.get("deletionTimestamp"):
        continue
    if any(r.get("uid") == sys.argv[1] and r.get("controller") for r in md.get("ownerReferences", [])):
        n += 1
print(n)' "$uid"
}
# Settled, and no owned pod runs beside the set: exactly 3 owned pods, all labelled ours.
all_ours_settled() { phx_is_settled hello && [ "$(owned_live)" -eq 3 ]; }

# 1. A standby's service label removed: the cache (which selects by it) loses the pod, which
# still runs. It is taken back (or replaced); never 4 owned pods for good.
standby=$(phx_get hello '{.status.standbys[0]}')
k label pod "$standby" phoenix.fpai.io/service- >/dev/null
taken_back() {
	local v
	v=$(k get pod "$standby" -o 'jsonpath={.metadata.labels.phoenix\.fpai\.io/service}' 2>/dev/null) || return 0
	[ "$v" = hello ] || [ -n "$(k get pod "$standby" -o 'jsonpath={.metadata.deletionTimestamp}')" ]
}
wait_for 10 "the unlabelled standby taken back" taken_back
wait_for 30 "3 owned pods, all labelled, Healthy" all_ours_settled

# 2. A standby's service label changed: same.
standby=$(phx_get hello '{.status.standbys[0]}')
k label pod "$standby" phoenix.fpai.io/service=typo --overwrite >/dev/null
wait_for 10 "the relabelled standby taken back" taken_back
wait_for 30 "3 owned pods, all labelled, Healthy (after a relabel)" all_ours_settled

# 3. The primary's labels removed: a failover (it no longer serves), and the old primary is
# taken back or removed.
primary=$(phx_get hello '{.status.primary}')
k label pod "$primary" phoenix.fpai.io/service- phoenix.fpai.io/role- phoenix.fpai.io/serving- >/dev/null
wait_for 10 "another pod serving" phx_other_serving hello "$primary"
wait_for 30 "3 owned pods, all labelled, Healthy (after the primary's labels went)" all_ours_settled

# 4. Upgrade: pods and Service as an operator without the owner label left them.
phx_stop_pid "$PHX_CTL_PID"
for p in $(k get pods -l phoenix.fpai.io/service=hello -o name); do
	k label "$p" phoenix.fpai.io/owner-uid- >/dev/null
done
k patch svc hello --type json -p '[{"op":"remove","path":"/spec/selector/phoenix.fpai.io~1owner-uid"}]' >/dev/null
k patch pdb hello --type json -p '[{"op":"remove","path":"/spec/selector/matchLabels/phoenix.fpai.io~1owner-uid"}]' >/dev/null
expect_eq 1 "$(k get endpoints hello -o 'jsonpath={.subsets[*].addresses[*].targetRef.name}' | wc -w)" "one endpoint before the upgrade"
phx_history_reset hello
phx_start_controller ctl2
upgraded() {
	[ "$(k get svc hello -o 'jsonpath={.spec.selector.phoenix\.fpai\.io/owner-uid}')" = "$uid" ] &&
		[ "$(k get pdb hello -o 'jsonpath={.spec.selector.matchLabels.phoenix\.fpai\.io/owner-uid}')" = "$uid" ] &&
		[ "$(k get pods -l "phoenix.fpai.io/owner-uid=$uid" --no-headers | wc -l)" -eq 3 ]
}
wait_for 20 "pods labelled, then Service and PDB selecting the owner label" upgraded
phx_wait_settled hello
hist=$(phx_history hello)
expect_eq 0 "$(phx_hist_stat "$hist" zeroMoments)" "no moment without an endpoint during the upgrade"
expect_eq 1 "$(k get endpoints hello -o 'jsonpath={.subsets[*].addresses[*].targetRef.name}' | wc -w)" "one endpoint after the upgrade"
pass "owned pods with edited labels taken back (never beside a full set); upgrade to the owner selector without an empty moment"
