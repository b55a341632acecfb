package telemetry

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"

	"github.com/tollgate/tollgate/core/telemetry/otlptest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("internal/poll.runtime_pollWait"),
	)
}

func TestNewRejectsBadConfig(t *testing.T) {
	f := func(c Config, want string) {
		t.Helper()
		tr, err := New(c)
		if err == nil {
			_ = tr.Shutdown(context.Background())
			t.Fatalf("New(%+v) succeeded; want an error with %q", c, want)
		}
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("New(%+v) = %v; want %q", c, err, want)
		}
	}
	f(Config{}, "must be an http(s) URL")
	f(Config{Endpoint: "grpc://127.0.0.1:4317"}, "must be an http(s) URL")
	f(Config{Endpoint: "http://127.0.0.1:4318/v1/traces", SampleRatio: 1.5}, "within 0..1")
}

// TestSpansReachTheCollector runs one request's spans through the real
// exporter to a receiver on loopback: resource, kinds, parentage from the
// inbound traceparent, and the traceparent handed to the upstream.
func TestSpansReachTheCollector(t *testing.T) {
	rcv := otlptest.New()
	defer rcv.Close()
	tr, err := New(Config{
		Endpoint: rcv.URL() + "/v1/traces", Headers: map[string]string{"X-Tenant": "acme"}, SampleRatio: 0,
		ServiceVersion: "v9", Node: "n1", Region: "eu",
	})
	if err != nil {
		t.Fatal(err)
	}
	const parentTrace, parentSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	var in fasthttp.RequestHeader
	in.Set("traceparent", "00-"+parentTrace+"-"+parentSpan+"-01")
	r := tr.Start(&in, "chat", time.Now())
	if !r.Server().IsRecording() {
		t.Fatal("a sampled parent must be recorded even at ratio 0")
	}
	var out fasthttp.RequestHeader
	r.StartAttempt(&out, "chat", "up-model", 0)
	tp := string(out.Peek("traceparent"))
	r.EndAttempt(time.Now(), "status_5xx")
	r.End("")
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	spans := rcv.Spans()
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want 2", len(spans))
	}
	var server, client otlptest.Span
	for _, s := range spans {
		switch s.Kind.String() {
		case "SPAN_KIND_SERVER":
			server = s
		case "SPAN_KIND_CLIENT":
			client = s
		}
	}
	if server.Span == nil || client.Span == nil {
		t.Fatalf("want a server and a client span: %v", spans)
	}
	if server.TraceID() != parentTrace || server.ParentID() != parentSpan {
		t.Fatalf("server span %s/%s is not a child of the inbound traceparent", server.TraceID(), server.ParentID())
	}
	if client.TraceID() != parentTrace || client.ParentID() != server.ID() {
		t.Fatalf("client span is not a child of the server span")
	}
	if want := "00-" + parentTrace + "-" + client.ID() + "-01"; tp != want {
		t.Fatalf("upstream traceparent %q, want %q", tp, want)
	}
	if client.Name != "chat up-model" || client.Status.GetCode().String() != "STATUS_CODE_ERROR" {
		t.Fatalf("client span %q status %v", client.Name, client.Status)
	}
	if v, _ := client.Attr("error.type"); v != "status_5xx" {
		t.Fatalf("client error.type = %v", v)
	}
	for k, want := range map[string]any{"service.name": "tollgate", "service.version": "v9", "service.instance.id": "n1", "cloud.region": "eu"} {
		if got := server.Resource[k]; got != want {
			t.Errorf("resource %s = %v, want %v", k, got, want)
		}
	}
	if h := rcv.Headers(); len(h) == 0 || h[0].Get("X-Tenant") != "acme" {
		t.Fatalf("export headers not sent: %v", h)
	}
}

