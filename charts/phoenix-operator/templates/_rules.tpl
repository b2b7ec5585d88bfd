{{/* The operator's RBAC rules, kept in one place: exactly the API calls in controller/ and the
library modules it uses (tests/e2e/32_manifests.sh reads them out of the code and fails when
these rules differ). Informers list+watch; the reconciler writes with create/patch/delete. */}}
{{- define "phoenix-operator.rules" -}}
- apiGroups: ["phoenix.fpai.io"]
  resources: ["phoenixservices"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["phoenix.fpai.io"]
  resources: ["phoenixservices/status"]
  verbs: ["patch"]
# Pods carry owner references with blockOwnerDeletion, which needs this where the
# OwnerReferencesPermissionEnforcement admission plugin is on (e.g. OpenShift).
- apiGroups: ["phoenix.fpai.io"]
  resources: ["phoenixservices/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["list", "watch", "create", "patch"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
# The Intent controller (controller/intent/): Intents and their status and finalizer, the
# namespace's GovernancePolicy, Approvals (their status says Applied or Ignored), the SPEC
# ConfigMaps and the Builds it owns, and the PhoenixService it produced (deletionPolicy Delete).
- apiGroups: ["phoenix.fpai.io"]
  resources: ["intents"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["phoenix.fpai.io"]
  resources: ["intents/status"]
  verbs: ["patch"]
- apiGroups: ["phoenix.fpai.io"]
  resources: ["governancepolicies"]
  verbs: ["list", "watch"]
- apiGroups: ["phoenix.fpai.io"]
  resources: ["approvals"]
  verbs: ["list", "watch"]
- apiGroups: ["phoenix.fpai.io"]
  resources: ["approvals/status"]
  verbs: ["patch"]
- apiGroups: ["phoenix.fpai.io"]
  resources: ["builds"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["phoenix.fpai.io"]
  resources: ["phoenixservices"]
  verbs: ["delete"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "patch"]
# The Build wing (controller/build/): Build status, the attempts' Jobs, the PhoenixService it
# deploys (create; delete on a failed first deployment). Builds and Approvals list+watch are
# the Intent controller's rules above.
- apiGroups: ["phoenix.fpai.io"]
  resources: ["builds/status"]
  verbs: ["patch"]
- apiGroups: ["phoenix.fpai.io"]
  resources: ["phoenixservices"]
  verbs: ["create"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["list", "watch", "create", "delete"]
# The Intent's spec.generator Jobs (controller/intent/intent_generator.c): the Jobs above, and
# the log of their pods, where the generator prints the SPEC.
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
# The verify Job is pinned to the PhoenixService's Service clusterIP (read once per verify);
# the learning ConfigMap (phoenix-build-learning) is read and written by name with the
# configmaps rule above.
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get"]
# The Jobs and PhoenixServices a Build owns carry blockOwnerDeletion: where the
# OwnerReferencesPermissionEnforcement admission plugin is on, setting it needs update on the
# owner's finalizers. (The Intent's owner references leave blockOwnerDeletion out, so
# intents/finalizers is not needed.)
- apiGroups: ["phoenix.fpai.io"]
  resources: ["builds/finalizers"]
  verbs: ["update"]
{{- end -}}

{{/* Leader election: the Lease, in the leader-election namespace only. */}}
{{- define "phoenix-operator.leaderElectionRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "update"]
{{- end -}}
