//go:build tools

// Package tools pins the upstream Kubernetes control-plane commands that
// hack/k8s/build.sh builds; it is never compiled (build tag "tools").
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
