// Package clustertest holds the end-to-end test of the incident store: a real control plane
// (kube-apiserver and etcd on 127.0.0.1, scripts/k8s-cluster.sh) whose audit webhook posts to
// an in-process agent running the live eBPF probe, a real container under the test dockerd
// labelled as a pod of that API server, and the admission webhook fed by the store's
// quarantine. It has no code of its own beyond the test.
package clustertest
