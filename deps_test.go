package tollgate_test

// The dependency direction of docs/SPEC.md §1, enforced with `go list`:
//
//	cmd → core → {routing, ledger, cluster}
//
// routing, ledger and cluster import no other Tollgate package (cmd wires
// them through small interfaces), and nothing imports cmd. bench must work
// against any OpenAI-compatible URL, so it imports only the leaf SSE
// scanner of core. Every package also needs a package doc comment.

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/tollgate/tollgate"

type pkgInfo struct {
	ImportPath string
	Doc        string
	Imports    []string
	Deps       []string
	GoFiles    []string
}

func listPackages(t *testing.T) []pkgInfo {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkgInfo
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkgInfo
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// area is the top-level folder a package belongs to.
func area(path string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
	if i := strings.IndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return rel
}

func TestDependencyDirection(t *testing.T) {
	allowed := map[string]func(dep string) bool{
		"cmd": func(string) bool { return true },
		"core": func(dep string) bool {
			a := area(dep)
			return a == "core" || a == "routing" || a == "ledger" || a == "cluster"
		},
		"routing": func(dep string) bool { return area(dep) == "routing" },
		"ledger":  func(dep string) bool { return area(dep) == "ledger" },
		"cluster": func(dep string) bool { return area(dep) == "cluster" },
		"bench":   func(dep string) bool { return area(dep) == "bench" || dep == module+"/core/sse" },
	}
	for _, p := range listPackages(t) {
		if p.ImportPath == module {
			continue // this test
		}
		a := area(p.ImportPath)
		ok, known := allowed[a]
		if !known {
			t.Errorf("package %s is outside the top-level layout (cmd, core, routing, ledger, cluster, bench)", p.ImportPath)
			continue
		}
		for _, dep := range p.Deps {
			if !strings.HasPrefix(dep, module+"/") {
				continue
			}
			if area(dep) == "cmd" {
				t.Errorf("%s imports %s: nothing may import cmd", p.ImportPath, dep)
			}
			if !ok(dep) {
				t.Errorf("%s depends on %s: not allowed by SPEC §1", p.ImportPath, dep)
			}
		}
		if a == "routing" {
			for _, dep := range append(p.Imports, p.Deps...) {
				if strings.Contains(dep, "fasthttp") || (dep == "net" || dep == "os" || dep == "net/http") && contains(p.Imports, dep) {
					t.Errorf("routing must stay pure (no I/O), but %s depends on %s", p.ImportPath, dep)
				}
			}
		}
	}
}

func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		if p.ImportPath == module || len(p.GoFiles) == 0 {
			continue
		}
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no package doc comment", p.ImportPath)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
