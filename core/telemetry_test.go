package core_test

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/bench/mock"
	"github.com/tollgate/tollgate/core/telemetry/otlptest"
)

// OpenTelemetry export end to end (docs/telemetry.md): a gateway with
// simulated providers exports to an OTLP/HTTP receiver on loopback.

const (
	inTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	inParent = "00f067aa0ba902b7"
	canary   = "canary-7f3a91-do-not-export"
)

func telemetryYAML(rcv *otlptest.Receiver, capture bool) string {
	return fmt.Sprintf("telemetry: {enabled: true, endpoint: %q, capture_content: %v}\n", rcv.URL(), capture)
}

// spansOf splits a trace's spans into its server span and client spans in
// start order.
func spansOf(t *testing.T, spans []otlptest.Span) (otlptest.Span, []otlptest.Span) {
	t.Helper()
	var server []otlptest.Span
	var clients []otlptest.Span
	for _, s := range spans {
		switch s.Kind.String() {
		case "SPAN_KIND_SERVER":
			server = append(server, s)
		case "SPAN_KIND_CLIENT":
			clients = append(clients, s)
		default:
			t.Fatalf("unexpected span kind %v", s.Kind)
		}
	}
	if len(server) != 1 {
		t.Fatalf("got %d server spans, want 1", len(server))
	}
	for i := 1; i < len(clients); i++ {
		for j := i; j > 0 && clients[j].StartTimeUnixNano < clients[j-1].StartTimeUnixNano; j-- {
			clients[j], clients[j-1] = clients[j-1], clients[j]
		}
	}
	for _, c := range clients {
		if c.TraceID() != server[0].TraceID() || c.ParentID() != server[0].ID() {
			t.Fatalf("client span %q is not a child of the server span", c.Name)
		}
	}
	return server[0], clients
}

func wantAttr(t *testing.T, s otlptest.Span, k string, want any) {
	t.Helper()
	got, ok := s.Attr(k)
	if !ok {
		t.Fatalf("span %q has no %s", s.Name, k)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("span %q: %s = %v (%T), want %v", s.Name, k, got, got, want)
	}
}

func noCanary(t *testing.T, rcv *otlptest.Receiver) {
	t.Helper()
	for _, b := range rcv.Raw() {
		if bytes.Contains(b, []byte(canary)) {
			t.Fatal("the prompt reached an exported span without capture_content")
		}
	}
}

