// Package kubelab runs a real Kubernetes control plane for end-to-end tests:
// an etcd and a kube-apiserver started as child processes of the test, on
// free ports of 127.0.0.1, with no kubelet, scheduler or controller-manager
// (so no Pods run, nothing is garbage-collected and no Node lifecycle runs:
// tests create Nodes and delete dependents themselves).
//
// The binaries come from KUBEBUILDER_ASSETS (a directory holding
// kube-apiserver and etcd, as e2e/kube/tools/build.sh prints), or from
// TEST_ASSET_KUBE_APISERVER and TEST_ASSET_ETCD, the variables envtest reads.
// FindBinaries reports whether they are there; ForTest skips a test without
// them unless Required (QOSPLANE_KUBE_REQUIRED=1), where it fails.
//
// Start generates a throw-away PKI with crypto/x509 (a CA, the apiserver's
// serving certificate, client certificates and the service-account key
// pair), runs etcd with --unsafe-no-fsync and its data in the lab's
// temporary directory, runs kube-apiserver with RBAC authorization and
// client-certificate authentication, waits for /readyz and writes an admin
// kubeconfig (group system:masters). UserKubeconfig writes a kubeconfig for
// any user name and groups (the certificate's CN and O), so tests can check
// the RBAC rules of each component.
//
// Invariants:
//   - Everything listens on 127.0.0.1 only; no process the lab starts binds
//     another address or talks to any host but loopback.
//   - The children are killed (SIGKILL) when the test process dies, however
//     it dies, through PR_SET_PDEATHSIG set from a locked OS thread that
//     lives as long as the child (see process).
//   - RestartAPIServer keeps the port, the certificates and etcd, so every
//     kubeconfig written before stays valid and stored objects survive.
//   - Stop is idempotent and removes the lab directory unless
//     Options.KeepDir is set.
package kubelab
