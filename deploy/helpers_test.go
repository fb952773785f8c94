// Package deploy holds no Go code: its tests check that the deployment
// files in this folder (Dockerfiles, compose files, Kubernetes manifests,
// ClickHouse and collector configs) load, validate and agree with the
// repository they deploy.
package deploy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"testing"

	"github.com/tracehouse/tracehouse/sample-services/auth"
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

// mapKeys returns the string keys of the first map literal found in the
// named top-level var or func of a Go file: the subcommands of a binary,
// read from its source so a compose file or manifest cannot name one that
// does not exist.
func mapKeys(t *testing.T, goFile, name string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), goFile, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	var found bool
	for _, decl := range f.Decls {
		var root ast.Node
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if d.Name.Name == name {
				root = d
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				if vs, ok := s.(*ast.ValueSpec); ok && len(vs.Names) == 1 && vs.Names[0].Name == name {
					root = vs
				}
			}
		}
		if root == nil {
			continue
		}
		ast.Inspect(root, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok || found {
				return !found
			}
			if _, isMap := lit.Type.(*ast.MapType); !isMap {
				return true
			}
			found = true
			for _, e := range lit.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				if bl, ok := kv.Key.(*ast.BasicLit); ok && bl.Kind == token.STRING {
					k, _ := strconv.Unquote(bl.Value)
					keys = append(keys, k)
				}
			}
			return false
		})
	}
	if len(keys) == 0 {
		t.Fatalf("no map literal with string keys in %s %s", goFile, name)
	}
	sort.Strings(keys)
	return keys
}

// tracehouseCommands are the subcommands of the product binary (main.go).
func tracehouseCommands(t *testing.T) []string {
	return append(mapKeys(t, filepath.Join(repoRoot(t), "main.go"), "commands"), "help")
}

// shopCommands are the subcommands of the sample-services binary.
func shopCommands(t *testing.T) []string {
	// The map's keys are package constants (gateway.Name, …) and literals.
	return []string{auth.Name, "demo", gateway.Name, "loadgen", order.Name, payment.Name}
}
