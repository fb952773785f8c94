// Package deploy holds no Go code: its tests check that the deployment
// files in this folder (Dockerfiles, compose files, Kubernetes manifests,
// ClickHouse and collector configs) load, validate and agree with the
// repository they deploy.
package deploy

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/tracehouse/tracehouse/internal/commands"
	"github.com/tracehouse/tracehouse/sample-services/auth"
	"github.com/tracehouse/tracehouse/sample-services/broker"
	"github.com/tracehouse/tracehouse/sample-services/fulfillment"
	"github.com/tracehouse/tracehouse/sample-services/gateway"
	"github.com/tracehouse/tracehouse/sample-services/order"
	"github.com/tracehouse/tracehouse/sample-services/payment"
)

// repoRoot is the repository root (the folder above deploy/).
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Dir(filepath.Dir(file))
}

func deployDir(t *testing.T) string { return filepath.Join(repoRoot(t), "deploy") }

func mustExist(t *testing.T, path, what string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

// tracehouseCommands are the subcommands of the product binary, so a
// compose file or manifest cannot name one that does not exist.
func tracehouseCommands(t *testing.T) []string {
	names := []string{"help"}
	for _, c := range commands.Tracehouse.Commands {
		names = append(names, c.Name)
	}
	return names
}

// shopCommands are the subcommands of the sample-services binary.
func shopCommands(t *testing.T) []string {
	// The map's keys are package constants (gateway.Name, …) and literals.
	return []string{auth.Name, broker.Name, "demo", fulfillment.Name, gateway.Name, "loadgen", order.Name, payment.Name}
}