// TestTelemetryFallback: a request that falls back exports one server span
// (child of the inbound traceparent) with two client spans, the failed one
// marked as an error; usage and cost match the response; the upstream got
// the client span's traceparent; the prompt is not exported.
func TestTelemetryFallback(t *testing.T) {
	rcv := otlptest.New()
	defer rcv.Close()
	e := newEnv(t, []mockSpec{
		{name: "bad", cfg: mock.Config{ErrorRate: 1, ErrorStatus: 500}},
		{name: "good", cfg: mock.Config{Tokens: 7, CachedTokens: 3}},
	}, twoProviderModel("bad", "good"), telemetryYAML(rcv, false))
	body := `{"model":"acme/chat","max_tokens":50,"temperature":0.3,"session_id":"s-1","messages":[{"role":"user","content":"` + canary + `"}],"provider":{"order":["bad","good"]}}`
	r := e.post("/api/v1/chat/completions", body, "traceparent", "00-"+inTrace+"-"+inParent+"-01", "X-Title", "tel-app")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	resp := decode(t, r.body)
	usage := resp["usage"].(map[string]any)
	e.shutdown(10 * time.Second) // flushes the spans

	server, clients := spansOf(t, rcv.Spans())
	if server.TraceID() != inTrace || server.ParentID() != inParent {
		t.Fatalf("server span %s parent %s: not the inbound traceparent", server.TraceID(), server.ParentID())
	}
	if len(clients) != 2 {
		t.Fatalf("got %d client spans, want 2", len(clients))
	}
	if server.Name != "chat acme/chat" {
		t.Fatalf("server span name %q", server.Name)
	}
	genID := r.header.Get("X-Generation-Id")
	cost, _ := strconv.ParseFloat(r.header.Get("X-Tollgate-Cost"), 64)
	for k, v := range map[string]any{
		"gen_ai.operation.name":                "chat",
		"gen_ai.request.model":                 "acme/chat",
		"gen_ai.request.max_tokens":            50,
		"gen_ai.request.temperature":           0.3,
		"gen_ai.request.stream":                false,
		"gen_ai.response.model":                "acme/chat",
		"gen_ai.response.id":                   genID,
		"gen_ai.response.finish_reasons":       []any{"stop"},
		"gen_ai.provider.name":                 "good",
		"gen_ai.conversation.id":               "s-1",
		"gen_ai.usage.input_tokens":            usage["prompt_tokens"],
		"gen_ai.usage.output_tokens":           usage["completion_tokens"],
		"gen_ai.usage.cache_read.input_tokens": 3,
		"tollgate.generation_id":               genID,
		"tollgate.attempts":                    2,
		"tollgate.provider":                    "good",
		"tollgate.key.name":                    "k1",
		"tollgate.app":                         "tel-app",
		"http.response.status_code":            200,
		"url.path":                             "/api/v1/chat/completions",
	} {
		wantAttr(t, server, k, v)
	}
	if got, _ := server.Attr("tollgate.cost_usd"); got.(float64) != cost || cost <= 0 {
		t.Fatalf("tollgate.cost_usd %v, X-Tollgate-Cost %v", got, cost)
	}
	if usage["completion_tokens"].(float64) != 7 {
		t.Fatalf("mock usage: %v", usage)
	}
	if _, ok := server.Attr("error.type"); ok || server.Status.GetCode().String() == "STATUS_CODE_ERROR" {
		t.Fatalf("a served request is marked failed: %v", server.Status)
	}

	bad, good := clients[0], clients[1]
	if bad.Name != "chat up-chat" || good.Name != "chat up-chat-2" {
		t.Fatalf("client span names %q, %q", bad.Name, good.Name)
	}
	if bad.Status.GetCode().String() != "STATUS_CODE_ERROR" {
		t.Fatalf("failed attempt's span status %v", bad.Status)
	}
	wantAttr(t, bad, "error.type", "status_5xx")
	wantAttr(t, bad, "http.response.status_code", 500)
	wantAttr(t, bad, "gen_ai.provider.name", "bad")
	wantAttr(t, bad, "tollgate.attempt", 1)
	if good.Status.GetCode().String() == "STATUS_CODE_ERROR" {
		t.Fatalf("served attempt marked failed")
	}
	host, port, _ := strings.Cut(e.mocks["good"].Addr(), ":")
	for k, v := range map[string]any{
		"gen_ai.operation.name":      "chat",
		"gen_ai.request.model":       "up-chat-2",
		"server.address":             host,
		"server.port":                port,
		"tollgate.attempt":           2,
		"gen_ai.usage.input_tokens":  usage["prompt_tokens"],
		"gen_ai.usage.output_tokens": 7,
		"http.response.status_code":  200,
	} {
		wantAttr(t, good, k, v)
	}
	if bad.EndTimeUnixNano > good.StartTimeUnixNano || good.EndTimeUnixNano > server.EndTimeUnixNano {
		t.Fatal("spans overlap out of order")
	}

	// Each upstream got the traceparent of its own client span.
	for name, span := range map[string]otlptest.Span{"bad": bad, "good": good} {
		reqs := e.mocks[name].LastRequests()
		if len(reqs) != 1 {
			t.Fatalf("%s got %d requests", name, len(reqs))
		}
		if got, want := reqs[0].Header.Get("Traceparent"), "00-"+inTrace+"-"+span.ID()+"-01"; got != want {
			t.Fatalf("%s got traceparent %q, want %q", name, got, want)
		}
	}
	noCanary(t, rcv)
	for k := range map[string]bool{"gen_ai.input.messages": true, "gen_ai.output.messages": true} {
		if _, ok := server.Attr(k); ok {
			t.Fatalf("%s recorded without capture_content", k)
		}
	}
}

