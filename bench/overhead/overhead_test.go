package overhead

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tollgate/tollgate/bench/floor"
	"github.com/tollgate/tollgate/bench/load"
	"github.com/tollgate/tollgate/bench/mock"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := settledLeaks(3 * time.Second); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func settledLeaks(d time.Duration) error {
	end := time.Now().Add(d)
	for {
		err := goleak.Find(goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"))
		if err == nil || time.Now().After(end) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func runBench(t *testing.T, c Config) *Report {
	t.Helper()
	c.idleConnTimeout = 200 * time.Millisecond
	c.Log = t.Logf
	if c.Pause == 0 {
		c.Pause = 10 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestDirectFloorAndTarget(t *testing.T) {
	// The "gateway" under test is a second pass-through proxy in front of
	// its own mock: it must come out close to the floor.
	m := mock.New(mock.Config{History: 1})
	if err := m.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	gw, err := floor.New(floor.Config{Upstream: m.URL(), IdleConnTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	rep := runBench(t, Config{
		Targets: []Target{{Name: "gateway", URL: gw.URL(), Headers: []load.Header{{Key: "X-Mock-Tokens", Value: "16"}}}},
		Rates:   []float64{100, 200}, Rounds: 2, Round: 200 * time.Millisecond, Warmup: 50 * time.Millisecond,
		PeakConcurrency: 4, PeakRounds: 1, PeakRound: 200 * time.Millisecond, Seed: 7,
		// Generous: a shared test machine must not break the sweep here.
		SLO: load.SLO{E2E: 10 * time.Second},
	})
	if rep.Stopped != "" || len(rep.Rates) != 2 || len(rep.Targets) != 3 || len(rep.Peak) != 3 {
		t.Fatalf("stopped %q, %d rates, %d targets, %d peaks", rep.Stopped, len(rep.Rates), len(rep.Targets), len(rep.Peak))
	}
	for _, rr := range rep.Rates {
		if len(rr.Targets) != 3 {
			t.Fatalf("rate %v: %d targets", rr.Rate, len(rr.Targets))
		}
		d, f, g := rr.Targets[0], rr.Targets[1], rr.Targets[2]
		if d.Name != RoleDirect || f.Name != RoleFloor || g.Name != "gateway" {
			t.Fatalf("order %s %s %s", d.Name, f.Name, g.Name)
		}
		// Same seeds: every target got exactly the same schedule.
		for _, x := range []TargetResult{d, f, g} {
			if x.Sent != d.Sent || x.Sent < int64(rr.Rate*0.4*0.8) || x.Failed != 0 || !x.SLOMet {
				t.Fatalf("rate %v: %s %+v (direct sent %d)", rr.Rate, x.Name, x, d.Sent)
			}
		}
		// Added latency: the median over the rounds of the paired
		// differences (two rounds: their mean).
		if len(f.RoundsLatencyUs) != 2 || len(d.RoundsLatencyUs) != 2 || f.Rounds != 2 {
			t.Fatalf("rounds: %d %d", len(f.RoundsLatencyUs), len(d.RoundsLatencyUs))
		}
		want := ((f.RoundsLatencyUs[0].P99 - d.RoundsLatencyUs[0].P99) + (f.RoundsLatencyUs[1].P99 - d.RoundsLatencyUs[1].P99)) / 2
		if f.AddedUs.P99 != want || f.RatioToFloor != nil || d.AddedUs != (Pcts{}) || d.RatioToFloor != nil {
			t.Fatalf("added %+v (want p99 %v) ratio %v", f.AddedUs, want, f.RatioToFloor)
		}
		if m := f.RoundMedianLatencyUs.P50; m != (f.RoundsLatencyUs[0].P50+f.RoundsLatencyUs[1].P50)/2 {
			t.Fatalf("round median p50 %v of %+v", m, f.RoundsLatencyUs)
		}
		if g.RatioToFloor == nil {
			t.Fatal("no ratio to the floor for the gateway")
		}
		if f.AddedUs.P50 > 0 && (g.RatioToFloor.P50 == nil || *g.RatioToFloor.P50 != g.AddedUs.P50/f.AddedUs.P50) {
			t.Fatalf("ratio p50 %v, added %v / %v", g.RatioToFloor.P50, g.AddedUs.P50, f.AddedUs.P50)
		}
	}
	for _, p := range rep.Peak {
		if p.ThroughputRPS <= 0 || p.Succeeded == 0 || p.MaxRateWithinSLO != 200 || len(p.RoundsRPS) != 1 || p.RoundsRPS[0] != p.ThroughputRPS {
			t.Fatalf("peak %+v", p)
		}
		if (p.RatioToFloor != nil) != (p.Name == "gateway") || (p.RatioToDirect != nil) != (p.Name != RoleDirect) {
			t.Fatalf("peak ratios of %s: %v %v", p.Name, p.RatioToFloor, p.RatioToDirect)
		}
	}
	var b bytes.Buffer
	if err := WriteJSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back.Schema != Schema || len(back.Rates) != 2 {
		t.Fatalf("json round trip: %v", err)
	}
	b.Reset()
	if err := WriteText(&b, rep); err != nil || !strings.Contains(b.String(), "floor") || !strings.Contains(b.String(), "peak throughput") {
		t.Fatalf("text: %v\n%s", err, b.String())
	}
	t.Log("\n" + b.String())
	b.Reset()
	if err := WriteMarkdown(&b, rep); err != nil || !strings.Contains(b.String(), "| floor |") {
		t.Fatalf("markdown: %v\n%s", err, b.String())
	}
	// PNG rendering is covered by bench/plot (and slow under -race).
	for _, name := range []string{"out.svg"} {
		path := filepath.Join(t.TempDir(), name)
		if err := rep.WritePlot(path); err != nil {
			t.Fatal(err)
		}
		svg, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{">End-to-end latency by percentile at ", ">Added latency (target − direct) by percentile at ", ">floor<", ">p99.99<"} {
			if !strings.Contains(string(svg), want) {
				t.Fatalf("%s lacks %q", name, want)
			}
		}
	}
}

func TestStreamingIntegrity(t *testing.T) {
	rep := runBench(t, Config{
		Stream: true, MockTokens: 8, MockTokenGap: time.Millisecond, Rates: []float64{50},
		Rounds: 2, Round: 300 * time.Millisecond, Warmup: 100 * time.Millisecond, PeakConcurrency: -1,
		SLO: load.SLO{TTFT: 10 * time.Second},
	})
	if len(rep.Rates) != 1 || len(rep.Peak) != 0 {
		t.Fatalf("%d rates, %d peaks", len(rep.Rates), len(rep.Peak))
	}
	for _, tr := range rep.Rates[0].Targets {
		if tr.Sent == 0 || tr.Verified != tr.Sent || tr.Failed != 0 || tr.TTFTUs.Count != tr.Sent || tr.ITLUs.Count != 7*tr.Sent {
			t.Fatalf("%s: sent %d verified %d errors %v ttft %d itl %d", tr.Name, tr.Sent, tr.Verified, tr.Errors, tr.TTFTUs.Count, tr.ITLUs.Count)
		}
		// The mock sleeps at least the gap between tokens.
		if tr.ITLUs.P50 < 900 {
			t.Fatalf("%s: itl p50 %v µs", tr.Name, tr.ITLUs.P50)
		}
	}
	var b bytes.Buffer
	_ = WriteText(&b, rep)
	if !strings.Contains(b.String(), "intact streams") {
		t.Fatalf("text:\n%s", b.String())
	}
	t.Log("\n" + b.String())
	if err := rep.WritePlot(filepath.Join(t.TempDir(), "s.svg")); err != nil {
		t.Fatal(err)
	}
}

func TestParseTarget(t *testing.T) {
	f := func(in string, want Target, ok bool) {
		t.Helper()
		got, err := ParseTarget(in)
		if (err == nil) != ok {
			t.Fatalf("ParseTarget(%q): %v", in, err)
		}
		if ok {
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(want)
			if !bytes.Equal(gj, wj) {
				t.Fatalf("ParseTarget(%q) = %s, want %s", in, gj, wj)
			}
		}
	}
	f("tollgate=http://127.0.0.1:8080/api/v1", Target{Name: "tollgate", URL: "http://127.0.0.1:8080/api/v1"}, true)
	f("gw=http://127.0.0.1:4000/v1,header=Authorization:Bearer sk-1,header=X-A: b,model=openai/mock-chat,key=k",
		Target{Name: "gw", URL: "http://127.0.0.1:4000/v1", Model: "openai/mock-chat", Key: "k",
			Headers: []load.Header{{Key: "Authorization", Value: "Bearer sk-1"}, {Key: "X-A", Value: "b"}}}, true)
	f("floor=http://127.0.0.1:1/v1", Target{}, false)
	f("direct=http://127.0.0.1:1/v1", Target{}, false)
	f("noname", Target{}, false)
	f("x=ftp://h/v1", Target{}, false)
	f("x=http://h/v1,color=red", Target{}, false)
	f("x=http://h/v1,header=bad", Target{}, false)
}

func TestParseRates(t *testing.T) {
	got, err := ParseRates("5000, 1000,2000,1000")
	if err != nil || len(got) != 3 || got[0] != 1000 || got[2] != 5000 {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"", "0", "-5", "fast"} {
		if _, err := ParseRates(bad); err == nil {
			t.Fatalf("ParseRates(%q) accepted", bad)
		}
	}
}

func TestSweepStopsWhenATargetBreaks(t *testing.T) {
	// A target that answers 503 to everything breaks at the first rate;
	// the sweep then stops (direct and floor never break here).
	rep := runBench(t, Config{
		Targets: []Target{{Name: "broken", URL: "http://127.0.0.1:1/v1"}},
		Rates:   []float64{50, 100, 200}, Rounds: 1, Round: 200 * time.Millisecond, Warmup: 50 * time.Millisecond,
		NoFloor: true, PeakConcurrency: -1, Timeout: time.Second, SLO: load.SLO{E2E: 10 * time.Second},
	})
	if len(rep.Rates) != 1 || !strings.Contains(rep.Stopped, "every target broke") {
		t.Fatalf("%d rates, stopped %q", len(rep.Rates), rep.Stopped)
	}
	b := rep.Rates[0].Targets[1]
	if b.SLOMet || b.Errors["connect"] != b.Sent {
		t.Fatalf("broken target %+v", b)
	}
	var out bytes.Buffer
	_ = WriteText(&out, rep)
	if want := fmt.Sprintf("errors: 50 req/s, broken: connect × %d", b.Sent); !strings.Contains(out.String(), want) {
		t.Fatalf("text lacks %q:\n%s", want, out.String())
	}
}
