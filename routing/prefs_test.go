package routing

import (
	stdjson "encoding/json"
	"reflect"
	"testing"

	"github.com/goccy/go-json"
)

func TestPreferencesDecode(t *testing.T) {
	nano := func(v int64) *int64 { return &v }
	no := false
	f := func(js string, want Preferences) {
		t.Helper()
		for name, unmarshal := range map[string]func([]byte, any) error{"goccy": json.Unmarshal, "encoding/json": stdjson.Unmarshal} {
			var got Preferences
			if err := unmarshal([]byte(js), &got); err != nil {
				t.Fatalf("%s: %s: %v", name, js, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: %s:\ngot  %+v\nwant %+v", name, js, got, want)
			}
		}
	}
	f(`{}`, Preferences{})
	f(`{"order":["a","B"],"allow_fallbacks":false,"require_parameters":true,"data_collection":"deny","zdr":true,
	    "only":["x"],"ignore":["y"],"quantizations":["fp8"]}`,
		Preferences{Order: []string{"a", "B"}, AllowFallbacks: &no, RequireParameters: true, DataCollection: DataCollectionDeny,
			ZDR: true, Only: []string{"x"}, Ignore: []string{"y"}, Quantizations: []string{"fp8"}})
	f(`{"sort":"throughput"}`, Preferences{Sort: Sort{By: SortThroughput}})
	f(`{"sort":{"by":"latency","partition":"none"}}`, Preferences{Sort: Sort{By: SortLatency, Partition: PartitionNone}})
	f(`{"sort":{"partition":"model"}}`, Preferences{Sort: Sort{Partition: PartitionModel}})
	f(`{"sort":null,"max_price":null,"preferred_max_latency":null}`, Preferences{})
	f(`{"max_price":{"prompt":1.5,"completion":"0.000001","request":0,"image":2e-3}}`,
		Preferences{MaxPrice: MaxPrice{Prompt: nano(1_500_000_000), Completion: nano(1000), Request: nano(0), Image: nano(2_000_000)}})
	f(`{"preferred_min_throughput":50,"preferred_max_latency":{"p50":1.5,"p99":4}}`,
		Preferences{PreferredMinThroughput: Threshold{P50: 50}, PreferredMaxLatency: Threshold{P50: 1.5, P99: 4}})
	f(`{"unknown_field":1,"enforce_distillable_text":true}`, Preferences{})

	for _, bad := range []string{
		`{"sort":"fastest"}`,
		`{"sort":{"by":"price","partition":"all"}}`,
		`{"sort":5}`,
		`{"data_collection":"maybe"}`,
		`{"max_price":{"prompt":-1}}`,
		`{"max_price":{"prompt":"abc"}}`,
		`{"max_price":{"prompt":true}}`,
		`{"preferred_max_latency":-1}`,
		`{"preferred_max_latency":"fast"}`,
		`{"preferred_min_throughput":{"p50":"x"}}`,
	} {
		var p Preferences
		if err := json.Unmarshal([]byte(bad), &p); err == nil {
			t.Fatalf("goccy accepted %s", bad)
		}
		if err := stdjson.Unmarshal([]byte(bad), &p); err == nil {
			t.Fatalf("encoding/json accepted %s", bad)
		}
	}
}

func TestPreferencesEncode(t *testing.T) {
	v := int64(1_500_000_000)
	p := Preferences{Sort: Sort{By: SortPrice}, MaxPrice: MaxPrice{Prompt: &v}, PreferredMaxLatency: Threshold{P50: 2}}
	b, err := stdjson.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"sort":"price","max_price":{"prompt":1.5},"preferred_max_latency":{"p50":2}}`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
	var back Preferences
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, p) {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	s, _ := stdjson.Marshal(Sort{By: SortLatency, Partition: PartitionNone})
	if string(s) != `{"by":"latency","partition":"none"}` {
		t.Fatalf("sort object: %s", s)
	}
}

func TestParseModel(t *testing.T) {
	f := func(in, id string, v Variant) {
		t.Helper()
		gotID, gotV := ParseModel(in)
		if gotID != id || gotV != v {
			t.Fatalf("ParseModel(%q) = %q, %v", in, gotID, gotV)
		}
	}
	f("a/b", "a/b", VariantNone)
	f("a/b:free", "a/b", VariantFree)
	f("a/b:nitro", "a/b", VariantNitro)
	f("a/b:floor", "a/b", VariantFloor)
	f("a/b:thinking", "a/b", VariantThinking)
	f("a/b:beta", "a/b:beta", VariantNone)
	f("tollgate/auto:free", "tollgate/auto", VariantFree)
	if VariantThinking.String() != "thinking" {
		t.Fatal("variant name")
	}
}

func TestParams(t *testing.T) {
	p := ParseParams([]string{"temperature", "tools", "max_completion_tokens", "nonsense"})
	if !p.Has(ParamTemperature|ParamTools|ParamMaxTokens) || p.Has(ParamSeed) {
		t.Fatalf("ParseParams: %b", p)
	}
	if names := p.Names(nil); len(names) != 3 || names[0] != "temperature" {
		t.Fatalf("Names: %v", names)
	}
	if _, ok := ParamByName("nonsense"); ok {
		t.Fatal("unknown name resolved")
	}
	for i := range paramNames {
		if b, ok := ParamByName(paramNames[i]); !ok || b != 1<<uint(i) {
			t.Fatalf("%s", paramNames[i])
		}
	}
}