// TestTelemetryStream: the server span of a stream ends when the stream
// ends and carries its usage; the client span has the time to first chunk.
func TestTelemetryStream(t *testing.T) {
	rcv := otlptest.New()
	defer rcv.Close()
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 5, TTFT: 20 * time.Millisecond, RoleAfterTTFT: true, TokenGap: 30 * time.Millisecond}}},
		oneModel, telemetryYAML(rcv, false))
	start := time.Now()
	r := e.post("/v1/chat/completions", `{"model":"acme/chat","stream":true,"messages":[{"role":"user","content":"`+canary+`"}]}`)
	streamed := time.Since(start)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var usage map[string]any
	for _, d := range strings.Split(string(r.body), "\n\n") {
		d = strings.TrimPrefix(d, "data: ")
		if strings.HasPrefix(d, "{") && strings.Contains(d, `"usage"`) {
			if u, ok := decode(t, []byte(d))["usage"].(map[string]any); ok {
				usage = u
			}
		}
	}
	if usage == nil {
		t.Fatalf("no usage chunk in %s", r.body)
	}
	e.shutdown(10 * time.Second)

	server, clients := spansOf(t, rcv.Spans())
	if len(clients) != 1 {
		t.Fatalf("got %d client spans", len(clients))
	}
	wantAttr(t, server, "gen_ai.request.stream", true)
	wantAttr(t, server, "gen_ai.usage.input_tokens", usage["prompt_tokens"])
	wantAttr(t, server, "gen_ai.usage.output_tokens", 5)
	wantAttr(t, server, "gen_ai.response.finish_reasons", []any{"stop"})
	wantAttr(t, clients[0], "gen_ai.usage.output_tokens", 5)
	// Five tokens 30 ms apart: the span lasts the stream, not the headers.
	if d := time.Duration(server.EndTimeUnixNano - server.StartTimeUnixNano); d < 4*30*time.Millisecond || d > streamed+time.Second {
		t.Fatalf("server span lasted %v; the stream took %v", d, streamed)
	}
	if clients[0].EndTimeUnixNano > server.EndTimeUnixNano {
		t.Fatal("client span ends after the server span")
	}
	ttft, ok := clients[0].Attr("gen_ai.response.time_to_first_chunk")
	if !ok || ttft.(float64) < 0.015 || ttft.(float64) > streamed.Seconds() {
		t.Fatalf("time_to_first_chunk %v (stream took %v)", ttft, streamed)
	}
	noCanary(t, rcv)
}

// TestTelemetryCaptureContent: with capture_content the prompt and the
// completion are recorded, for plain and streamed responses.
func TestTelemetryCaptureContent(t *testing.T) {
	rcv := otlptest.New()
	defer rcv.Close()
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 4}}}, oneModel, telemetryYAML(rcv, true))
	var texts []string
	for _, stream := range []bool{false, true} {
		r := e.post("/v1/chat/completions", fmt.Sprintf(`{"model":"acme/chat","stream":%v,"messages":[{"role":"user","content":"%s"}]}`, stream, canary))
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if !stream {
			msg := decode(t, r.body)["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)
			texts = append(texts, msg["content"].(string))
		}
	}
	e.shutdown(10 * time.Second)
	spans := rcv.Spans()
	n := 0
	for _, s := range spans {
		if s.Kind.String() != "SPAN_KIND_SERVER" {
			continue
		}
		n++
		in, _ := s.Attr("gen_ai.input.messages")
		if want := `[{"role":"user","parts":[{"type":"text","content":"` + canary + `"}]}]`; in != want {
			t.Fatalf("gen_ai.input.messages = %v, want %s", in, want)
		}
		out, _ := s.Attr("gen_ai.output.messages")
		o, _ := out.(string)
		if !strings.HasPrefix(o, `[{"role":"assistant","parts":[{"type":"text","content":"`) || strings.Contains(o, `"content":""`) {
			t.Fatalf("gen_ai.output.messages = %v", out)
		}
		if stream, _ := s.Attr("gen_ai.request.stream"); stream == false && !strings.Contains(o, texts[0]) {
			t.Fatalf("output %s does not hold the completion %q", o, texts[0])
		}
	}
	if n != 2 {
		t.Fatalf("got %d server spans, want 2", n)
	}
}

