package mock

import (
	stdjson "encoding/json"
	"strings"
	"testing"
)

func TestValidJSON(t *testing.T) {
	f := func(in string, want bool) {
		t.Helper()
		if got := validJSON([]byte(in)); got != want {
			t.Fatalf("validJSON(%q) = %v, want %v", in, got, want)
		}
		if std := stdjson.Valid([]byte(in)); std != want {
			t.Fatalf("test case %q disagrees with encoding/json (%v)", in, std)
		}
	}
	f(`{}`, true)
	f(` { "a" : [ 1 , -2.5e+3 , true , false , null , "x\"\\\/\b\f\n\r\t\u00e9" ] } `, true)
	f(`[]`, true)
	f(`0`, true)
	f(`-0.0E-0`, true)
	f(`""`, true)
	f(``, false)
	f(`{`, false)
	f(`{"a"}`, false)
	f(`{"a":}`, false)
	f(`{"a":1,}`, false)
	f(`[1,]`, false)
	f(`[1 2]`, false)
	f(`{"a":1}}`, false)
	f(`01`, false)
	f(`1.`, false)
	f(`.5`, false)
	f(`-`, false)
	f(`1e`, false)
	f(`tru`, false)
	f(`nul`, false)
	f(`"\x"`, false)
	f(`"\u12"`, false)
	f("\"a\x01\"", false)
	f(`"abc`, false)
	f(`{1:2}`, false)
	f(`{"a" 1}`, false)
	f(`[[[[[]]]]]`, true)
	if validJSON([]byte(strings.Repeat("[", 200) + strings.Repeat("]", 200))) {
		t.Fatal("nesting deeper than maxDepth accepted")
	}
}

func TestParseOpenAIFields(t *testing.T) {
	body := []byte(`{"model":"gpt\"x","stream":true,"stream_options":{"include_usage":true},"max_tokens":7,
		"temperature":0,"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"hi"}]}],
		"tools":[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"b","parameters":{"x":[1,{}]}}}]}`)
	r, e := parseOpenAI(body, kindChat)
	if e.status != 0 {
		t.Fatalf("error %+v", e)
	}
	if string(r.model) != `gpt\"x` || !r.stream || !r.includeUsage || r.maxTokens != 7 ||
		string(r.lastRole) != "user" || r.nTools != 2 || string(r.toolNames[1]) != "b" ||
		!strings.HasPrefix(string(r.messages), `[{"role":"system"`) || !strings.HasSuffix(string(r.messages), `}]}]`) {
		t.Fatalf("parsed %+v", r)
	}
}

// FuzzParseRequests checks that the request parsers of every protocol
// never panic, that the scanner agrees with encoding/json on validity, and
// that it finds the model encoding/json finds.
func FuzzParseRequests(f *testing.F) {
	f.Add([]byte(chatBody))
	f.Add([]byte(chatStreamBody(true)))
	f.Add([]byte(`{"model":"m","tools":[{"function":{"name":"x"}}],"messages":[{"role":"user"}],"max_tokens":null}`))
	f.Add([]byte(`{"model":"e","input":[[1,2],[3]],"dimensions":4,"encoding_format":"base64"}`))
	f.Add([]byte(`{"a":[1,2,{"b":"\u0041"}],"model":"x\n"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, k := range []endpointKind{kindChat, kindCompletions, kindEmbeddings} {
			if r, e := parseOpenAI(b, k); e.status == 0 && k == kindEmbeddings {
				embeddingInputs(r.input)
			}
		}
		parseAnthropic(b, false)
		parseAnthropic(b, true)
		parseGemini(b)
		deep := strings.Count(string(b), "[")+strings.Count(string(b), "{") >= maxDepth
		if got, want := validJSON(b), stdjson.Valid(b); got != want && !deep {
			t.Fatalf("validJSON(%q) = %v, encoding/json says %v", b, got, want)
		}
		var m struct {
			Model stdjson.RawMessage `json:"model"`
		}
		if stdjson.Unmarshal(b, &m) != nil || len(m.Model) == 0 || m.Model[0] != '"' || deep {
			return
		}
		r, e := parseOpenAI(b, kindChat)
		if e.status != 0 {
			return
		}
		// encoding/json takes the last duplicate key; so does the scanner.
		if want := string(m.Model[1 : len(m.Model)-1]); string(r.model) != want {
			t.Fatalf("model %q, want %q", r.model, want)
		}
	})
}

func TestAppendJSONString(t *testing.T) {
	for _, in := range []string{"plain", `q"b\s`, "ctl\x00\x1f\n\r\t", "é漢字🙂", "bad\xffutf8"} {
		out := append(append([]byte{'"'}, appendJSONString(nil, []byte(in))...), '"')
		var back string
		if err := stdjson.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q → %s: %v", in, out, err)
		}
		if want := strings.ToValidUTF8(in, "\uFFFD"); back != want {
			t.Fatalf("%q → %q", in, back)
		}
	}
}
