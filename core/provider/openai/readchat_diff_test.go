package openai

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/sse"
)

// diffBodies are upstream bodies the differential tests start from: the
// golden transcripts, the stored FuzzReadChat corpus and the cases below
// (escaped and duplicate keys, whitespace between members, nulls, the
// reasoning_content quirk, legacy "text", embeddings, in-band errors,
// malformed bodies).
func diffBodies(t testing.TB) [][]byte {
	t.Helper()
	var bodies [][]byte
	jsons, _ := filepath.Glob(filepath.Join("testdata", "nonstream_*.json"))
	for _, p := range jsons {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	sses, _ := filepath.Glob(filepath.Join("testdata", "stream_*.sse"))
	for _, p := range sses {
		wire, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := sse.NewScanner(bytes.NewReader(wire), 0)
		for sc.Next() {
			bodies = append(bodies, bytes.Clone(sc.Event().Data))
		}
	}
	corpus, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzReadChat", "*"))
	for _, p := range corpus {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := corpusBytes(b); ok {
			bodies = append(bodies, v)
		}
	}
	for _, s := range diffCases {
		bodies = append(bodies, []byte(s))
	}
	bodies = append(bodies, []byte(benchCompletion), []byte(benchChunk))
	return bodies
}

// corpusBytes reads a one-value "go test fuzz v1" file holding []byte("…").
func corpusBytes(file []byte) ([]byte, bool) {
	_, rest, ok := strings.Cut(string(file), "\n")
	if !ok {
		return nil, false
	}
	lit, ok := strings.CutPrefix(strings.TrimSpace(rest), "[]byte(")
	if !ok {
		return nil, false
	}
	s, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
	return []byte(s), err == nil
}

var diffCases = []string{
	``, ` `, `{`, `[]`, `null`, `{}`, ` { } `, `{"choices":[]} x`, "{\"choices\":\"\xff\"}",
	`{"choices":[{]}`, `{"choices":[{"message":{"content":"a"}},]}`, `{"choices":[{"index":0},{"index":1}`,
	`{"choices":null}`, `{"choices":{}}`, `{"choices":"x"}`, `{"choices":[]}`, `{"choices":[ ]}`,
	`{"choices":[1,null,"s",[],{}, {"index":1} ,true]}`,
	`{ "id" : "x" , "choices" : [ { "index" : 0 , "message" : { "content" : "hi" , "refusal" : null } , "logprobs" : null , "finish_reason" : "stop" } ] , "service_tier" : "default" , "x" : 1 }`,
	"{\"choices\":\n[{\"index\":0,\n\"message\":{\"content\":\"a\"},\t\"finish_reason\":\"length\"}\r\n]\n,\"a\":1,\"b\":2,\"c\":3}",
	`{"choices":[{"a":1,"b":2,"native_finish_reason":"x","c":3,"d":4,"finish_reason":"stop","e":5}],"k":1,"id":"drop","l":2,"m":3}`,
	`{"choices":[{"finish_reason":null}],"choices":[{"finish_reason":"length"}]}`,
	`{"choices":[{"finish_reason":""}]}`, `{"choices":[{"finish_reason":1}]}`, `{"choices":[{"finish_reason":"\"q\""}]}`,
	`{"choices":[{"finish_reason":"we\"ird","finish_reason":"eos"}]}`, `{"choices":[{"finish_reason":"\ud83d\ude00"}]}`,
	`{"choices":[{"fin\u0069sh_reason":"MAX_TOKENS","mess\u0061ge":{"cont\u0065nt":"abc","content":"de"}}]}`,
	`{"ch\u006fices":[{"text":"legacy text"}],"\u0075sage":{"prompt_tokens":1},"\u0069d":"x"}`,
	`{"choices":[{"text":"legacy \u00e9 text","index":0,"logprobs":null,"finish_reason":"length"}],"object":"text_completion"}`,
	`{"choices":[{"message":{"content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":18446744073709551617}}`,
	`{"choices":[{"message":{"reasoning_content":"r","content":"a"}}],"usage":{"completion_tokens":-5,"prompt_tokens_details":{"cached_tokens":1e400}}}`,
	`{"choices":[{"message":{"reasoning_content":"r","reasoning_content":"s","content":"a"},"delta":{"reasoning_content":null}}]}`,
	`{"choices":[{"message":{"content":"says \"reasoning_content\" here"}}]}`,
	`{"choices":[{"message":{"reasoning":"r","refusal":"no","content":["x"],"tool_calls":null}}]}`,
	`{"choices":[{"message":"not an object","delta":[1,2],"text":{"content":"x"}}]}`,
	`{"choices":[{"message":{}, "message" :{"content" :"x"}}]}`,
	`{"usage":{"prompt_tokens":3,"completion_tokens":1.5,"total_tokens":4,"prompt_tokens_details":{"cached_tokens":2,"cache_write_tokens":1,"cache_creation_tokens":7},"completion_tokens_details":{"reasoning_tokens":9}}}`,
	`{"usage":{"prompt_tokens":"3","completion_tokens":-0,"prompt_tokens_details":null,"completion_tokens_details":[1]}}`,
	`{"usage":{"prompt_tokens":999999999999999999,"completion_tokens":9999999999999999999,"prompt_tokens_details":{"cached_tokens":12e2}}}`,
	`{"usage":{"prompt_tokens":0001,"completion_tokens":-1e3,"prompt_tokens":5}}`,
	`{"usage":{"pr\u006fmpt_tokens":7,"completion_tokens_details":{"reasoning\u005ftokens":2}}}`,
	`{"usage":null,"choices":[{"delta":{"content":"x"},"finish_reason":null}]}`,
	`{"usage":{"prompt_tokens":1},"usage":{"completion_tokens":2}}`,
	`{"error":{"message":"overloaded","code":529}}`, `{"error":null,"choices":[]}`, `{"error":"flat"}`,
	`{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}`,
	`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-0.2]}],"model":"m","usage":{"prompt_tokens":2,"total_tokens":2}}`,
	`{"\\":1,"a\\\"b":2,"\u0000":3,"":4}`,
	`{"choices":[{"message":{"content":"` + strings.Repeat("é日本語 plain ascii text ", 40) + `"},"finish_reason":"stop"}]}`,
}

// diffCalls are the calls each body is read for: plain, DeepSeek's
// reasoning_content quirk, legacy completions and embeddings.
func diffCalls(t testing.TB) []*provider.Call {
	t.Helper()
	var calls []*provider.Call
	for _, deepseek := range []bool{false, true} {
		for _, kind := range []peek.Kind{peek.KindChat, peek.KindCompletion, peek.KindEmbedding} {
			ep := openAIEndpoint()
			if deepseek {
				ep = deepSeekEndpoint()
			}
			c := newCall(t, testRequest, ep, &provider.Upstream{Name: ep.Provider, Adapter: Adapter{}, Quirks: provider.Quirks{ReasoningContent: deepseek}})
			c.Stream = false
			c.Kind = kind
			calls = append(calls, c)
		}
	}
	return calls
}

// checkSameRead compares ReadChat and stream Event with the reference
// copy of the old code: same bytes, same Result, same error.
func checkSameRead(t *testing.T, c *provider.Call, body []byte) {
	t.Helper()
	gotOut, gotRes, gotErr := Adapter{}.ReadChat([]byte("keep"), body, c)
	wantOut, wantRes, wantErr := refReadChat([]byte("keep"), body, c)
	if !bytes.Equal(gotOut, wantOut) || !reflect.DeepEqual(gotRes, wantRes) || !sameErr(gotErr, wantErr) {
		t.Fatalf("ReadChat(%q, kind %d, quirks %+v):\ngot  %s\n     %+v %v\nwant %s\n     %+v %v",
			body, c.Kind, c.Upstream.Quirks, gotOut, gotRes, gotErr, wantOut, wantRes, wantErr)
	}

	// The stream reads the same chunk twice, so a Result carried over
	// from one chunk to the next is compared as well.
	s, ref := &stream{call: c}, &refStream{call: c}
	ev := &sse.Event{Data: body}
	for range 2 {
		gotOut, gotErr = s.Event([]byte("keep"), ev)
		wantOut, wantErr = ref.Event([]byte("keep"), ev)
		if !bytes.Equal(gotOut, wantOut) || !reflect.DeepEqual(s.res, ref.res) || !reflect.DeepEqual(gotErr, wantErr) {
			t.Fatalf("Event(%q, quirks %+v):\ngot  %q\n     %+v %v\nwant %q\n     %+v %v",
				body, c.Upstream.Quirks, gotOut, s.res, gotErr, wantOut, ref.res, wantErr)
		}
	}
}

func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return reflect.DeepEqual(a, b)
}

// TestReadChatDifferential: the single-pass ReadChat writes exactly what
// the old one did, on every known body and every prefix of it (prefixes
// are malformed in every possible place).
func TestReadChatDifferential(t *testing.T) {
	calls := diffCalls(t)
	for _, body := range diffBodies(t) {
		for _, c := range calls {
			checkSameRead(t, c, body)
			for i := range body {
				checkSameRead(t, c, body[:i])
			}
		}
	}
}

func FuzzReadChatDifferential(f *testing.F) {
	for _, b := range diffBodies(f) {
		f.Add(b, uint8(0))
	}
	calls := diffCalls(f)
	f.Fuzz(func(t *testing.T, body []byte, which uint8) {
		checkSameRead(t, calls[int(which)%len(calls)], body)
	})
}

// BenchmarkReadChatOld is BenchmarkReadChat on the reference copy of the
// old code, for a same-run comparison.
func BenchmarkReadChatOld(b *testing.B) {
	c := newCall(b, testRequest, openAIEndpoint(), nil)
	c.Stream = false
	body := []byte(benchCompletion)
	dst := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var err error
		if dst, _, err = refReadChat(dst[:0], body, c); err != nil {
			b.Fatal(err)
		}
	}
}
