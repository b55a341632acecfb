package core_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/bench/mock"
)

// The bad-input battery (docs/RELIABILITY.md §3): malformed bodies sent to
// every public POST endpoint must get a 4xx in the endpoint's error shape
// with a message naming the problem — never a 5xx, a panic or a dropped
// connection — and the gateway must keep serving afterwards.

// badCase is one body sent to one endpoint. status 0 means "any 2xx".
type badCase struct {
	name   string
	body   string
	ctype  string // Content-Type; application/json when empty
	status int
	msg    string // substring of the error message (case-insensitive)
}

// deep returns a JSON value nested n arrays deep.
func deep(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

// inferenceCases are the malformed bodies every inference endpoint must
// refuse; field is the endpoint's prompt member (messages, prompt, input)
// and prompt a valid value for it.
func inferenceCases(field, prompt string) []badCase {
	ok := func(extra string) string {
		return `{"model":"acme/chat","` + field + `":` + prompt + extra + `}`
	}
	return []badCase{
		{name: "empty body", body: "", status: 400, msg: "empty"},
		{name: "whitespace body", body: " \n\t ", status: 400, msg: "empty"},
		{name: "truncated JSON", body: `{"model":"acme/chat","` + field + `":`, status: 400, msg: "json"},
		{name: "NUL byte", body: "{\x00}", status: 400, msg: "json"},
		{name: "NUL inside a string", body: "{\"model\":\"acme/\x00chat\"}", status: 400, msg: "json"},
		{name: "invalid UTF-8 in a string", body: `{"model":"acme/chat","user":"a` + "\xff\xfe" + `","` + field + `":` + prompt + `}`, status: 400, msg: "utf-8"},
		{name: "invalid UTF-8 in a key", body: `{"model":"acme/chat","` + "\xc3" + `":1,"` + field + `":` + prompt + `}`, status: 400, msg: "utf-8"},
		{name: "lone surrogate escape", body: ok(`,"user":"\ud800"`), status: 0},
		{name: "10k-deep nesting", body: ok(`,"metadata":` + deep(10000)), status: 400, msg: "nesting"},
		{name: "10k-deep objects", body: ok(`,"metadata":` + strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)), status: 400, msg: "nesting"},
		{name: "array body", body: `[` + ok("") + `]`, status: 400, msg: "object"},
		{name: "string body", body: `"hello"`, status: 400, msg: "object"},
		{name: "null body", body: `null`, status: 400, msg: "object"},
		{name: "trailing data", body: ok("") + ` {}`, status: 400, msg: "json"},
		{name: "duplicate model", body: `{"model":"acme/chat","model":"other/x","` + field + `":` + prompt + `}`, status: 400, msg: "duplicate"},
		{name: "duplicate prompt", body: ok(`,"` + field + `":` + prompt), status: 400, msg: "duplicate"},
		{name: "missing model", body: `{"` + field + `":` + prompt + `}`, status: 400, msg: "model"},
		{name: "model number", body: `{"model":7,"` + field + `":` + prompt + `}`, status: 400, msg: "model"},
		{name: "model object", body: `{"model":{},"` + field + `":` + prompt + `}`, status: 400, msg: "model"},
		{name: "models string", body: `{"models":"acme/chat","` + field + `":` + prompt + `}`, status: 400, msg: "models"},
		{name: "models of numbers", body: `{"models":[1],"` + field + `":` + prompt + `}`, status: 400, msg: "models"},
		{name: "max_tokens 1e400", body: ok(`,"max_tokens":1e400`), status: 400, msg: "max_tokens"},
		{name: "max_tokens 2^64+1", body: ok(`,"max_tokens":18446744073709551617`), status: 400, msg: "max_tokens"},
		{name: "max_tokens negative", body: ok(`,"max_tokens":-1`), status: 400, msg: "max_tokens"},
		{name: "max_tokens zero", body: ok(`,"max_tokens":0`), status: 400, msg: "max_tokens"},
		{name: "max_tokens fraction", body: ok(`,"max_tokens":1.5`), status: 400, msg: "max_tokens"},
		{name: "max_tokens string", body: ok(`,"max_tokens":"10"`), status: 400, msg: "max_tokens"},
		{name: "max_completion_tokens bool", body: ok(`,"max_completion_tokens":true`), status: 400, msg: "max_completion_tokens"},
		{name: "temperature 1e400", body: ok(`,"temperature":1e400`), status: 400, msg: "temperature"},
		{name: "temperature 2^64+1", body: ok(`,"temperature":18446744073709551617`), status: 400, msg: "temperature"},
		{name: "temperature string", body: ok(`,"temperature":"hot"`), status: 400, msg: "temperature"},
		{name: "top_p -1e999", body: ok(`,"top_p":-1e999`), status: 400, msg: "top_p"},
		{name: "stream string", body: ok(`,"stream":"yes"`), status: 400, msg: "stream"},
		{name: "stream_options number", body: ok(`,"stream":true,"stream_options":1`), status: 400, msg: "stream_options"},
		{name: "include_usage string", body: ok(`,"stream_options":{"include_usage":"yes"}`), status: 400, msg: "include_usage"},
		{name: "provider number", body: ok(`,"provider":3`), status: 400, msg: "provider"},
		{name: "provider.order string", body: ok(`,"provider":{"order":"p1"}`), status: 400, msg: "provider"},
		{name: "provider.max_price huge", body: ok(`,"provider":{"max_price":{"prompt":1e400}}`), status: 400, msg: "provider"},
		{name: "tools object", body: ok(`,"tools":{}`), status: 400, msg: "tools"},
		{name: "user number", body: ok(`,"user":5`), status: 400, msg: "user"},
		{name: "metadata tags number", body: ok(`,"metadata":{"tags":5}`), status: 400, msg: "tags"},
		{name: "form-encoded body", body: "model=acme%2Fchat", ctype: "application/x-www-form-urlencoded", status: 400, msg: "json"},
		// The content type is not checked (curl -d sends form-urlencoded);
		// the body must be JSON whatever the header says.
		{name: "JSON as text/plain", body: ok(`,"max_tokens":5`), ctype: "text/plain", status: 0},
		{name: "escaped NUL in a string", body: ok(`,"user":"a\u0000b","max_tokens":5`), status: 0},
	}
}

