package gemini

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/routing"
)

func embedEndpoint() *routing.Endpoint {
	return &routing.Endpoint{
		Provider: "google", Model: "google/gemini-embedding-001", UpstreamModel: "gemini-embedding-001",
		Pricing: routing.Pricing{Prompt: 150_000_000}, // $0.15 per million tokens
	}
}

// newEmbedCall builds the Call core/api would make for an /embeddings body.
func newEmbedCall(t testing.TB, body string) *provider.Call {
	t.Helper()
	var chat peek.Chat
	if err := peek.ParseRequest([]byte(body), &chat, peek.KindEmbedding); err != nil {
		t.Fatalf("cannot parse test request: %v\n%s", err, body)
	}
	return &provider.Call{
		Body: []byte(body), Chat: &chat, Endpoint: embedEndpoint(), Kind: peek.KindEmbedding,
		Upstream: &provider.Upstream{Name: "google", Adapter: Adapter{}},
		GenID:    testGenID, Created: testCreated,
	}
}

func writeEmbeddings(t testing.TB, body string) (*fasthttp.Request, error) {
	t.Helper()
	c := newEmbedCall(t, body)
	c.Upstream = testUpstream(t, "https://generativelanguage.googleapis.com/v1beta")
	req := fasthttp.AcquireRequest()
	t.Cleanup(func() { fasthttp.ReleaseRequest(req) })
	return req, Adapter{}.WriteEmbeddings(req, c)
}

// TestWriteEmbeddingsGolden translates OpenAI embeddings requests (a
// string, and an array with dimensions) into batchEmbedContents calls.
func TestWriteEmbeddingsGolden(t *testing.T) {
	for _, name := range []string{"embed_request_string", "embed_request_array"} {
		t.Run(name, func(t *testing.T) {
			req, err := writeEmbeddings(t, string(readTestdata(t, name+".json")))
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(req.Body()) {
				t.Fatalf("body is not JSON: %s", req.Body())
			}
			checkGolden(t, name+".golden", []byte(describeRequest(req)))
		})
	}
}

func TestWriteEmbeddingsURL(t *testing.T) {
	f := func(model, want, wantName string) {
		t.Helper()
		c := newEmbedCall(t, `{"model":"m","input":"hi"}`)
		c.Endpoint.UpstreamModel = model
		c.Upstream = testUpstream(t, "http://127.0.0.1:9/v1beta/")
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		if err := (Adapter{}).WriteEmbeddings(req, c); err != nil {
			t.Fatal(err)
		}
		if got := string(req.URI().FullURI()); got != want {
			t.Fatalf("URL %s, want %s", got, want)
		}
		var body struct {
			Requests []struct {
				Model string `json:"model"`
			} `json:"requests"`
		}
		if err := json.Unmarshal(req.Body(), &body); err != nil || len(body.Requests) != 1 || body.Requests[0].Model != wantName {
			t.Fatalf("body %s: %v", req.Body(), err)
		}
	}
	f("gemini-embedding-001", "http://127.0.0.1:9/v1beta/models/gemini-embedding-001:batchEmbedContents", "models/gemini-embedding-001")
	f("tunedModels/emb-7", "http://127.0.0.1:9/v1beta/tunedModels/emb-7:batchEmbedContents", "tunedModels/emb-7")
}

