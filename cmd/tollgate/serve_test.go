package main

import (
	"runtime/debug"
	"testing"
)

// TestSetGCPercent: the node collects at defaultGCPercent unless GOGC
// names another value; an empty GOGC counts as unset.
func TestSetGCPercent(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	for _, tc := range []struct {
		env  string
		want int
	}{{"", defaultGCPercent}, {"150", 100}} {
		debug.SetGCPercent(100)
		t.Setenv("GOGC", tc.env)
		setGCPercent()
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("GOGC=%q: GC percent %d, want %d", tc.env, got, tc.want)
		}
	}
}
