package peek

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// Seeds shared by the fuzz targets; the committed corpora under
// testdata/fuzz/ hold more (real SDK requests and past findings).
var fuzzSeeds = []string{
	``,
	`{}`,
	`[]`,
	`null`,
	`"x"`,
	req(),
	req(`"stream":true`, `"stream_options":{"include_usage":true}`),
	req(`"models":["a","b"]`, `"provider":{"order":["x"]}`, `"usage":{"include":true}`, `"reasoning":{"effort":"high"}`),
	req(`"temperature":0`, `"top_p":1.0`, `"min_p":1e-7`, `"max_tokens":100`, `"max_completion_tokens":50`),
	req(`"tools":[{"type":"function","function":{"name":"f","parameters":{}}}]`, `"tool_choice":"auto"`),
	req(`"response_format":{"type":"json_schema","json_schema":{"name":"x"}}`),
	req(`"metadata":{"tags":"a,b"}`, `"user":"u\u00e9"`, `"session_id":"s"`),
	`{"mod\u0065l":"x","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`,
	`{"model":"\ud83d\ude00","messages":[{}]} `,
	`{"model":"x","messages":[{}],"a":[[[[{"b":[]}]]]]}`,
	`{"model":"x","messages":[{}]}x`,
	"{\"model\":\"\xff\",\"messages\":[{}]}",
	`{"model":"x","model":"y","messages":[{}]}`,
	`{"model":"x","messages":[{}],"max_tokens":99999999999999999999}`,
}

// FuzzParseChat: ParseChat never panics, every error is a *BadRequest, it
// accepts only what encoding/json also accepts as an object (reading the
// same values), and it calls no valid JSON invalid.
func FuzzParseChat(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var c Chat
		err := ParseChat(body, &c)
		if err != nil {
			var br *BadRequest
			if !errors.As(err, &br) || br.Msg == "" {
				t.Fatalf("ParseChat(%q) error %T %v is not a *BadRequest", body, err, err)
			}
			// The other direction of the differential: valid JSON is not
			// called invalid, except past MaxDepth. Invalid UTF-8 is left
			// out: encoding/json replaces it, ParseChat rejects it.
			if strings.HasPrefix(br.Msg, "invalid JSON") && !strings.HasSuffix(br.Msg, "nesting too deep") &&
				utf8.Valid(body) && json.Valid(body) {
				t.Fatalf("ParseChat calls valid JSON %q invalid: %v", body, err)
			}
			return
		}
		// Accepted: syntactically valid, valid UTF-8, an object.
		if !json.Valid(body) {
			t.Fatalf("ParseChat accepted %q, which encoding/json rejects", body)
		}
		if !utf8.Valid(body) {
			t.Fatalf("ParseChat accepted invalid UTF-8 %q", body)
		}
		checkChatAgainstJSON(t, body, &c)
	})
}

// checkChatAgainstJSON compares what ParseChat read with encoding/json's
// reading of the same accepted body.
func checkChatAgainstJSON(t *testing.T, body []byte, c *Chat) {
	t.Helper()
	// The member spans are the top-level members, in order.
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("encoding/json: %q is not an object (%v)", body, err)
	}
	n := 0
	for dec.More() {
		if _, err := dec.Token(); err != nil {
			t.Fatalf("encoding/json key: %v", err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("encoding/json value: %v", err)
		}
		if n >= c.NMembers {
			t.Fatalf("ParseChat saw %d members of %q, encoding/json more", c.NMembers, body)
		}
		sp := c.Members[n]
		if sp.Start < 0 || sp.End > len(body) || sp.Start >= sp.End || body[sp.Start] != '"' || !bytes.HasSuffix(body[sp.Start:sp.End], v) {
			t.Fatalf("member %d span %v of %q does not end with its value %s", n, sp, body, v)
		}
		if n > 0 && sp.Start < c.Members[n-1].End {
			t.Fatalf("member spans overlap: %v", c.Members[:c.NMembers])
		}
		n++
	}
	if n != c.NMembers {
		t.Fatalf("ParseChat saw %d members of %q, encoding/json %d", c.NMembers, body, n)
	}

	m := rawMembers(t, body)
	if v, ok := m["model"]; ok {
		var s string
		if err := json.Unmarshal(v, &s); err != nil || s != string(c.Model) {
			t.Fatalf("model: encoding/json %q (%v), ParseChat %q", s, err, c.Model)
		}
		if string(body[c.ModelSpan.Start:c.ModelSpan.End]) != string(v) {
			t.Fatalf("ModelSpan %v is %q, want %s", c.ModelSpan, body[c.ModelSpan.Start:c.ModelSpan.End], v)
		}
	} else if len(c.Models) == 0 {
		t.Fatalf("accepted %q without model or models", body)
	}
	if v, ok := m["stream"]; ok {
		var b *bool
		if err := json.Unmarshal(v, &b); err != nil || (b != nil && *b != c.Stream) || (b == nil && c.Stream) {
			t.Fatalf("stream: encoding/json %s (%v), ParseChat %v", v, err, c.Stream)
		}
	}
	var msgs []map[string]json.RawMessage
	if err := json.Unmarshal(m["messages"], &msgs); err != nil || len(msgs) == 0 {
		t.Fatalf("messages %s accepted: %v", m["messages"], err)
	}
	if c.MaxTokens < 0 || c.MaxTokens > 1<<31 {
		t.Fatalf("MaxTokens %d out of range", c.MaxTokens)
	}
	for _, k := range []string{"max_completion_tokens", "max_tokens"} {
		if v, ok := m[k]; ok && string(v) != "null" {
			var n int64
			if err := json.Unmarshal(v, &n); err != nil || n != c.MaxTokens {
				t.Fatalf("%s: encoding/json %d (%v), ParseChat %d", k, n, err, c.MaxTokens)
			}
			break
		}
	}
	for _, k := range []string{"user", "session_id"} {
		if v, ok := m[k]; ok && string(v) != "null" {
			var s string
			got := c.User
			if k == "session_id" {
				got = c.SessionID
			}
			if err := json.Unmarshal(v, &s); err != nil || s != string(got) {
				t.Fatalf("%s: encoding/json %q (%v), ParseChat %q", k, s, err, got)
			}
		}
	}
}