// TestWriteEmbeddingsRejects: what Gemini cannot embed is a BadRequest
// (so core/api tries another candidate, then answers 400).
func TestWriteEmbeddingsRejects(t *testing.T) {
	f := func(body, want string) {
		t.Helper()
		_, err := writeEmbeddings(t, body)
		var br *peek.BadRequest
		if !errors.As(err, &br) || !strings.Contains(br.Msg, want) {
			t.Fatalf("%s: error %T %v, want a BadRequest containing %q", body, err, err, want)
		}
	}
	f(`{"model":"m","input":[1,2,3]}`, "Gemini embeds text only")
	f(`{"model":"m","input":[[1,2],[3]]}`, "Gemini embeds text only")
	f(`{"model":"m","input":["ok",[3]]}`, "Gemini embeds text only")
	f(`{"model":"m","input":7}`, "Gemini embeds text only")
	f(`{"model":"m","input":""}`, "empty")
	f(`{"model":"m","input":[]}`, "must not be empty")
	f(`{"model":"m","input":["a",""]}`, "empty strings")
	f(`{"model":"m","input":{"text":"a"}}`, "string or an array of strings")
	f(`{"model":"m","input":["a",true]}`, "string or an array of strings")
	f(`{"model":"m","input":"a","dimensions":0}`, "'dimensions'")
	f(`{"model":"m","input":"a","dimensions":-3}`, "'dimensions'")
	f(`{"model":"m","input":"a","dimensions":1.5}`, "'dimensions'")
	f(`{"model":"m","input":"a","dimensions":"768"}`, "'dimensions'")
	f(`{"model":"m","input":"a","encoding_format":"int8"}`, "'encoding_format'")
	many := `{"model":"m","input":["x"` + strings.Repeat(`,"x"`, maxEmbedBatch) + `]}`
	f(many, "at most 100")

	// Explicit nulls are absent parameters, and exactly the batch limit
	// goes through.
	for _, body := range []string{
		`{"model":"m","input":"a","dimensions":null,"encoding_format":null}`,
		`{"model":"m","input":["x"` + strings.Repeat(`,"x"`, maxEmbedBatch-1) + `]}`,
	} {
		if _, err := writeEmbeddings(t, body); err != nil {
			t.Fatalf("%.80s: %v", body, err)
		}
	}
}

// readEmbeddings runs ReadEmbeddings for the client body req.
func readEmbeddings(t testing.TB, req string, body []byte) ([]byte, *provider.Result, error) {
	t.Helper()
	c := newEmbedCall(t, req)
	return Adapter{}.ReadEmbeddings(nil, body, c)
}

// TestReadEmbeddingsGolden: a real-shaped (pretty-printed) Gemini batch
// response becomes an OpenAI list, floats and base64.
func TestReadEmbeddingsGolden(t *testing.T) {
	req := string(readTestdata(t, "embed_request_array.json"))
	f := func(name, req string) {
		t.Helper()
		out, res, err := readEmbeddings(t, req, readTestdata(t, "embed_response.json"))
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(out) {
			t.Fatalf("not JSON: %s", out)
		}
		if res.HaveUsage || res.Usage.PromptTokens == 0 || res.Usage.CompletionTokens != 0 || !res.Done {
			t.Fatalf("result %+v", res)
		}
		got := append(out, '\n')
		got = append(got, describeResult(res, embedEndpoint().Pricing.Cost(res.Usage))...)
		checkGolden(t, name, got)
	}
	f("embed_response.golden", req)
	f("embed_response_base64.golden", strings.Replace(req, `"encoding_format":"float"`, `"encoding_format":"base64"`, 1))
}

// TestReadEmbeddingsUsage: prompt tokens are estimated from the decoded
// input text, for a string as for an array.
func TestReadEmbeddingsUsage(t *testing.T) {
	one := []byte(`{"embeddings":[{"values":[0.5]}]}`)
	_, res, err := readEmbeddings(t, `{"model":"m","input":"`+strings.Repeat("abcd", 10)+`"}`, one)
	if err != nil || res.Usage.PromptTokens != 10 || res.HaveUsage {
		t.Fatalf("string input: %+v %v", res, err)
	}
	two := []byte(`{"embeddings":[{"values":[0.5]},{"values":[0.25]}]}`)
	_, res, err = readEmbeddings(t, `{"model":"m","input":["abcd","\u00e9\u00e9"]}`, two)
	if err != nil || res.Usage.PromptTokens != provider.EstimateTokens(4+4) {
		t.Fatalf("array input: %+v %v", res, err)
	}
}

