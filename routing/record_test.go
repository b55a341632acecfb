package routing

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func mustApply(t *testing.T, r *Router, rec CatalogRecord) bool {
	t.Helper()
	changed, err := r.Apply(rec)
	if err != nil {
		t.Fatalf("Apply %s %q: %v", rec.Kind, rec.Key, err)
	}
	return changed
}

func TestRecordLastWriterWins(t *testing.T) {
	clk := newClock()
	r := newTestRouter(t, testCatalog(), clk)
	price := func() int64 { e, _ := r.Snapshot().Endpoint("cheap", "acme/chat"); return e.Pricing.Prompt }

	v5 := PriceRecord("Cheap", "acme/chat", Pricing{Prompt: usd(5)}, 5, "b")
	if !mustApply(t, r, v5) || price() != usd(5) {
		t.Fatal("price record not applied")
	}
	if mustApply(t, r, v5) {
		t.Fatal("re-applying the same record reported a change")
	}
	if mustApply(t, r, PriceRecord("cheap", "acme/chat", Pricing{Prompt: usd(4)}, 4, "z")) || price() != usd(5) {
		t.Fatal("older version won")
	}
	if mustApply(t, r, PriceRecord("cheap", "acme/chat", Pricing{Prompt: usd(3)}, 5, "a")) || price() != usd(5) {
		t.Fatal("smaller node won the tie")
	}
	if !mustApply(t, r, PriceRecord("cheap", "acme/chat", Pricing{Prompt: usd(6)}, 5, "c")) || price() != usd(6) {
		t.Fatal("bigger node lost the tie")
	}
	// Deleting the override restores the configured price.
	if !mustApply(t, r, Tombstone(KindPrice, "cheap/acme/chat", 6, "a")) || price() != usd(0.1) {
		t.Fatalf("tombstone did not restore the configured price: %d", price())
	}
	// The configured catalog can change underneath; overrides stay.
	mustApply(t, r, PriceRecord("cheap", "acme/chat", Pricing{Prompt: usd(7)}, 7, "a"))
	if err := r.Update(testCatalog()); err != nil || price() != usd(7) {
		t.Fatalf("override lost on Update: %v %d", err, price())
	}
	if v := r.NextVersion(); v <= 7 {
		t.Fatalf("NextVersion %d not above applied versions", v)
	}
	big := uint64(1) << 62
	mustApply(t, r, PriceRecord("cheap", "acme/chat", Pricing{Prompt: usd(8)}, big, "a"))
	if v := r.NextVersion(); v <= big {
		t.Fatalf("NextVersion %d not above %d", v, big)
	}
	if a, b := r.NextVersion(), r.NextVersion(); b <= a {
		t.Fatal("NextVersion not increasing")
	}
}

func TestRecordKinds(t *testing.T) {
	clk := newClock()
	r := newTestRouter(t, testCatalog(), clk)
	v := uint64(0)
	next := func() uint64 { v++; return v }

	// A new provider and a new model with an endpoint on it; the endpoint
	// arrives first and waits for its model.
	ep := &Endpoint{Provider: "NewCo", Model: "new/model", UpstreamModel: "nm-1", Pricing: Pricing{Prompt: usd(1), Completion: usd(2)},
		ContextLength: 1000, MaxCompletionTokens: 500, Quantization: "fp8", SupportedParameters: []string{"tools"}, InputModalities: []string{"text"}}
	mustApply(t, r, EndpointRecord(ep, next(), "n"))
	if _, ok := r.Snapshot().Model("new/model"); ok {
		t.Fatal("endpoint without model materialised")
	}
	mustApply(t, r, ModelRecord(&Model{ID: "new/model", Name: "New", Created: 1700000000, ContextLength: 8000, InputModalities: []string{"text"}}, next(), "n"))
	if m, ok := r.Snapshot().Model("new/model"); !ok || len(m.Endpoints) != 0 {
		t.Fatal("endpoint of unknown provider materialised")
	}
	mustApply(t, r, ProviderRecord(Provider{Name: "NewCo", Protocol: "openai", DataPolicy: DataPolicy{ZDR: true}}, next(), "n"))
	got, err := r.Rank(&Request{Model: "new/model"}, nil)
	if err != nil || len(got) != 1 || got[0].Endpoint.UpstreamModelID() != "nm-1" || !got[0].Endpoint.ProviderInfo().DataPolicy.ZDR {
		t.Fatalf("new model not routable: %v %v", got, err)
	}
	// Disable the provider, then re-enable it.
	mustApply(t, r, DisableRecord("newco", true, next(), "n"))
	if _, err := r.Rank(&Request{Model: "new/model"}, nil); err == nil {
		t.Fatal("disabled provider still routed")
	}
	mustApply(t, r, DisableRecord("NEWCO", false, next(), "n"))
	if _, err := r.Rank(&Request{Model: "new/model"}, nil); err != nil {
		t.Fatal(err)
	}
	// Disable a configured endpoint.
	mustApply(t, r, DisableRecord("fast/acme/chat", true, next(), "n"))
	got, _ = r.Rank(&Request{Model: "acme/chat"}, nil)
	if slices.Contains(providers(got), "fast") {
		t.Fatal("disabled endpoint routed")
	}
	// Replace a configured model's metadata; its endpoints stay.
	mustApply(t, r, ModelRecord(&Model{ID: "acme/big", Name: "Big 2", ContextLength: 300000}, next(), "n"))
	if m, _ := r.Snapshot().Model("acme/big"); m.Name != "Big 2" || len(m.Endpoints) != 1 || m.Endpoints[0].EffectiveContextLength() != 300000 {
		t.Fatalf("model record: %+v", m)
	}
	// Delete an endpoint, a model and a provider.
	mustApply(t, r, Tombstone(KindEndpoint, "Cheap/acme/chat", next(), "n"))
	if _, ok := r.Snapshot().Endpoint("cheap", "acme/chat"); ok {
		t.Fatal("endpoint tombstone ignored")
	}
	mustApply(t, r, Tombstone(KindModel, "acme/vision", next(), "n"))
	if _, ok := r.Snapshot().Model("acme/vision"); ok {
		t.Fatal("model tombstone ignored")
	}
	mustApply(t, r, Tombstone(KindProvider, "Pricey", next(), "n"))
	if _, ok := r.Snapshot().Provider("pricey"); ok {
		t.Fatal("provider tombstone ignored")
	}
	if m, _ := r.Snapshot().Model("acme/big"); len(m.Endpoints) != 0 {
		t.Fatal("endpoints of a deleted provider remain")
	}
	// Records() lists the winners, tombstones included.
	recs := r.Records()
	if len(recs) != 9 {
		t.Fatalf("%d records", len(recs))
	}
	for i := 1; i < len(recs); i++ {
		if recs[i-1].Kind > recs[i].Kind || recs[i-1].Kind == recs[i].Kind && recs[i-1].Key >= recs[i].Key {
			t.Fatal("Records not sorted")
		}
	}
}

