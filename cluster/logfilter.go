package cluster

import (
	"bytes"
	"context"
	"log/slog"
)

// logFilter is the io.Writer behind memberlist's *log.Logger. It turns
// memberlist's "[LEVEL] memberlist: …" lines into slog records and counts
// the lines that mean a peer's gossip was refused for a wrong key or label
// (and those of packets memberlist dropped itself):
// memberlist reports those only in its log (its go-metrics counters are
// process-global and have no rejection counter), so the log is the one
// per-instance signal. The matched phrases are memberlist v0.7's
// (net.go, security.go); the tests break if an upgrade changes them.
type logFilter struct{ c *Cluster }

var (
	labelPhrases = [][]byte{
		[]byte("unacceptable label"),
		[]byte("cannot decode label"),
		[]byte("label header cannot be empty"),
	}
	keyPhrases = [][]byte{
		[]byte("no installed keys could decrypt the message"),
		[]byte("decrypt packet failed"),
		[]byte("remote state is encrypted and encryption is not configured"),
		[]byte("encryption is configured but remote state is not encrypted"),
	}
	// memberlist drops an inbound packet when its handoff queue
	// (HandoffQueueDepth) is full.
	handoffFull   = []byte("handler queue full")
	levelPrefixes = []struct {
		prefix []byte
		level  slog.Level
	}{
		{[]byte("[DEBUG]"), slog.LevelDebug},
		{[]byte("[INFO]"), slog.LevelInfo},
		{[]byte("[WARN]"), slog.LevelWarn},
		{[]byte("[ERR]"), slog.LevelError},
		{[]byte("[ERROR]"), slog.LevelError},
	}
)

func (w *logFilter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for _, lp := range levelPrefixes {
		if bytes.HasPrefix(line, lp.prefix) {
			level = lp.level
			line = bytes.TrimSpace(line[len(lp.prefix):])
			break
		}
	}
	line = bytes.TrimPrefix(line, []byte("memberlist: "))
	switch lower := bytes.ToLower(line); {
	case containsAny(lower, labelPhrases):
		w.c.m.rejectedLabel.Inc()
	case containsAny(lower, keyPhrases):
		w.c.m.rejectedKey.Inc()
	case bytes.Contains(lower, handoffFull):
		w.c.m.dropped[dropMemberlist].Inc()
	}
	if w.c.log.Enabled(context.Background(), level) {
		w.c.log.Log(context.Background(), level, string(line), "source", "memberlist")
	}
	return len(p), nil
}

func containsAny(s []byte, phrases [][]byte) bool {
	for _, p := range phrases {
		if bytes.Contains(s, p) {
			return true
		}
	}
	return false
}
