package core_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// /embeddings routed to a Gemini upstream goes out as batchEmbedContents and
// comes back as an OpenAI embeddings list with usage and cost.
func TestEmbeddingsThroughGemini(t *testing.T) {
	var gotPath, gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotPath, gotBody = r.URL.Path, string(b)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"embeddings":[{"values":[0.25,-0.5]},{"values":[1,0]}]}`)
	}))
	defer srv.Close()
	e := newEnv(t, []mockSpec{{name: "g", protocol: "gemini", url: srv.URL + "/v1beta"}}, `models:
  - id: google/text-embedding-004
    context_length: 2048
    endpoints:
      - {provider: g, upstream_model: text-embedding-004, pricing: {prompt: 0.1, completion: 0}}
`, "")
	r := e.post("/api/v1/embeddings", `{"model":"google/text-embedding-004","input":["hello","world"]}`)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if gotPath != "/v1beta/models/text-embedding-004:batchEmbedContents" || !strings.Contains(gotBody, `"hello"`) {
		t.Fatalf("upstream got %s %s", gotPath, gotBody)
	}
	m := decode(t, r.body)
	data := m["data"].([]any)
	if m["object"] != "list" || len(data) != 2 || m["provider"] != "g" {
		t.Fatalf("response: %s", r.body)
	}
	if v := data[0].(map[string]any)["embedding"].([]any); len(v) != 2 || v[0].(float64) != 0.25 {
		t.Fatalf("embedding: %v", v)
	}
	if u := m["usage"].(map[string]any); u["prompt_tokens"].(float64) <= 0 || u["cost"] == nil {
		t.Fatalf("usage: %v", u)
	}
}
