package routing

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPackageRules enforces SPEC §1 for routing: a package doc comment, and
// no imports of other tollgate packages, fasthttp, or I/O packages in
// non-test code.
func TestPackageRules(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	forbidden := []string{"github.com/tollgate/", "github.com/valyala/", "net", "os", "io", "database/", "log", "math/rand", "crypto/rand"}
	hasDoc := false
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.ParseComments|parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil && strings.HasPrefix(f.Doc.Text(), "Package routing ") {
			hasDoc = true
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if path == bad || strings.HasPrefix(path, bad+"/") || (strings.HasSuffix(bad, "/") && strings.HasPrefix(path, bad)) {
					t.Errorf("%s imports %s", name, path)
				}
			}
			if strings.Contains(path, "sync") && path != "sync" && path != "sync/atomic" {
				t.Errorf("%s imports %s", name, path)
			}
		}
		if strings.Contains(string(src), "go func") {
			t.Errorf("%s starts a goroutine", name)
		}
	}
	if !hasDoc {
		t.Error("no package doc comment starting with \"Package routing \"")
	}
}