func TestRecordValidation(t *testing.T) {
	r := newTestRouter(t, testCatalog(), newClock())
	for _, rec := range []CatalogRecord{
		{Kind: KindPrice, Key: "", Version: 1},
		{Kind: 99, Key: "x", Version: 1},
		{Kind: KindPrice, Key: "cheap/acme/chat", Value: []byte{1}},
		{Kind: KindDisable, Key: "cheap", Value: []byte{2}},
		{Kind: KindPrice, Key: "cheap/acme/chat", Deleted: true, Value: []byte{0}},
		PriceRecord("cheap", "acme/chat", Pricing{Prompt: -1}, 1, "n"),
		{Kind: KindPrice, Key: "Cheap/acme/chat", Value: appendPricing(nil, Pricing{})},
		{Kind: KindProvider, Key: "other", Value: ProviderRecord(Provider{Name: "x"}, 1, "n").Value},
		ProviderRecord(Provider{Name: "bad/name"}, 1, "n"),
		{Kind: KindModel, Key: "a/b", Value: ModelRecord(&Model{ID: "a/c"}, 1, "n").Value},
		{Kind: KindEndpoint, Key: "x/a/b", Value: EndpointRecord(&Endpoint{Provider: "y", Model: "a/b"}, 1, "n").Value},
	} {
		if _, err := r.Apply(rec); err == nil {
			t.Fatalf("accepted invalid record %+v", rec)
		}
	}
	if len(r.Records()) != 0 {
		t.Fatal("invalid records stored")
	}
}