// TestEmbeddingsBase64 round-trips vectors of several lengths (around
// the 12-float encoding chunk) through both encodings: base64 decodes to
// the exact little-endian float32s Gemini sent, floats read back as the
// same float32s.
func TestEmbeddingsBase64(t *testing.T) {
	for _, n := range []int{1, 2, 3, 11, 12, 13, 24, 25, 768} {
		vs := make([]float32, n)
		for i := range vs {
			vs[i] = float32(math.Sin(float64(i)*1.7)) / float32(i+1)
		}
		vs[0] = -math.SmallestNonzeroFloat32
		gem, err := json.Marshal(map[string]any{"embeddings": []any{map[string]any{"values": vs}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range []string{"base64", "float"} {
			out, _, err := readEmbeddings(t, `{"model":"m","input":"x","encoding_format":"`+format+`"}`, gem)
			if err != nil {
				t.Fatalf("n=%d %s: %v", n, format, err)
			}
			var list struct {
				Data []struct {
					Embedding json.RawMessage `json:"embedding"`
				} `json:"data"`
			}
			if err := json.Unmarshal(out, &list); err != nil || len(list.Data) != 1 {
				t.Fatalf("n=%d %s: %v %s", n, format, err, out)
			}
			var got []float32
			if format == "base64" {
				var s string
				if err := json.Unmarshal(list.Data[0].Embedding, &s); err != nil {
					t.Fatal(err)
				}
				raw, err := base64.StdEncoding.DecodeString(s)
				if err != nil || len(raw) != 4*n {
					t.Fatalf("n=%d: base64 %q: %v (%d bytes)", n, s, err, len(raw))
				}
				for i := 0; i < len(raw); i += 4 {
					got = append(got, math.Float32frombits(binary.LittleEndian.Uint32(raw[i:])))
				}
			} else if err := json.Unmarshal(list.Data[0].Embedding, &got); err != nil {
				t.Fatal(err)
			}
			for i := range vs {
				if math.Float32bits(got[i]) != math.Float32bits(vs[i]) {
					t.Fatalf("n=%d %s: value %d = %g, want %g", n, format, i, got[i], vs[i])
				}
			}
		}
	}
}

// TestReadEmbeddingsMalformed: bad upstream bytes are errors, never
// panics or broken client JSON; an error object is the provider's failure.
func TestReadEmbeddingsMalformed(t *testing.T) {
	const req = `{"model":"m","input":["a","b"]}`
	f := func(body string) {
		t.Helper()
		out, res, err := readEmbeddings(t, req, []byte(body))
		if err == nil && res.Err == nil {
			t.Fatalf("%q: accepted, wrote %s", body, out)
		}
	}
	f(``)
	f(`   `)
	f(`{`)
	f(`{"embeddings":[{"values":[0.1,0.2]},{"values":[0.3,`)
	f(`{"\`)
	f(`{"a\`)
	f(`{"embeddings":[{"values":[0.1]},{"values":[0.2]}]} trailing`)
	f(`{"embeddings":[{"values":[0.1]},{"values":[0.2,]}]}`)
	f(`{"embeddings":[{"values":["0.1"]},{"values":[0.2]}]}`)
	f(`{"embeddings":[{"values":{"a":1}},{"values":[0.2]}]}`)
	f(`{"embeddings":[{"values":[1e300]},{"values":[0.2]}]}`)
	f(`{"embeddings":[{"values":[0.1]}]}`)
	f(`{"embeddings":[{"values":[0.1]},{"values":[0.2]},{"values":[0.3]}]}`)
	f(`{"embeddings":[{"values":[]},{"values":[0.2]}]}`)
	f(`{"embeddings":[{},{"values":[0.2]}]}`)
	f(`{}`)
	f(`[]`)
	f(`null`)
	f("{\"embeddings\":[{\"values\":[0.1]},{\"values\":[0.2]}],\"x\":\"\xff\"}")

	_, res, err := readEmbeddings(t, req, readTestdata(t, "embed_error.json"))
	if err != nil || res.Err == nil || res.Err.Status != 400 || res.Err.Type != "INVALID_ARGUMENT" {
		t.Fatalf("in-band error: %+v %v", res, err)
	}
}

// FuzzReadEmbeddings: no upstream body panics ReadEmbeddings; what it
// accepts is an OpenAI list with one embedding per input.
func FuzzReadEmbeddings(f *testing.F) {
	f.Add([]byte(`{"embeddings":[{"values":[0.1,-2e-7]},{"values":[3]}]}`))
	f.Add([]byte(`{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, format := range []string{"float", "base64"} {
			out, res, err := readEmbeddings(t, `{"model":"m","input":["a","b"],"encoding_format":"`+format+`"}`, body)
			if err != nil || res.Err != nil {
				continue
			}
			var list struct {
				ID   string            `json:"id"`
				Data []json.RawMessage `json:"data"`
			}
			if json.Unmarshal(out, &list) != nil || list.ID != testGenID || len(list.Data) != 2 {
				t.Fatalf("ReadEmbeddings(%q) = %s", body, out)
			}
		}
	})
}

// FuzzWriteEmbeddings: no body the gateway accepts panics the
// translation; it yields a JSON request or a BadRequest.
func FuzzWriteEmbeddings(f *testing.F) {
	f.Add([]byte(`{"model":"m","input":["a","b\u00e9"],"dimensions":8}`))
	f.Add([]byte(`{"model":"m","input":[[1,2]]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var chat peek.Chat
		if peek.ParseRequest(body, &chat, peek.KindEmbedding) != nil {
			return
		}
		c := &provider.Call{Body: body, Chat: &chat, Endpoint: embedEndpoint(), Kind: peek.KindEmbedding,
			Upstream: testUpstream(t, "http://127.0.0.1:9/v1beta")}
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		if err := (Adapter{}).WriteEmbeddings(req, c); err != nil {
			var br *peek.BadRequest
			if !errors.As(err, &br) {
				t.Fatalf("WriteEmbeddings(%q) = %T %v, want a BadRequest", body, err, err)
			}
			return
		}
		if !json.Valid(req.Body()) {
			t.Fatalf("WriteEmbeddings(%q) = invalid JSON %s", body, req.Body())
		}
	})
}

// embedServer is a loopback stand-in for Gemini's batchEmbedContents
// (bench/mock serves only generateContent): it checks the call and
// answers pretty-printed, as Google does, with vector i filled with
// i+1+j/8 (exact in float32) and outputDimensionality values (default
// 3). The text "rate-limit" gets a 429 with RetryInfo.
func embedServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const path = "/v1beta/models/gemini-embedding-001:batchEmbedContents"
		if r.Method != http.MethodPost || r.URL.Path != path || r.Header.Get("x-goog-api-key") != "AIza-test" ||
			r.Header.Get("content-type") != "application/json" {
			http.Error(w, `{"error":{"code":404,"message":"not found","status":"NOT_FOUND"}}`, http.StatusNotFound)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var in struct {
			Requests []struct {
				Model   string `json:"model"`
				Content struct {
					Parts []struct {
						Text string `json:"text"`
					} `json:"parts"`
				} `json:"content"`
				OutputDimensionality *int `json:"outputDimensionality"`
			} `json:"requests"`
		}
		if err := json.Unmarshal(b, &in); err != nil || len(in.Requests) == 0 {
			http.Error(w, `{"error":{"code":400,"message":"bad body","status":"INVALID_ARGUMENT"}}`, http.StatusBadRequest)
			return
		}
		type embedding struct {
			Values []float32 `json:"values"`
		}
		var out struct {
			Embeddings []embedding `json:"embeddings"`
		}
		for i, rq := range in.Requests {
			if rq.Model != "models/gemini-embedding-001" || len(rq.Content.Parts) != 1 {
				http.Error(w, `{"error":{"code":400,"message":"bad request","status":"INVALID_ARGUMENT"}}`, http.StatusBadRequest)
				return
			}
			if rq.Content.Parts[0].Text == "rate-limit" {
				w.Header().Set("content-type", "application/json")
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = io.WriteString(w, `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}`)
				return
			}
			dims := 3
			if rq.OutputDimensionality != nil {
				dims = *rq.OutputDimensionality
			}
			e := embedding{Values: make([]float32, dims)}
			for j := range e.Values {
				e.Values[j] = float32(i+1) + float32(j)/8
			}
			out.Embeddings = append(out.Embeddings, e)
		}
		w.Header().Set("content-type", "application/json; charset=UTF-8")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// embedRoundTrip does what core/api does for /embeddings with a Gemini
// upstream: WriteEmbeddings, Client.Do, then ReadError or ReadEmbeddings.
func embedRoundTrip(t *testing.T, up *provider.Upstream, body string) ([]byte, *provider.Result, *provider.Failure) {
	t.Helper()
	c := newEmbedCall(t, body)
	c.Upstream = up
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	emb, ok := up.Adapter.(provider.Embedder)
	if !ok {
		t.Fatal("the Gemini adapter is not a provider.Embedder")
	}
	if err := emb.WriteEmbeddings(req, c); err != nil {
		t.Fatalf("WriteEmbeddings: %v", err)
	}
	if err := up.Client.Do(req, resp, false); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if s := resp.StatusCode(); s < 200 || s > 299 {
		return nil, nil, up.Adapter.ReadError(s, &resp.Header, resp.Body())
	}
	out, res, err := emb.ReadEmbeddings(nil, resp.Body(), c)
	if err != nil {
		t.Fatalf("ReadEmbeddings: %v\n%s", err, resp.Body())
	}
	return out, res, nil
}

func TestEmbeddingsEndToEnd(t *testing.T) {
	srv := embedServer(t)
	up := testUpstream(t, srv.URL+"/v1beta")

	// A string input, floats: the OpenAI SDK reads the list.
	out, res, fl := embedRoundTrip(t, up, `{"model":"google/gemini-embedding-001","input":"hello world!"}`)
	if fl != nil {
		t.Fatalf("failure: %+v", fl)
	}
	var list oai.CreateEmbeddingResponse
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if list.Model != "google/gemini-embedding-001" || list.Object != "list" || len(list.Data) != 1 ||
		list.Data[0].Object != "embedding" || list.Data[0].Index != 0 ||
		len(list.Data[0].Embedding) != 3 || list.Data[0].Embedding[2] != 1.25 ||
		list.Usage.PromptTokens != 3 || list.Usage.TotalTokens != 3 || res.HaveUsage {
		t.Fatalf("list %s", out)
	}
	var head struct {
		ID       string `json:"id"`
		Provider string `json:"provider"`
		Usage    struct {
			Cost *float64 `json:"cost"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(out, &head); err != nil || head.ID != testGenID || head.Provider != "google" || head.Usage.Cost == nil {
		t.Fatalf("head %s: %v", out, err)
	}

	// An array with dimensions, base64: one batch call, in input order.
	out, _, fl = embedRoundTrip(t, up, `{"model":"google/gemini-embedding-001","input":["a","b","c"],"dimensions":5,"encoding_format":"base64"}`)
	if fl != nil {
		t.Fatalf("failure: %+v", fl)
	}
	var b64 struct {
		Data []struct {
			Index     int    `json:"index"`
			Embedding string `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(out, &b64); err != nil || len(b64.Data) != 3 {
		t.Fatalf("%v\n%s", err, out)
	}
	for i, d := range b64.Data {
		raw, err := base64.StdEncoding.DecodeString(d.Embedding)
		if err != nil || d.Index != i || len(raw) != 20 {
			t.Fatalf("data[%d] = %+v: %v", i, d, err)
		}
		for j := range 5 {
			got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
			if want := float32(i+1) + float32(j)/8; got != want {
				t.Fatalf("data[%d][%d] = %g, want %g", i, j, got, want)
			}
		}
	}

	// Gemini's 429 is read with its RetryInfo delay.
	_, _, fl = embedRoundTrip(t, up, `{"model":"google/gemini-embedding-001","input":["ok","rate-limit"]}`)
	if fl == nil || fl.Status != 429 || fl.RetryAfterMs != 7000 || fl.Type != "RESOURCE_EXHAUSTED" {
		t.Fatalf("failure %+v", fl)
	}
}
