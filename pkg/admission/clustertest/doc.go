// Package clustertest holds the end-to-end test of the admission webhook against a real
// control plane: kube-apiserver and etcd on 127.0.0.1 (scripts/k8s-cluster.sh) calling an
// admission.Server through a generated ValidatingWebhookConfiguration, authenticating with a
// client certificate. It has no code of its own beyond the test.
package clustertest
