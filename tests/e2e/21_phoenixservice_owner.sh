#!/usr/bin/env bash
# What the operator owns, it repairs exactly; what it does not own, it never touches and reports.
#  - a hand-edited Service selector (a merge patch that adds a key) and PDB are repaired;
#  - a foreign pod labelled like a primary stays out of the endpoints, is reported, and deleting
#    it is no failover;
#  - a primary whose ownerReference is removed is fenced out (not deleted): never two serving;
#  - a Service of the same name that is not ours is left alone and reported, not Healthy.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"

phx_start_hello
uid=$(phx_get hello '{.metadata.uid}')

selector_keys() { k get svc hello -o json | python3 -c 'import json,sys; print(",".join(sorted(json.load(sys.stdin)["spec"]["selector"])))'; }
want_keys="phoenix.fpai.io/owner-uid,phoenix.fpai.io/service,phoenix.fpai.io/serving"
endpoints() { k get endpoints hello -o 'jsonpath={.subsets[*].addresses[*].targetRef.name}'; }
endpoint_count() { local e; e=$(endpoints); set -- $e; echo $#; }
selector_repaired() { [ "$(selector_keys)" = "$want_keys" ] && [ "$(endpoint_count)" -eq 1 ]; }
expect_eq "$want_keys" "$(selector_keys)" "the selector includes the owner UID"
expect_eq "$uid" "$(k get svc hello -o 'jsonpath={.spec.selector.phoenix\.fpai\.io/owner-uid}')" "owner UID in the selector"

# 1. A merge patch adds a key to the selector: the Service selects nothing until repaired.
k patch svc hello --type merge -p '{"spec":{"selector":{"app":"typo"}}}' >/dev/null
wait_for 10 "selector repaired exactly (the added key removed) and one endpoint back" selector_repaired
k patch svc hello --type merge -p '{"spec":{"publishNotReadyAddresses":false}}' >/dev/null
pnra_repaired() { [ "$(k get svc hello -o 'jsonpath={.spec.publishNotReadyAddresses}')" = true ]; }
wait_for 10 "publishNotReadyAddresses repaired" pnra_repaired

# 2. The PodDisruptionBudget is repaired too.
k patch pdb hello --type merge -p '{"spec":{"maxUnavailable":3,"selector":{"matchLabels":{"app":"typo"}}}}' >/dev/null
pdb_repaired() {
	[ "$(k get pdb hello -o 'jsonpath={.spec.maxUnavailable}')" = 1 ] &&
		[ -z "$(k get pdb hello -o 'jsonpath={.spec.selector.matchLabels.app}')" ]
}
wait_for 10 "PDB repaired" pdb_repaired

# 3. A foreign pod labelled like a serving primary: kept out of the Service, reported, and its
# deletion is no failover.
primary=$(phx_get hello '{.status.primary}')
k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: intruder
  labels: {phoenix.fpai.io/service: hello, phoenix.fpai.io/role: primary, phoenix.fpai.io/serving: "true"}
spec:
  containers: [{name: c, image: x, ports: [{containerPort: 8080}]}]
EOF
intruder_ready() { [ "$(k get pod intruder -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
wait_for 10 "intruder Ready" intruder_ready
cond() { phx_get hello "{.status.conditions[?(@.type==\"OwnershipConflict\")].$1}"; }
wait_for 10 "OwnershipConflict condition names the intruder" sh -c "kubectl --kubeconfig '$KUBECONFIG' get phx hello -o jsonpath='{.status.conditions[?(@.type==\"OwnershipConflict\")].message}' | grep -q intruder"
expect_eq True "$(cond status)" "OwnershipConflict True"
phx_wait_events hello OwnershipConflict 1
expect_eq "$primary" "$(endpoints)" "only the real primary serves"
fo=$(phx_get hello '{.status.failovers}')
k delete pod intruder --wait=false >/dev/null
cond_false() { [ "$(cond status)" = False ]; }
wait_for 10 "condition cleared once the intruder is gone" cond_false
expect_eq "$fo" "$(phx_get hello '{.status.failovers}')" "deleting a foreign pod is no failover"
expect_eq "$primary" "$(phx_get hello '{.status.primary}')" "primary unchanged"

# 4. The primary loses its ownerReference: it is not ours any more. Another pod serves, the old
# one is fenced out of the Service and reported, never deleted; never two serving.
phx_history_reset hello
k patch pod "$primary" --type json -p '[{"op":"remove","path":"/metadata/ownerReferences"}]' >/dev/null
wait_for 10 "another pod serving" phx_other_serving hello "$primary"
fenced() {
	[ "$(k get pod "$primary" -o 'jsonpath={.metadata.labels.phoenix\.fpai\.io/serving}')" = false ] &&
		[ -z "$(k get pod "$primary" -o 'jsonpath={.metadata.labels.phoenix\.fpai\.io/owner-uid}')" ]
}
wait_for 10 "the disowned pod fenced by its labels" fenced
wait_for 10 "the disowned pod reported" sh -c "kubectl --kubeconfig '$KUBECONFIG' get phx hello -o jsonpath='{.status.conditions[?(@.type==\"OwnershipConflict\")].message}' | grep -q '$primary'"
expect_eq 1 "$(endpoint_count)" "one endpoint"
k get pod "$primary" >/dev/null || fail "the disowned pod was deleted"
# (Surge mode serves two of ours for a moment by design; the disowned pod is never beside them.)
beside=$(python3 -c '
import json, sys
h = json.loads(sys.argv[1])
print(sum(1 for e in h["entries"] if sys.argv[2] in e["ready"] and len(e["ready"]) > 1))' \
	"$(phx_history hello)" "$primary")
expect_eq 0 "$beside" "the disowned pod never served beside another"
k delete pod "$primary" --wait=false >/dev/null
phx_wait_settled hello default 30

# 5. A Service of the same name that is not ours: untouched, reported, not Healthy.
k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: other}
spec:
  selector: {app: other}
  ports: [{port: 9000, targetPort: 9000}]
EOF
sed 's/name: hello$/name: other/' "$PHX_ROOT/manifests/samples/minimal.yaml" | k apply -f - >/dev/null
wait_for 20 "other reports the foreign Service" sh -c "kubectl --kubeconfig '$KUBECONFIG' get phx other -o jsonpath='{.status.conditions[?(@.type==\"OwnershipConflict\")].message}' | grep -q 'Service other'"
other_degraded() { [ "$(phx_get other '{.status.phase}')" = Degraded ]; }
wait_for 10 "other is Degraded, not Healthy" other_degraded
phx_wait_events other OwnershipConflict 1
expect_eq "app=other" "$(k get svc other -o 'jsonpath={.spec.selector}' | python3 -c 'import json,sys; print(",".join(k+"="+v for k,v in json.load(sys.stdin).items()))')" "the foreign Service untouched"
expect_eq "" "$(k get svc other -o 'jsonpath={.metadata.ownerReferences}')" "no ownerReference added"
# Once the foreign Service is gone (no event of ours says so: it was never in our caches), the
# operator creates its own and the conflict clears.
k delete svc other >/dev/null
other_served() {
	[ "$(k get svc other -o 'jsonpath={.metadata.ownerReferences[0].uid}')" = "$(phx_get other '{.metadata.uid}')" ] &&
		[ "$(phx_get other '{.status.phase}')" = Healthy ] &&
		[ "$(phx_get other '{.status.conditions[?(@.type=="OwnershipConflict")].status}')" = False ]
}
wait_for 30 "other has its own Service once the foreign one is gone, and is Healthy" other_served
pass "owned Service/PDB repaired exactly; foreign pods, Services and disowned pods never serve, are reported and never touched beyond fencing"