func TestBadInputInference(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 4}}}, oneModel, "")
	msgs := `[{"role":"user","content":"hi"}]`
	for _, ep := range []struct{ path, field, prompt string }{
		{"/api/v1/chat/completions", "messages", msgs},
		{"/api/v1/completions", "prompt", `"hi"`},
		{"/api/v1/embeddings", "input", `"hi"`},
	} {
		cases := inferenceCases(ep.field, ep.prompt)
		if ep.field == "messages" {
			cases = append(cases,
				badCase{name: "messages string", body: `{"model":"acme/chat","messages":"hi"}`, status: 400, msg: "messages"},
				badCase{name: "messages empty", body: `{"model":"acme/chat","messages":[]}`, status: 400, msg: "messages"},
				badCase{name: "messages of numbers", body: `{"model":"acme/chat","messages":[1]}`, status: 400, msg: "messages"},
				badCase{name: "huge string field", body: `{"model":"acme/chat","messages":[{"role":"user","content":"` + strings.Repeat("a", 4<<20) + `"}]}`, status: 404, msg: "context_length"},
			)
		}
		for _, c := range cases {
			t.Run(strings.TrimPrefix(ep.path, "/api/v1/")+"/"+c.name, func(t *testing.T) {
				checkBad(t, e, ep.path, testKey, c, openAIError)
			})
		}
	}
	stillServes(t, e)
}

