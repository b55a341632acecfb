package catalogstore

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tollgate/tollgate/routing"
)

func TestPutLoadSurvivesReopen(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s, err := Open("cat", fs)
	if err != nil {
		t.Fatal(err)
	}
	p := routing.PriceRecord("p1", "acme/chat", routing.Pricing{Prompt: 5e8, Completion: 1e9}, 10, "n1")
	d := routing.DisableRecord("p2", true, 11, "n1")
	if err := s.Put(p, d); err != nil {
		t.Fatal(err)
	}
	// A newer record of the same (kind, key) replaces the old one.
	p2 := routing.PriceRecord("p1", "acme/chat", routing.Pricing{Prompt: 7e8, Completion: 1e9}, 12, "n1")
	if err := s.Put(p2); err != nil {
		t.Fatal(err)
	}
	// Crash: only synced data survives.
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	_ = s.Close()
	s, err = Open("cat", crashed)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records after crash, want 2: %+v", len(recs), recs)
	}
	for _, r := range recs {
		if r.Kind == routing.KindPrice && r.Version != 12 {
			t.Fatalf("price record version %d, want the newest (12)", r.Version)
		}
	}
}