// TestTelemetryDisabled: without telemetry.enabled nothing is exported and
// upstreams get no traceparent from the gateway.
func TestTelemetryDisabled(t *testing.T) {
	rcv := otlptest.New()
	defer rcv.Close()
	e := newEnv(t, []mockSpec{{name: "p1"}}, oneModel,
		fmt.Sprintf("telemetry: {enabled: false, endpoint: %q}\n", rcv.URL()))
	r := e.post("/v1/chat/completions", `{"model":"acme/chat","messages":[{"role":"user","content":"hi"}]}`)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	e.shutdown(10 * time.Second)
	if n := len(rcv.Raw()); n != 0 {
		t.Fatalf("%d exports with telemetry disabled", n)
	}
	if tp := e.mocks["p1"].LastRequests()[0].Header.Get("Traceparent"); tp != "" {
		t.Fatalf("upstream got traceparent %q with telemetry disabled", tp)
	}
}

// TestTelemetryOperations: completions, embeddings and the Anthropic
// edge are named by their GenAI operation; a rejected request still ends
// its span, with error.type.
func TestTelemetryOperations(t *testing.T) {
	rcv := otlptest.New()
	defer rcv.Close()
	e := newEnv(t, []mockSpec{{name: "p1"}}, oneModel, telemetryYAML(rcv, false))
	for _, c := range []struct{ path, body string }{
		{"/v1/completions", `{"model":"acme/chat","prompt":"hi"}`},
		{"/v1/embeddings", `{"model":"acme/chat","input":"hi"}`},
		{"/v1/messages", `{"model":"acme/chat","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}`},
		{"/v1/chat/completions", `{"model":"acme/chat","messages":[]}`},
	} {
		r := e.post(c.path, c.body)
		if want := 200; strings.Contains(c.body, `"messages":[]`) {
			if r.status != 400 {
				t.Fatalf("%s: status %d, want 400", c.path, r.status)
			}
		} else if r.status != want {
			t.Fatalf("%s: status %d: %s", c.path, r.status, r.body)
		}
	}
	e.shutdown(10 * time.Second)
	names := map[string]otlptest.Span{}
	for _, s := range rcv.Spans() {
		if s.Kind.String() == "SPAN_KIND_SERVER" {
			p, _ := s.Attr("url.path")
			names[fmt.Sprint(p)] = s
		}
	}
	for path, want := range map[string]string{
		"/v1/completions": "text_completion acme/chat", "/v1/embeddings": "embeddings acme/chat",
		"/v1/messages": "chat acme/chat", "/v1/chat/completions": "chat",
	} {
		s, ok := names[path]
		if !ok {
			t.Fatalf("no server span for %s: %v", path, names)
		}
		if s.Name != want {
			t.Fatalf("%s: span %q, want %q", path, s.Name, want)
		}
	}
	wantAttr(t, names["/v1/embeddings"], "gen_ai.operation.name", "embeddings")
	wantAttr(t, names["/v1/chat/completions"], "error.type", "400")
	wantAttr(t, names["/v1/chat/completions"], "http.response.status_code", 400)
}

// TestTelemetryCaptureContentHonoursZDR: a request asking for zdr or
// data_collection: deny keeps its prompt out of traces even with
// capture_content.
func TestTelemetryCaptureContentHonoursZDR(t *testing.T) {
	rcv := otlptest.New()
	defer rcv.Close()
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 4}, extra: `, data_policy: {zdr: true}`}}, oneModel, telemetryYAML(rcv, true))
	for _, prefs := range []string{`{"zdr":true}`, `{"data_collection":"deny"}`} {
		for _, stream := range []bool{false, true} {
			r := e.post("/v1/chat/completions", fmt.Sprintf(`{"model":"acme/chat","stream":%v,"provider":%s,"messages":[{"role":"user","content":"%s"}]}`, stream, prefs, canary))
			if r.status != 200 {
				t.Fatalf("%s: status %d: %s", prefs, r.status, r.body)
			}
		}
	}
	e.shutdown(10 * time.Second)
	n := 0
	for _, s := range rcv.Spans() {
		if s.Kind.String() != "SPAN_KIND_SERVER" {
			continue
		}
		n++
		for _, k := range []string{"gen_ai.input.messages", "gen_ai.output.messages"} {
			if v, ok := s.Attr(k); ok {
				t.Fatalf("%s recorded for a zdr request: %v", k, v)
			}
		}
	}
	if n != 4 {
		t.Fatalf("got %d server spans, want 4", n)
	}
}