// TestBadInputMessages sends the same battery to the Anthropic edge, which
// answers in Anthropic's error shape.
func TestBadInputMessages(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 4}}}, oneModel, "")
	cases := inferenceCases("messages", `[{"role":"user","content":"hi"}]`)
	cases = append(cases,
		badCase{name: "content number", body: `{"model":"acme/chat","max_tokens":5,"messages":[{"role":"user","content":5}]}`, status: 400, msg: "content"},
		badCase{name: "system number", body: `{"model":"acme/chat","max_tokens":5,"system":5,"messages":[{"role":"user","content":"hi"}]}`, status: 400, msg: "system"},
	)
	for _, c := range cases {
		switch c.name {
		case "missing model", "models string", "models of numbers", "max_completion_tokens bool", "stream_options number",
			"include_usage string", "provider number", "provider.order string", "provider.max_price huge", "tools object", "user number", "metadata tags number":
			// OpenAI/OpenRouter members that the Anthropic shape does
			// not have (ignored there) or words its errors differently.
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			checkBad(t, e, "/api/v1/messages", testKey, c, anthropicError)
		})
	}
	stillServes(t, e)
}

// TestBadInputResponses sends the battery to the Responses API edge
// (input instead of messages, max_output_tokens instead of max_tokens).
func TestBadInputResponses(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 4}}}, oneModel, "")
	var cases []badCase
	for _, c := range inferenceCases("input", `"hi"`) {
		switch {
		case strings.Contains(c.name, "max_tokens"), strings.Contains(c.name, "max_completion_tokens"),
			strings.HasPrefix(c.name, "models"), strings.HasPrefix(c.name, "stream_options"), strings.HasPrefix(c.name, "include_usage"),
			strings.HasPrefix(c.name, "provider"), c.name == "user number", c.name == "metadata tags number", c.name == "tools object":
			continue // Chat Completions members, or worded by the Responses edge
		}
		cases = append(cases, c)
	}
	ok := func(extra string) string { return `{"model":"acme/chat","input":"hi"` + extra + `}` }
	cases = append(cases,
		badCase{name: "max_output_tokens 1e400", body: ok(`,"max_output_tokens":1e400`), status: 400, msg: "max"},
		badCase{name: "max_output_tokens 2^64+1", body: ok(`,"max_output_tokens":18446744073709551617`), status: 400, msg: "max"},
		badCase{name: "max_output_tokens string", body: ok(`,"max_output_tokens":"10"`), status: 400, msg: "max_output_tokens"},
		badCase{name: "input number", body: `{"model":"acme/chat","input":5}`, status: 400, msg: "input"},
		badCase{name: "instructions number", body: ok(`,"instructions":5`), status: 400, msg: "instructions"},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkBad(t, e, "/api/v1/responses", testKey, c, openAIError) })
	}
	stillServes(t, e)
}

