package proc

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	at := time.Unix(100, 0)
	f := func(in string, want Sample, ok bool) {
		t.Helper()
		got, err := parseStat([]byte(in), at, 4096)
		if (err == nil) != ok || (ok && got != want) {
			t.Fatalf("parseStat(%q) = %+v, %v; want %+v ok=%v", in, got, err, want, ok)
		}
	}
	// Field layout from proc(5); comm with a space and a parenthesis.
	line := "4242 (tollgate (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 12 0 9999 1234567890 3000 18446744073709551615"
	f(line, Sample{At: at, RSS: 3000 * 4096, CPU: 3 * time.Second}, true)
	f("4242 tollgate S 1", Sample{}, false)
	f("4242 (x) S 1 2 3", Sample{}, false)
	f("4242 (x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 abc 50 0 0 20 0 12 0 9999 1 3000", Sample{}, false)
}

func TestSampleSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	s, err := Start(os.Getpid(), 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(120 * time.Millisecond)
	for time.Now().Before(end) { // burn some CPU so that CPU time moves
	}
	st, err := s.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if st.Samples < 3 || st.RSSMax <= 0 || st.RSSMean <= 0 || st.RSSMean > st.RSSMax || st.CPU < 0 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := Start(1<<30, 0); err == nil {
		t.Fatal("sampling a missing process did not fail")
	}
}

func TestSummarize(t *testing.T) {
	t0 := time.Unix(0, 0)
	st := summarize(7, []Sample{
		{At: t0, RSS: 100, CPU: 0},
		{At: t0.Add(time.Second), RSS: 300, CPU: 500 * time.Millisecond},
		{At: t0.Add(2 * time.Second), RSS: 200, CPU: 1500 * time.Millisecond},
	})
	if st.RSSMax != 300 || st.RSSMean != 200 || st.CPU != 1500*time.Millisecond || st.CPUPercent != 75 || st.CPUPercentMax != 100 {
		t.Fatalf("%+v", st)
	}
}

func TestChild(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	ready := func(line string) (string, bool) {
		v, ok := strings.CutPrefix(line, "ready ")
		return v, ok
	}
	c, v, err := StartChild("/bin/sh", []string{"-c", "echo noise; echo ready at-42; exec sleep 30"}, 5*time.Second, ready)
	if err != nil {
		t.Fatal(err)
	}
	if v != "at-42" || c.PID() <= 0 {
		t.Fatalf("ready value %q pid %d", v, c.PID())
	}
	start := time.Now()
	if err := c.Stop(); err != nil || time.Since(start) > 4*time.Second {
		t.Fatalf("stop: %v after %v", err, time.Since(start))
	}
	if _, _, err := StartChild("/bin/sh", []string{"-c", "echo never"}, 5*time.Second, ready); err == nil {
		t.Fatal("a child that exits before it is ready was accepted")
	}
	if _, _, err := StartChild("/nonexistent/binary", nil, time.Second, ready); err == nil {
		t.Fatal("a missing binary started")
	}
}
