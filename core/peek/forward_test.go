package peek

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestAppendForward(t *testing.T) {
	f := func(body string, o ForwardOptions, want string) {
		t.Helper()
		var c Chat
		if err := ParseChat([]byte(body), &c); err != nil {
			t.Fatalf("ParseChat(%s): %v", body, err)
		}
		got := AppendForward([]byte("prefix"), []byte(body), &c, &o)
		if !bytes.HasPrefix(got, []byte("prefix")) {
			t.Fatalf("AppendForward overwrote dst: %s", got)
		}
		got = got[len("prefix"):]
		if string(got) != want {
			t.Fatalf("AppendForward(%s, %+v):\ngot  %s\nwant %s", body, o, got, want)
		}
		checkForward(t, []byte(body), &o, got)
	}
	msgs := `"messages":` + testMessages

	// No edits: the members as sent, whitespace between them dropped.
	f(`{"model":"a/b",`+msgs+`}`, ForwardOptions{}, `{"model":"a/b",`+msgs+`}`)
	f(` {  "model" : "a/b" ,`+"\n\t"+msgs+` } `, ForwardOptions{}, `{"model" : "a/b",`+msgs+`}`)

	// Explicit zero values and unusual number forms survive byte for byte.
	f(`{"model":"a/b",`+msgs+`,"temperature":0,"stream":false,"top_p":1.0,"min_p":1e-7,"seed":-0,"n":1E+0,"frequency_penalty":0.000,"logit_bias":{"50256":-100},"stop":[],"user":""}`,
		ForwardOptions{Model: "gpt-4o-2024-08-06"},
		`{"model":"gpt-4o-2024-08-06",`+msgs+`,"temperature":0,"stream":false,"top_p":1.0,"min_p":1e-7,"seed":-0,"n":1E+0,"frequency_penalty":0.000,"logit_bias":{"50256":-100},"stop":[],"user":""}`)
	f(`{"temperature" : 0.0 , "model":"x",`+msgs+`}`, ForwardOptions{Model: "y"},
		`{"temperature" : 0.0,"model":"y",`+msgs+`}`)

	// model replacement keeps the raw key, escapes the new value, and adds
	// "model" when only models[] was sent.
	f(`{"mod\u0065l" :  "x",`+msgs+`}`, ForwardOptions{Model: "y"}, `{"mod\u0065l" :  "y",`+msgs+`}`)
	f(`{"model":"x",`+msgs+`}`, ForwardOptions{Model: "we\"ird\n\xff"}, `{"model":"we\"ird\n\ufffd",`+msgs+`}`)
	f(`{"models":["a","b"],`+msgs+`}`, ForwardOptions{Model: "a-up"}, `{"models":["a","b"],`+msgs+`,"model":"a-up"}`)
	f(`{"models":["a","b"],`+msgs+`}`, ForwardOptions{Model: "a-up", StripExtensions: true}, `{`+msgs+`,"model":"a-up"}`)

	// stream_options.include_usage forced: added when absent, merged into
	// the client's options when present.
	f(`{"model":"x","stream":true,`+msgs+`}`, ForwardOptions{IncludeUsage: true},
		`{"model":"x","stream":true,`+msgs+`,"stream_options":{"include_usage":true}}`)
	f(`{"model":"x","stream":true,"stream_options":{"include_usage":false},`+msgs+`}`, ForwardOptions{IncludeUsage: true},
		`{"model":"x","stream":true,`+msgs+`,"stream_options":{"include_usage":true}}`)
	f(`{"model":"x","stream":true,"stream_options":{ "include_obfuscation" : false,"include_usage":null },`+msgs+`}`, ForwardOptions{IncludeUsage: true},
		`{"model":"x","stream":true,`+msgs+`,"stream_options":{"include_obfuscation" : false,"include_usage":true}}`)
	f(`{"model":"x","stream":true,"stream_options":{"include\u005fusage":false,"x":[1]},`+msgs+`}`, ForwardOptions{IncludeUsage: true},
		`{"model":"x","stream":true,`+msgs+`,"stream_options":{"x":[1],"include_usage":true}}`)
	f(`{"model":"x","stream":true,"stream_options":null,`+msgs+`}`, ForwardOptions{IncludeUsage: true},
		`{"model":"x","stream":true,`+msgs+`,"stream_options":{"include_usage":true}}`)
	f(`{"model":"x","stream":true,"stream_options":{},`+msgs+`}`, ForwardOptions{IncludeUsage: true},
		`{"model":"x","stream":true,`+msgs+`,"stream_options":{"include_usage":true}}`)
	// Not forced: the client's stream_options is left alone.
	f(`{"model":"x","stream":true,"stream_options":{"include_usage":false},`+msgs+`}`, ForwardOptions{},
		`{"model":"x","stream":true,"stream_options":{"include_usage":false},`+msgs+`}`)

	// Extension fields are dropped only when asked.
	ext := `{"model":"x",` + msgs + `,"models":["y"],"provider":{"order":["a"]},"route":"fallback","transforms":["middle-out"],"plugins":[{"id":"web"}],"usage":{"include":true},"session_id":"s","reasoning":{"effort":"low"},"metadata":{"tags":"t"},"include_reasoning":true,"top_a":0,"min_p":0,"temperature":0,"user":"u"}`
	f(ext, ForwardOptions{StripExtensions: true}, `{"model":"x",`+msgs+`,"temperature":0,"user":"u"}`)
	f(ext, ForwardOptions{}, ext)
	f(`{"pr\u006fvider":{},"model":"x",`+msgs+`}`, ForwardOptions{StripExtensions: true}, `{"model":"x",`+msgs+`}`)
	f(`{"route":"x","model":"x","usage":null,`+msgs+`,"plugins":[]}`, ForwardOptions{Model: "m", StripExtensions: true, IncludeUsage: true},
		`{"model":"m",`+msgs+`,"stream_options":{"include_usage":true}}`)
}

