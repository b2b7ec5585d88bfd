//go:build tools

// Package tools pins sigs.k8s.io/kwok's cmd/kwok, which hack/k8s/build.sh builds;
// it is never compiled (build tag "tools").
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