func TestBadInputManagement(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 4}}}, oneModel, "")
	mgmt, _ := e.issueKey("acme", true)
	common := []badCase{
		{name: "truncated JSON", body: `{"name":"x`, status: 400, msg: "json"},
		{name: "NUL byte", body: "{\x00}", status: 400, msg: "json"},
		{name: "invalid UTF-8", body: `{"name":"a` + "\xff" + `"}`, status: 400, msg: "utf-8"},
		{name: "10k-deep nesting", body: `{"name":"x","extra":` + deep(10000) + `}`, status: 400, msg: "nesting"},
		{name: "array body", body: `[]`, status: 400, msg: "object"},
		{name: "trailing data", body: `{"name":"x"} {}`, status: 400, msg: "json"},
		{name: "form-encoded body", body: "name=x", ctype: "application/x-www-form-urlencoded", status: 400, msg: "json"},
	}
	keys := append([]badCase{
		{name: "empty body", body: "", status: 400, msg: "name"},
		{name: "name number", body: `{"name":1}`, status: 400, msg: "name"},
		{name: "duplicate name", body: `{"name":"a","name":"b"}`, status: 400, msg: "duplicate"},
		{name: "limit 1e400", body: `{"name":"x","limit":1e400}`, status: 400, msg: "limit"},
		{name: "limit 2^64+1", body: `{"name":"x","limit":18446744073709551617}`, status: 400, msg: "limit"},
		{name: "limit negative", body: `{"name":"x","limit":-1}`, status: 400, msg: "limit"},
		{name: "limit bool", body: `{"name":"x","limit":true}`, status: 400, msg: "limit"},
		{name: "limit_reset number", body: `{"name":"x","limit_reset":7}`, status: 400, msg: "limit_reset"},
		{name: "expires_at number", body: `{"name":"x","expires_at":7}`, status: 400, msg: "expires_at"},
		{name: "expires_at year 99999", body: `{"name":"x","expires_at":"99999-01-01T00:00:00Z"}`, status: 400, msg: "expires_at"},
		{name: "disabled string", body: `{"name":"x","disabled":"yes"}`, status: 400, msg: "disabled"},
	}, common...)
	for _, c := range keys {
		t.Run("keys/"+c.name, func(t *testing.T) { checkBad(t, e, "/api/v1/keys", mgmt, c, openAIError) })
	}
	analytics := append([]badCase{
		{name: "empty body is the default query", body: "", status: 0},
		{name: "from 1e400", body: `{"from":1e400}`, status: 400, msg: "from"},
		{name: "to 2^64+1", body: `{"to":18446744073709551617}`, status: 400, msg: "to"},
		{name: "from negative", body: `{"from":-5}`, status: 400, msg: "from"},
		{name: "from object", body: `{"from":{}}`, status: 400, msg: "from"},
		{name: "granularity number", body: `{"granularity":5}`, status: 400, msg: "granularity"},
		{name: "group_by number", body: `{"group_by":5}`, status: 400, msg: "group_by"},
		{name: "filters array", body: `{"filters":["model"]}`, status: 400, msg: "filters"},
		{name: "duplicate granularity", body: `{"granularity":"hour","granularity":"day"}`, status: 400, msg: "duplicate"},
		{name: "range too wide", body: `{"from":0,"granularity":"minute"}`, status: 400, msg: "buckets"},
	}, common[1:]...)
	for _, c := range analytics {
		t.Run("analytics/"+c.name, func(t *testing.T) { checkBad(t, e, "/api/v1/analytics/query", mgmt, c, openAIError) })
	}
	stillServes(t, e)
}

// errorShape extracts status code and message from an error body, failing
// when the body is not in the endpoint's error shape.
type errorShape func(t *testing.T, status int, b []byte) string

func openAIError(t *testing.T, status int, b []byte) string {
	t.Helper()
	code, msg, _ := errorOf(t, b)
	if code != status {
		t.Fatalf("error.code %d, HTTP status %d: %s", code, status, b)
	}
	return msg
}

func anthropicError(t *testing.T, _ int, b []byte) string {
	t.Helper()
	var v struct {
		Type  string `json:"type"`
		Error struct{ Type, Message string }
	}
	if err := json.Unmarshal(b, &v); err != nil || v.Type != "error" || v.Error.Type == "" {
		t.Fatalf("not an Anthropic error (%v): %s", err, b)
	}
	return v.Error.Message
}

func checkBad(t *testing.T, e *env, path, key string, c badCase, shape errorShape) {
	t.Helper()
	ctype := c.ctype
	if ctype == "" {
		ctype = "application/json"
	}
	req, err := http.NewRequest(http.MethodPost, e.api+path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the gateway dropped the connection: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode >= 500 {
		t.Fatalf("status %d (a server error) for bad input: %.300s", resp.StatusCode, b)
	}
	if c.status == 0 {
		if resp.StatusCode/100 != 2 {
			t.Fatalf("status %d, want 2xx: %.300s", resp.StatusCode, b)
		}
		return
	}
	if resp.StatusCode != c.status {
		t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, c.status, b)
	}
	msg := shape(t, resp.StatusCode, b)
	if !strings.Contains(strings.ToLower(msg), strings.ToLower(c.msg)) {
		t.Fatalf("message %q does not name the problem (want %q)", msg, c.msg)
	}
}

// stillServes checks that a good request succeeds after the battery.
func stillServes(t *testing.T, e *env) {
	t.Helper()
	r := e.post("/api/v1/chat/completions", `{"model":"acme/chat","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`)
	if r.status != http.StatusOK {
		t.Fatalf("after the battery: status %d: %s", r.status, r.body)
	}
}