// FuzzAppendForward: for every accepted body and any options, the
// forwarded body is valid JSON, and every member that is not a documented
// edit is preserved byte for byte.
func FuzzAppendForward(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add([]byte(s), "gpt-4o", i%2 == 0, i%3 == 0)
		f.Add([]byte(s), "", i%2 == 1, i%3 != 0)
	}
	f.Add([]byte(req(`"stream_options":{"include_usage":false,"include_obfuscation":false}`)), "m\xff\"", true, true)
	f.Fuzz(func(t *testing.T, body []byte, model string, strip, includeUsage bool) {
		var c Chat
		if ParseChat(body, &c) != nil {
			return
		}
		o := ForwardOptions{Model: model, StripExtensions: strip, IncludeUsage: includeUsage}
		out := AppendForward(nil, body, &c, &o)
		checkForward(t, body, &o, out)

		// The forwarded body is a request ParseChat accepts again, with
		// the edits applied (unless the added members pass maxMembers).
		// Without a model to set (WriteChat always has one), stripping
		// "models" may leave no model at all.
		if c.NMembers+2 > maxMembers || model == "" {
			return
		}
		var c2 Chat
		if err := ParseChat(out, &c2); err != nil {
			t.Fatalf("ParseChat rejects the forwarded body %q: %v", out, err)
		}
		if string(c2.Model) != replaceInvalid(model) {
			t.Fatalf("forwarded model %q, want %q", c2.Model, model)
		}
		if includeUsage && !c2.IncludeUsage {
			t.Fatalf("forwarded body %s does not include usage", out)
		}
		if strip && c2.Ext != 0 {
			t.Fatalf("forwarded body %s keeps extension members", out)
		}
		if !bytes.Equal(c.Messages, c2.Messages) {
			t.Fatalf("messages changed: %s -> %s", c.Messages, c2.Messages)
		}
	})
}

// FuzzSkipValue: SkipValue never panics or runs past its input, agrees
// with encoding/json on validity (for valid UTF-8 within MaxDepth), and
// String decodes what it accepts like encoding/json. The input is also
// run through AppendString, which must round-trip.
func FuzzSkipValue(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{`0`, `-0.5e+10`, `1e-7`, `"\ud83d\ude00"`, `"\ud800"`, `"a\"b\\c"`, `[1,[2,{"a":null}]]`, `tru`, `"\u12"`, "\"\xed\xa0\x80\"", ` 1 `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkAppendStringRoundTrip(t, string(in))

		end, err := SkipValue(in, 0)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("SkipValue(%q): error %T is not a *SyntaxError", in, err)
			}
			if se.Offset < 0 || se.Offset > len(in) {
				t.Fatalf("SkipValue(%q): error offset %d out of range", in, se.Offset)
			}
			if utf8.Valid(in) && json.Valid(in) && se.Msg != "nesting too deep" {
				t.Fatalf("SkipValue rejects valid JSON %q: %v", in, err)
			}
			return
		}
		if end <= 0 || end > len(in) {
			t.Fatalf("SkipValue(%q) = %d, out of range", in, end)
		}
		v := bytes.TrimLeft(in[:end], " \t\r\n")
		if !json.Valid(v) {
			t.Fatalf("SkipValue accepted %q, which encoding/json rejects", v)
		}
		if !utf8.Valid(v) {
			t.Fatalf("SkipValue accepted invalid UTF-8 %q", v)
		}
		whole := skipWS(in, end) == len(in)
		if utf8.Valid(in) && json.Valid(in) != whole {
			t.Fatalf("SkipValue(%q) = %d (whole input: %v), encoding/json.Valid = %v", in, end, whole, !whole)
		}
		if v[0] == '"' {
			got, err := String(v)
			var want string
			if jerr := json.Unmarshal(v, &want); err != nil || jerr != nil || string(got) != want {
				t.Fatalf("String(%s) = %q, %v; encoding/json %q, %v", v, got, err, want, jerr)
			}
		}
		if v[0] == '-' || (v[0] >= '0' && v[0] <= '9') {
			if n, err := Int(v); err == nil {
				var want int64
				if jerr := json.Unmarshal(v, &want); jerr != nil || n != want {
					t.Fatalf("Int(%s) = %d; encoding/json %d, %v", v, n, want, jerr)
				}
			}
		}
	})
}
