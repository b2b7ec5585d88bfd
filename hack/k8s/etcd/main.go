// Command etcd is the upstream etcd server, built from go.etcd.io/etcd/server/v3 at the
// version pinned in hack/k8s/versions.env; this file only hands over to etcdmain.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
