// Package clustertest holds the end-to-end test of the k8s audit source against a real
// control plane: kube-apiserver and etcd on 127.0.0.1 (scripts/k8s-cluster.sh), whose audit
// webhook backend posts to a k8saudit.Webhook, with Falco's upstream k8s audit rules
// evaluated on what arrives. It has no code of its own beyond the test.
package clustertest
