package openai

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/upstream"
	"github.com/tollgate/tollgate/routing"
)

// Mistral accepts only tool-call ids of 9 letters and digits: ids from other
// providers in the history are mapped, consistently for a call and its
// result, and everything else is forwarded unchanged.
func TestMistralToolCallIDs(t *testing.T) {
	body := []byte(`{"model":"x","temperature":0,"messages":[{"role":"user","content":"weather?"},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"call_abc123XYZ_long-id","type":"function","function":{"name":"w","arguments":"{}"}},{"id":"abcDEF123","type":"function","function":{"name":"w","arguments":"{}"}}]},` +
		`{"role":"tool","tool_call_id":"call_abc123XYZ_long-id","content":"sunny"},{"role":"tool","tool_call_id":"abcDEF123","content":"rain"}]}`)
	var chat peek.Chat
	if err := peek.ParseChat(body, &chat); err != nil {
		t.Fatal(err)
	}
	cl, err := upstream.New(upstream.Config{BaseURL: "http://127.0.0.1:1/v1"})
	if err != nil {
		t.Fatal(err)
	}
	c := &provider.Call{Body: body, Chat: &chat, Endpoint: &routing.Endpoint{Provider: "mistral", Model: "m/x", UpstreamModel: "mistral-large"},
		Upstream: &provider.Upstream{Name: "mistral", Adapter: Adapter{}, Client: cl, Quirks: provider.Quirks{MistralToolIDs: true}}}
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	if err := (Adapter{}).WriteChat(req, c); err != nil {
		t.Fatal(err)
	}
	out := req.Body()
	var v struct {
		Temperature *float64 `json:"temperature"`
		Messages    []struct {
			ToolCallID string `json:"tool_call_id"`
			ToolCalls  []struct {
				ID string `json:"id"`
			} `json:"tool_calls"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("forwarded body is not JSON: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`^[a-zA-Z0-9]{9}$`)
	a, b := v.Messages[1].ToolCalls[0].ID, v.Messages[1].ToolCalls[1].ID
	if !re.MatchString(a) || b != "abcDEF123" {
		t.Fatalf("tool call ids %q %q", a, b)
	}
	if v.Messages[2].ToolCallID != a || v.Messages[3].ToolCallID != b {
		t.Fatalf("results no longer match their calls: %q %q", v.Messages[2].ToolCallID, v.Messages[3].ToolCallID)
	}
	if v.Temperature == nil || *v.Temperature != 0 || !strings.Contains(string(out), `"temperature":0`) {
		t.Fatalf("temperature 0 lost: %s", out)
	}
}
