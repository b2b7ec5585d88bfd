{{/* The operator's RBAC rules, kept in one place. Verbs follow what controller/ does:
informers list+watch, reconcilers get/create/update/patch/delete what they own. */}}
{{- define "phoenix-operator.rules" -}}
- apiGroups: ["phoenix.fpai.io"]
  resources: ["phoenixservices"]
  verbs: ["get", "list", "watch", "update", "patch"]
- apiGroups: ["phoenix.fpai.io"]
  resources: ["phoenixservices/status"]
  verbs: ["get", "update", "patch"]
- apiGroups: ["phoenix.fpai.io"]
  resources: ["phoenixservices/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}

{{- define "phoenix-operator.leaderElectionRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "update"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}