func TestAppendForwardReusesDst(t *testing.T) {
	body := []byte(req(`"temperature":0`))
	var c Chat
	if err := ParseChat(body, &c); err != nil {
		t.Fatal(err)
	}
	o := ForwardOptions{Model: "up"}
	dst := make([]byte, 0, 1024)
	out := AppendForward(dst, body, &c, &o)
	if &out[0] != &dst[:1][0] {
		t.Fatalf("AppendForward reallocated a large enough dst")
	}
}

// checkForward checks that out is valid JSON and equals body except for the
// edits that o documents: model replaced, extensions dropped, include_usage
// forced. Every other member must be byte-identical.
func checkForward(t testing.TB, body []byte, o *ForwardOptions, out []byte) {
	t.Helper()
	if !json.Valid(out) {
		t.Fatalf("AppendForward output is not valid JSON:\nbody %s\nout  %s", body, out)
	}
	in := rawMembers(t, body)
	got := rawMembers(t, out)
	isExt := func(k string) bool {
		for _, e := range extensionKeys {
			if k == e {
				return true
			}
		}
		return false
	}
	want := map[string]json.RawMessage{}
	for k, v := range in {
		switch {
		case o.StripExtensions && isExt(k):
		case k == "model" && o.Model != "":
		case k == "stream_options" && o.IncludeUsage:
		default:
			want[k] = v
		}
	}
	if o.Model != "" {
		want["model"] = AppendString(nil, o.Model)
	}
	if o.IncludeUsage {
		so := got["stream_options"]
		delete(got, "stream_options")
		var opts map[string]json.RawMessage
		if err := json.Unmarshal(so, &opts); err != nil {
			t.Fatalf("forwarded stream_options %s is not an object: %v", so, err)
		}
		if string(opts["include_usage"]) != "true" {
			t.Fatalf("forwarded stream_options %s lacks include_usage:true", so)
		}
		delete(opts, "include_usage")
		var orig map[string]json.RawMessage
		if v, ok := in["stream_options"]; ok && string(v) != "null" {
			if err := json.Unmarshal(v, &orig); err != nil {
				t.Fatalf("client stream_options %s: %v", v, err)
			}
			delete(orig, "include_usage")
		}
		if len(opts) != len(orig) {
			t.Fatalf("stream_options members changed: client %s, forwarded %s", in["stream_options"], so)
		}
		for k, v := range orig {
			if !bytes.Equal(opts[k], v) {
				t.Fatalf("stream_options.%s changed: %s -> %s", k, v, opts[k])
			}
		}
	}
	if len(got) != len(want) {
		t.Fatalf("forwarded %d distinct members, want %d:\nbody %s\nout  %s", len(got), len(want), body, out)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || !bytes.Equal(g, v) {
			t.Fatalf("member %q: got %s, want %s (byte for byte)\nbody %s\nout  %s", k, g, v, body, out)
		}
	}
}

// rawMembers decodes the top-level members of a JSON object with their
// raw values (the last one wins for duplicate keys, as in encoding/json).
func rawMembers(t testing.TB, b []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("encoding/json cannot decode %q: %v", b, err)
	}
	for k, v := range m {
		if strings.TrimSpace(string(v)) != string(v) {
			t.Fatalf("raw value of %q has surrounding space", k)
		}
	}
	return m
}
