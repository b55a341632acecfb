package overhead

import (
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/bench/report"
)

// leaves are documented as one member each (their own members once, in
// their own tables).
var leaves = map[reflect.Type]bool{
	reflect.TypeOf(report.Dist{}): true,
	reflect.TypeOf(Pcts{}):        true,
	reflect.TypeOf(Ratios{}):      true,
	reflect.TypeOf(time.Time{}):   true,
}

func jsonPaths(t reflect.Type, prefix string, out map[string]bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		p := prefix + name
		out[p] = true
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case leaves[ft]:
		case ft.Kind() == reflect.Struct:
			delete(out, p)
			if f.Type.Kind() == reflect.Pointer {
				out[p] = true // "object or null" is documented itself
			}
			jsonPaths(ft, p+".", out)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct && !leaves[ft.Elem()]:
			jsonPaths(ft.Elem(), p+"[].", out)
		}
	}
}

var docRow = regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")

func TestSchemaDocMatchesTypes(t *testing.T) {
	doc, err := os.ReadFile("SCHEMA.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range docRow.FindAllSubmatch(doc, -1) {
		documented[string(m[1])] = true
	}
	want := map[string]bool{}
	jsonPaths(reflect.TypeOf(Report{}), "", want)
	jsonPaths(reflect.TypeOf(Pcts{}), "<pcts>.", want)
	var missing, stale []string
	for p := range want {
		if !documented[p] {
			missing = append(missing, p)
		}
	}
	for p := range documented {
		if !want[p] {
			stale = append(stale, p)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 || len(stale) > 0 {
		t.Fatalf("SCHEMA.md is out of date:\n  undocumented: %v\n  documented but gone: %v", missing, stale)
	}
	if !strings.Contains(string(doc), Schema) {
		t.Fatalf("SCHEMA.md does not name %s", Schema)
	}
	// Ratios must mirror Pcts member for member.
	pt, rt := reflect.TypeOf(Pcts{}), reflect.TypeOf(Ratios{})
	for i := 0; i < pt.NumField(); i++ {
		if pt.Field(i).Tag != rt.Field(i).Tag {
			t.Fatalf("Ratios and Pcts differ at %s", pt.Field(i).Name)
		}
	}
}

func TestMedian(t *testing.T) {
	f := func(in []float64, want float64) {
		t.Helper()
		if got := median(append([]float64(nil), in...)); got != want {
			t.Fatalf("median(%v) = %v, want %v", in, got, want)
		}
	}
	f(nil, 0)
	f([]float64{3}, 3)
	f([]float64{5, 1, 3}, 3)
	f([]float64{4, 1, 3, 2}, 2.5)
	f([]float64{1000, 1, 2}, 2) // one disturbed round does not move it
	got := medianPcts([]Pcts{{P50: 1, P99: 10}, {P50: 3, P99: 30}, {P50: 2, P99: 900}})
	if got != (Pcts{P50: 2, P99: 30}) {
		t.Fatalf("medianPcts %+v", got)
	}
}