// TestRecordMergeCommutes applies the same records in many orders, with
// duplicates, and expects one state.
func TestRecordMergeCommutes(t *testing.T) {
	var recs []CatalogRecord
	for v := uint64(1); v <= 6; v++ {
		for _, node := range []string{"a", "b"} {
			recs = append(recs,
				PriceRecord("cheap", "acme/chat", Pricing{Prompt: int64(v) * 1e9, Completion: int64(len(node))}, v%4, node),
				DisableRecord("mid", v%2 == 0, v, node),
				ModelRecord(&Model{ID: "x/m", Name: node, ContextLength: int(v) * 1000}, v%3, node),
				EndpointRecord(&Endpoint{Provider: "fast", Model: "x/m", Pricing: Pricing{Prompt: int64(v)}}, v, node),
			)
		}
	}
	recs = append(recs, Tombstone(KindModel, "x/m", 2, "c"), Tombstone(KindPrice, "cheap/acme/chat", 3, "c"))

	state := func(order []CatalogRecord) ([]CatalogRecord, []byte) {
		r := newTestRouter(t, testCatalog(), newClock())
		for _, rec := range order {
			if _, err := r.Apply(rec); err != nil {
				t.Fatal(err)
			}
		}
		var dump bytes.Buffer
		for _, m := range r.Snapshot().Models() {
			dump.Write(ModelRecord(m, 0, "").Value)
			for _, e := range m.Endpoints {
				dump.Write(EndpointRecord(e, 0, "").Value)
			}
		}
		for _, p := range r.Snapshot().Providers() {
			dump.Write(ProviderRecord(p, 0, "").Value)
		}
		return r.Records(), dump.Bytes()
	}
	wantRecs, wantDump := state(recs)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 50; i++ {
		order := slices.Clone(recs)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		order = append(order, order[:rng.IntN(len(order))]...) // duplicates
		gotRecs, gotDump := state(order)
		if !reflect.DeepEqual(gotRecs, wantRecs) || !bytes.Equal(gotDump, wantDump) {
			t.Fatalf("order %d converged to a different state", i)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	recs := []CatalogRecord{
		ProviderRecord(Provider{Name: "Acme", Protocol: "anthropic", DataPolicy: DataPolicy{Training: true, ZDR: true}, Disabled: true}, 1<<40, "node-1"),
		ModelRecord(&Model{ID: "a/b", Name: "B", Created: -5, ContextLength: 7, InputModalities: []string{"text", "image"}, OutputModalities: []string{"text"}}, 2, ""),
		EndpointRecord(&Endpoint{Provider: "Acme", Model: "a/b", UpstreamModel: "b-1", Pricing: Pricing{1, 2, 3, 4, 5, 6, 7}, ContextLength: 9, MaxCompletionTokens: 8, Quantization: "fp8", SupportedParameters: []string{"tools"}, Disabled: true}, 3, "n"),
		PriceRecord("acme", "a/b", Pricing{Prompt: 1 << 50}, 4, "n"),
		DisableRecord("acme/a/b", true, 5, "n"),
		Tombstone(KindModel, "a/b", 6, "n"),
	}
	for _, rec := range recs {
		got, err := UnmarshalCatalogRecord(rec.Marshal())
		if err != nil || !reflect.DeepEqual(got, rec) {
			t.Fatalf("round trip of %+v: %+v, %v", rec, got, err)
		}
	}
	p, err := recs[0].Provider()
	if err != nil || p != (Provider{Name: "Acme", Protocol: "anthropic", DataPolicy: DataPolicy{Training: true, ZDR: true}, Disabled: true}) {
		t.Fatalf("provider value: %+v %v", p, err)
	}
	e, err := recs[2].Endpoint()
	if err != nil || e.Pricing != (Pricing{1, 2, 3, 4, 5, 6, 7}) || !e.Disabled || e.Quantization != "fp8" {
		t.Fatalf("endpoint value: %+v %v", e, err)
	}
	for _, bad := range [][]byte{nil, {1}, {2, 1, 0, 0, 0, 0, 0}, {1, 9, 0, 0, 0, 0, 0}, {1, 1, 2, 0, 0, 0, 0}, {1, 1, 0, 0, 0, 0, 0, 0}, {1, 1, 0, 0, 5, 'a'}} {
		if _, err := UnmarshalCatalogRecord(bad); err == nil {
			t.Fatalf("accepted %v", bad)
		}
	}
}

func FuzzCatalogRecord(f *testing.F) {
	f.Add(ProviderRecord(Provider{Name: "p", Protocol: "openai"}, 1, "n").Marshal())
	f.Add(EndpointRecord(&Endpoint{Provider: "p", Model: "a/b", SupportedParameters: []string{"x"}}, 2, "n").Marshal())
	f.Add(ModelRecord(&Model{ID: "a/b", InputModalities: []string{"text"}}, 3, "n").Marshal())
	f.Add(PriceRecord("p", "a/b", Pricing{Prompt: 5}, 4, "n").Marshal())
	f.Add(Tombstone(KindDisable, "p", 5, "n").Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := UnmarshalCatalogRecord(b)
		if err != nil {
			return
		}
		again, err := UnmarshalCatalogRecord(rec.Marshal())
		if err != nil || !reflect.DeepEqual(again, rec) {
			t.Fatalf("round trip: %+v vs %+v (%v)", rec, again, err)
		}
		// Value decoders must not panic on arbitrary input, and decoded
		// values must re-encode to an equal record.
		switch rec.Kind {
		case KindProvider:
			if p, err := rec.Provider(); err == nil {
				re := ProviderRecord(p, rec.Version, rec.Node)
				if q, err := re.Provider(); err != nil || q != p {
					t.Fatalf("provider value round trip: %+v %+v", p, q)
				}
			}
		case KindModel:
			if m, err := rec.Model(); err == nil {
				re := ModelRecord(m, rec.Version, rec.Node)
				if m2, err := re.Model(); err != nil || !reflect.DeepEqual(m, m2) {
					t.Fatalf("model value round trip: %+v %+v", m, m2)
				}
			}
		case KindEndpoint:
			if e, err := rec.Endpoint(); err == nil {
				re := EndpointRecord(e, rec.Version, rec.Node)
				if e2, err := re.Endpoint(); err != nil || !reflect.DeepEqual(e, e2) {
					t.Fatalf("endpoint value round trip: %+v %+v", e, e2)
				}
			}
		case KindPrice:
			_, _ = rec.Pricing()
		case KindDisable:
			_, _ = rec.Disabled()
		}
		// Apply must not panic either, whatever it decides.
		r := newTestRouter(t, testCatalog(), newClock())
		_, _ = r.Apply(rec)
	})
}