// TestRatioZeroRecordsNothing: without a sampled parent, ratio 0 records
// no span, yet the upstream still gets a (not sampled) traceparent.
func TestRatioZeroRecordsNothing(t *testing.T) {
	rcv := otlptest.New()
	defer rcv.Close()
	tr, err := New(Config{Endpoint: rcv.URL() + "/v1/traces", SampleRatio: 0})
	if err != nil {
		t.Fatal(err)
	}
	var in, out fasthttp.RequestHeader
	r := tr.Start(&in, "chat", time.Now())
	r.StartAttempt(&out, "chat", "m", 0)
	if tp := string(out.Peek("traceparent")); !strings.HasSuffix(tp, "-00") || len(tp) != 55 {
		t.Fatalf("traceparent %q, want an unsampled one", tp)
	}
	r.End("")
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(rcv.Spans()); n != 0 {
		t.Fatalf("%d spans exported at ratio 0", n)
	}
}

func TestInputMessages(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := InputMessages([]byte(in)); got != want {
			t.Fatalf("InputMessages(%s)\ngot  %s\nwant %s", in, got, want)
		}
	}
	f(`[]`, `[]`)
	f(`[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]`,
		`[{"role":"system","parts":[{"type":"text","content":"be brief"}]},{"role":"user","parts":[{"type":"text","content":"hi"}]}]`)
	f(`[{"role":"user","content":[{"type":"text","text":"what is"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]`,
		`[{"role":"user","parts":[{"type":"text","content":"what is"},{"type":"uri","modality":"image","uri":"https://x/y.png"}]}]`)
	f(`[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"c1","content":"42"}]`,
		`[{"role":"assistant","parts":[{"type":"tool_call","id":"c1","name":"f","arguments":{"a":1}}]},{"role":"tool","parts":[{"type":"tool_call_response","id":"c1","response":"42"}]}]`)
}

func TestOutputMessages(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := OutputMessages([]byte(in)); got != want {
			t.Fatalf("OutputMessages(%s)\ngot  %s\nwant %s", in, got, want)
		}
	}
	f(`{"choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}]}`,
		`[{"role":"assistant","parts":[{"type":"text","content":"hello"}],"finish_reason":"stop"}]`)
	f(`{"choices":[{"index":0,"text":"abc","finish_reason":"length"}]}`,
		`[{"role":"assistant","parts":[{"type":"text","content":"abc"}],"finish_reason":"length"}]`)
	f(`{"data":[{"embedding":[0.1]}]}`, `[]`)
	if got, want := PromptMessages([]byte(`"say hi"`)), `[{"role":"user","parts":[{"type":"text","content":"say hi"}]}]`; got != want {
		t.Fatalf("PromptMessages = %s, want %s", got, want)
	}
}

func TestCaptureFrames(t *testing.T) {
	rcv := otlptest.New()
	defer rcv.Close()
	f := func(capture bool, want string) {
		t.Helper()
		tr, err := New(Config{Endpoint: rcv.URL() + "/v1/traces", SampleRatio: 1, CaptureContent: capture})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Shutdown(context.Background())
		var h fasthttp.RequestHeader
		r := tr.Start(&h, "chat", time.Now())
		r.CaptureFrames([]byte("data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n: PROCESSING\n\n"))
		r.CaptureFrames([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\ndata: {\"choices\":[],\"usage\":{}}\n\ndata: [DONE]\n\n"))
		if got := r.StreamedOutput(); got != want {
			t.Fatalf("StreamedOutput = %s, want %s", got, want)
		}
		r.End("")
	}
	f(true, `[{"role":"assistant","parts":[{"type":"text","content":"Hello"}],"finish_reason":"stop"}]`)
	f(false, `[{"role":"assistant","parts":[{"type":"text"}]}]`)
}

func TestProviderName(t *testing.T) {
	f := func(name, protocol, want string) {
		t.Helper()
		if got := ProviderName(name, protocol); got != want {
			t.Fatalf("ProviderName(%q, %q) = %q, want %q", name, protocol, got, want)
		}
	}
	f("openai", "openai", "openai")
	f("groq", "openai", "groq")
	f("mistral", "openai", "mistral_ai")
	f("xai", "openai", "x_ai")
	f("claude-eu", "anthropic", "anthropic")
	f("google", "gemini", "gcp.gemini")
	f("vertex-proxy", "gemini", "gcp.gemini")
	f("gpu-box", "openai", "gpu-box")
}
