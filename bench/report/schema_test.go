package report

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"math"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/bench/load"
	"github.com/tollgate/tollgate/bench/mock"
	"github.com/tollgate/tollgate/bench/proc"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata/*.golden.* from the current output")

var distType = reflect.TypeOf(Dist{})

// jsonPaths lists the members of t as SCHEMA.md names them: nested
// objects by dotted path, a Dist as one member (its own members are
// documented once under <dist>).
func jsonPaths(t reflect.Type, prefix string, out map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		p := prefix + name
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			out[p] = true // documented itself ("object or null") and by members
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != distType && ft != reflect.TypeOf(time.Time{}) {
			jsonPaths(ft, p+".", out)
			continue
		}
		out[p] = true
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
	jsonPaths(distType, "<dist>.", want)
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
	if !bytes.Contains(doc, []byte(Schema)) {
		t.Fatalf("SCHEMA.md does not name %s", Schema)
	}
	for _, k := range load.ErrorKinds {
		if !bytes.Contains(doc, []byte("`"+k+"`")) {
			t.Errorf("error kind %s is not documented", k)
		}
	}
}

// fixedReport is a report with every member set, from a hand-made Result.
func fixedReport() *Report {
	res := load.NewResult()
	res.Elapsed = 2 * time.Second
	res.Sent, res.Succeeded, res.Failed, res.Good, res.Verified = 10, 8, 2, 7, 8
	res.Status[200], res.Status[503], res.Status[0] = 8, 1, 1
	res.Errors["http_503"], res.Errors["timeout"] = 1, 1
	res.OutputTokens, res.UsageReported = 128, 8
	for i := int64(1); i <= 8; i++ {
		_ = res.E2E.RecordValue(200 * i)
		_ = res.TTFT.RecordValue(50 * i)
		_ = res.ITL.RecordValue(10 * i)
		_ = res.TPOT.RecordValue(20 * i)
		_ = res.ServerOverhead.RecordValue(30 + i)
		_ = res.OutputTokensH.RecordValue(16)
	}
	for i := int64(1); i <= 10; i++ {
		_ = res.Lag.RecordValue(i)
	}
	r := load.Request{URL: "http://127.0.0.1:8080/api/v1", Model: "demo/mini", Key: "sk-secret",
		Headers: []load.Header{{Key: "X-Title", Value: "bench"}}, Stream: true, Timeout: time.Minute,
		PromptTokens: load.Range{Min: 16, Max: 64}, MaxTokens: load.Range{Min: 16, Max: 16}}
	p := load.Plan{Rate: 5, Arrival: load.Poisson, Duration: 2 * time.Second, Warmup: time.Second,
		SLO: load.SLO{TTFT: 200 * time.Millisecond, E2E: 2 * time.Second}}
	ps := &proc.Stats{PID: 42, Samples: 9, RSSMax: 50 << 20, RSSMean: 40 << 20, CPU: 1500 * time.Millisecond, CPUPercent: 75, CPUPercentMax: 90}
	return New(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), r, p, res, ps)
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := "testdata/" + name
	if *rewrite {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -rewrite to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs (run with -rewrite if intended):\n%s", path, got)
	}
}

func TestGoldenReport(t *testing.T) {
	rep := fixedReport()
	f := func(name string, write func(*bytes.Buffer, *Report) error) {
		t.Helper()
		var b bytes.Buffer
		if err := write(&b, rep); err != nil {
			t.Fatal(err)
		}
		golden(t, name, b.Bytes())
	}
	f("report.golden.json", func(b *bytes.Buffer, r *Report) error { return WriteJSON(b, r) })
	f("report.golden.csv", func(b *bytes.Buffer, r *Report) error { return WriteCSV(b, r) })
	f("report.golden.md", func(b *bytes.Buffer, r *Report) error { return WriteMarkdown(b, r) })
	f("report.golden.txt", func(b *bytes.Buffer, r *Report) error { return WriteText(b, r) })
}

func TestJSONShape(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, fixedReport()); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["schema"] != Schema {
		t.Fatalf("schema %v", m["schema"])
	}
	e2e := m["metrics"].(map[string]any)["e2e_ms"].(map[string]any)
	if e2e["count"] != 8.0 || e2e["max"] != 1.6 || e2e["p50"] != 0.8 {
		t.Fatalf("e2e %v", e2e)
	}
	cfg := m["config"].(map[string]any)
	if h := cfg["headers"].([]any); len(h) != 2 || h[0] != "Authorization" || strings.Contains(b.String(), "sk-secret") {
		t.Fatalf("headers %v (the key must not be reported)", h)
	}
	if m["status"].(map[string]any)["0"] != 1.0 {
		t.Fatalf("status %v", m["status"])
	}
	// Without --pid, process is null, not missing.
	rep := fixedReport()
	rep.Process = nil
	b.Reset()
	_ = WriteJSON(&b, rep)
	if !strings.Contains(b.String(), `"process": null`) {
		t.Fatal("process member missing without --pid")
	}
}

// TestReportOfAMockRun runs a bounded load against bench/mock and checks
// the report's figures against what the mock did.
func TestReportOfAMockRun(t *testing.T) {
	m := mock.New(mock.Config{Tokens: 10, TTFT: 5 * time.Millisecond, History: 1})
	if err := m.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r := load.Request{URL: m.URL(), Model: "mock-chat", Stream: true, IdleConnTimeout: 200 * time.Millisecond}
	c, err := load.NewClient(r)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := load.Plan{Concurrency: 4, Requests: 200, SLO: load.SLO{TTFT: time.Minute}}
	res, err := load.Run(context.Background(), c, p)
	if err != nil {
		t.Fatal(err)
	}
	rep := New(time.Now(), c.Request(), p, res, nil)
	var b bytes.Buffer
	if err := WriteJSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	st := m.Stats()
	switch {
	case back.Requests.Sent != 200 || back.Requests.Succeeded != 200 || back.Requests.Good != 200 || back.Status["200"] != 200:
		t.Fatalf("requests %+v status %v", back.Requests, back.Status)
	case back.Tokens.Output != int64(st.CompletionTokens) || back.Tokens.Output != 2000 || back.Tokens.UsageReported != 200:
		t.Fatalf("tokens %+v, mock wrote %d", back.Tokens, st.CompletionTokens)
	case back.Metrics.TTFT.Count != 200 || back.Metrics.TTFT.P50 < 5 || back.Metrics.ITL.Count != 200*9:
		t.Fatalf("ttft %+v itl count %d", back.Metrics.TTFT, back.Metrics.ITL.Count)
	case back.Config.Mode != "closed" || back.Config.Concurrency != 4 || back.Config.PromptTokens.Min != load.DefaultPromptTokens:
		t.Fatalf("config %+v", back.Config)
	case back.Throughput.RequestsPerS <= 0 || math.Abs(back.Throughput.OutputTokensPerS-10*back.Throughput.RequestsPerS) > 1e-9*back.Throughput.OutputTokensPerS:
		t.Fatalf("throughput %+v", back.Throughput)
	}
}
