package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/upstream"
)

func testUpstream(t testing.TB, base string) *provider.Upstream {
	t.Helper()
	cl, err := upstream.New(upstream.Config{BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.CloseIdle)
	return &provider.Upstream{Name: "google", Adapter: Adapter{}, Client: cl, APIKey: "AIza-test"}
}

// writeChat translates body and returns the upstream request.
func writeChat(t testing.TB, body string) (*fasthttp.Request, error) {
	t.Helper()
	c := newCall(t, body, geminiEndpoint())
	c.Upstream = testUpstream(t, "https://generativelanguage.googleapis.com/v1beta")
	req := fasthttp.AcquireRequest()
	t.Cleanup(func() { fasthttp.ReleaseRequest(req) })
	return req, Adapter{}.WriteChat(req, c)
}

func describeRequest(req *fasthttp.Request) string {
	var hs []string
	for k, v := range req.Header.All() {
		hs = append(hs, strings.ToLower(string(k))+": "+string(v))
	}
	sort.Strings(hs)
	return fmt.Sprintf("%s %s\n%s\n\n%s\n", req.Header.Method(), req.URI().FullURI(), strings.Join(hs, "\n"), req.Body())
}

// TestWriteChatGolden translates feature-rich OpenAI requests into the
// exact GenerateContentRequests.
func TestWriteChatGolden(t *testing.T) {
	for _, name := range []string{"basic", "tools", "json_schema", "media", "system_only"} {
		t.Run(name, func(t *testing.T) {
			body := string(readTestdata(t, "request_"+name+".json"))
			req, err := writeChat(t, body)
			if err != nil {
				t.Fatalf("WriteChat: %v", err)
			}
			if !json.Valid(req.Body()) {
				t.Fatalf("upstream body is not JSON: %s", req.Body())
			}
			checkGeminiRequest(t, req.Body())
			checkGolden(t, "request_"+name+".golden", []byte(describeRequest(req)))
		})
	}
}

// geminiRequest is the GenerateContentRequest as the API documents it;
// decoding with unknown members disallowed catches a misspelt field.
type geminiRequest struct {
	Contents []struct {
		Role  string          `json:"role"`
		Parts []geminiReqPart `json:"parts"`
	} `json:"contents"`
	SystemInstruction *struct {
		Parts []geminiReqPart `json:"parts"`
	} `json:"systemInstruction"`
	Tools []struct {
		FunctionDeclarations []struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"functionDeclarations"`
	} `json:"tools"`
	ToolConfig *struct {
		FunctionCallingConfig struct {
			Mode                 string   `json:"mode"`
			AllowedFunctionNames []string `json:"allowedFunctionNames"`
		} `json:"functionCallingConfig"`
	} `json:"toolConfig"`
	GenerationConfig struct {
		CandidateCount   int             `json:"candidateCount"`
		MaxOutputTokens  *int            `json:"maxOutputTokens"`
		Temperature      *float64        `json:"temperature"`
		TopP             *float64        `json:"topP"`
		TopK             *int            `json:"topK"`
		StopSequences    []string        `json:"stopSequences"`
		Seed             *int            `json:"seed"`
		PresencePenalty  *float64        `json:"presencePenalty"`
		FrequencyPenalty *float64        `json:"frequencyPenalty"`
		ResponseMimeType string          `json:"responseMimeType"`
		ResponseSchema   json.RawMessage `json:"responseSchema"`
		ThinkingConfig   *struct {
			ThinkingBudget  int  `json:"thinkingBudget"`
			IncludeThoughts bool `json:"includeThoughts"`
		} `json:"thinkingConfig"`
	} `json:"generationConfig"`
}

type geminiReqPart struct {
	Text       *string `json:"text"`
	InlineData *struct {
		MimeType string `json:"mimeType"`
		Data     string `json:"data"`
	} `json:"inlineData"`
	FileData *struct {
		MimeType string `json:"mimeType"`
		FileURI  string `json:"fileUri"`
	} `json:"fileData"`
	FunctionCall *struct {
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	} `json:"functionCall"`
	FunctionResponse *struct {
		Name     string          `json:"name"`
		Response json.RawMessage `json:"response"`
	} `json:"functionResponse"`
	ThoughtSignature string `json:"thoughtSignature"`
}

// geminiSchema is Gemini's Schema object: every member it may hold.
type geminiSchema struct {
	Type             string                  `json:"type"`
	Format           string                  `json:"format"`
	Title            string                  `json:"title"`
	Description      string                  `json:"description"`
	Nullable         bool                    `json:"nullable"`
	Enum             []string                `json:"enum"`
	MaxItems         json.Number             `json:"maxItems"`
	MinItems         json.Number             `json:"minItems"`
	Properties       map[string]geminiSchema `json:"properties"`
	Required         []string                `json:"required"`
	MinProperties    json.Number             `json:"minProperties"`
	MaxProperties    json.Number             `json:"maxProperties"`
	MinLength        json.Number             `json:"minLength"`
	MaxLength        json.Number             `json:"maxLength"`
	Pattern          string                  `json:"pattern"`
	Example          json.RawMessage         `json:"example"`
	AnyOf            []geminiSchema          `json:"anyOf"`
	PropertyOrdering []string                `json:"propertyOrdering"`
	Default          json.RawMessage         `json:"default"`
	Items            *geminiSchema           `json:"items"`
	Minimum          json.Number             `json:"minimum"`
	Maximum          json.Number             `json:"maximum"`
}

func strictDecode(t *testing.T, what string, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s does not fit Gemini's documented shape: %v\n%s", what, err, b)
	}
}

// checkGeminiRequest decodes the body strictly into the documented
// request and Schema shapes.
func checkGeminiRequest(t *testing.T, body []byte) {
	t.Helper()
	var r geminiRequest
	strictDecode(t, "the request", body, &r)
	if len(r.Contents) == 0 || r.GenerationConfig.CandidateCount != 1 {
		t.Fatalf("no contents or candidateCount != 1: %s", body)
	}
	for i, c := range r.Contents {
		if c.Role != "user" && c.Role != "model" {
			t.Fatalf("content %d has role %q", i, c.Role)
		}
		if i > 0 && r.Contents[i-1].Role == c.Role {
			t.Fatalf("contents %d and %d have the same role", i-1, i)
		}
	}
	for _, tl := range r.Tools {
		for _, fd := range tl.FunctionDeclarations {
			if fd.Parameters != nil {
				var s geminiSchema
				strictDecode(t, "parameters of "+fd.Name, fd.Parameters, &s)
			}
		}
	}
	if s := r.GenerationConfig.ResponseSchema; s != nil {
		var gs geminiSchema
		strictDecode(t, "responseSchema", s, &gs)
	}
}

// TestExplicitZeros: an explicit temperature 0, top_p 0 and seed 0 reach
// the upstream.
func TestExplicitZeros(t *testing.T) {
	req, err := writeChat(t, `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0,"top_p":0,"top_k":0,"seed":0,"presence_penalty":0}`)
	if err != nil {
		t.Fatal(err)
	}
	const want = `"generationConfig":{"candidateCount":1,"temperature":0,"topP":0,"topK":0,"seed":0,"presencePenalty":0}`
	if !bytes.Contains(req.Body(), []byte(want)) {
		t.Fatalf("explicit zeros lost: %s", req.Body())
	}
}

func TestWriteChatCases(t *testing.T) {
	f := func(body, want string) {
		t.Helper()
		req, err := writeChat(t, body)
		if err != nil {
			t.Fatalf("WriteChat(%s): %v", body, err)
		}
		if got := string(req.Body()); got != want {
			t.Fatalf("WriteChat(%s):\ngot  %s\nwant %s", body, got, want)
		}
	}
	const gc = `,"generationConfig":{"candidateCount":1}}`
	// Roles and merging; empty text dropped.
	f(`{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":[{"type":"text","text":""},{"type":"text","text":"b"}]},{"role":"assistant","content":null},{"role":"assistant","content":"c"}]}`,
		`{"contents":[{"role":"user","parts":[{"text":"a"},{"text":"b"}]},{"role":"model","parts":[{"text":"c"}]}]`+gc)
	// Tool results: name from the call; a JSON object as the response,
	// anything else under "output"; the legacy name member when the
	// call is not in the history.
	f(`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]},{"role":"tool","tool_call_id":"a","content":"[1,2]"},{"role":"tool","tool_call_id":"zz","name":"g","content":"{\"ok\":true}"}]}`,
		`{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":{}},"thoughtSignature":"skip_thought_signature_validator"}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"output":"[1,2]"}}},{"functionResponse":{"name":"g","response":{"ok":true}}}]}]`+gc)
	// tool_choice auto and none; no toolConfig without tools.
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"x":{"type":"number","format":"float"}}}}}],"tool_choice":"auto"}`,
		`{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","properties":{"x":{"type":"NUMBER","format":"float"}}}}]}],"toolConfig":{"functionCallingConfig":{"mode":"AUTO"}}`+gc)
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":"required"}`,
		`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]`+gc)
	// Thinking: enabled alone is medium of the endpoint's limit, capped.
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning":{"enabled":true}}`,
		`{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"candidateCount":1,"thinkingConfig":{"thinkingBudget":24576,"includeThoughts":true}}}`)
	f(`{"model":"m","max_tokens":1000,"messages":[{"role":"user","content":"hi"}],"reasoning":{"effort":"low"}}`,
		`{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"candidateCount":1,"maxOutputTokens":1000,"thinkingConfig":{"thinkingBudget":512,"includeThoughts":true}}}`)
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning":{"effort":"high","enabled":false}}`,
		`{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"candidateCount":1,"thinkingConfig":{"thinkingBudget":0}}}`)
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning":{"exclude":true}}`,
		`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]`+gc)
	// A bare-string image_url; a JPEG guess for an unknown extension.
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":"https://x.test/photo"}]}]}`,
		`{"contents":[{"role":"user","parts":[{"fileData":{"mimeType":"image/jpeg","fileUri":"https://x.test/photo"}}]}]`+gc)
}

func TestWriteChatRejects(t *testing.T) {
	f := func(body, wantMsg string) {
		t.Helper()
		_, err := writeChat(t, body)
		var br *peek.BadRequest
		if !errors.As(err, &br) || !strings.Contains(br.Msg, wantMsg) {
			t.Fatalf("WriteChat(%s) = %v, want a BadRequest containing %q", body, err, wantMsg)
		}
	}
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"top_k":1.5}`, "invalid request body")
	f(`{"model":"m","messages":[{"role":"tool","tool_call_id":"x","content":"r"}]}`, "answers no earlier assistant tool call")
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,raw"}}]}]}`, "base64")
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"video_url"}]}]}`, `"video_url" is not supported`)
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio"}]}]}`, "input_audio.data")
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"f"}}]}]}`, "file_data")
	f(`{"model":"m","messages":[{"role":"function","content":"x"}]}`, `role "function"`)
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"code_interpreter"}]}`, "tool type")
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"maybe"}`, "tool_choice")
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning":{"effort":"huge"}}`, "reasoning.effort")
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object","properties":{"self":{"$ref":"#"}}}}}}`, "recursive")
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object","properties":{"a":{"$ref":"https://x/s.json"}}}}}}`, "local $ref")
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object","properties":{"a":{"$ref":"#/$defs/Missing"}}}}}}`, "names no definition")
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object","properties":{"a":7}}}}}`, "JSON object")
}

func TestWriteChatURL(t *testing.T) {
	f := func(base, model string, stream bool, want string) {
		t.Helper()
		ep := geminiEndpoint()
		ep.UpstreamModel = model
		c := newCall(t, `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":`+fmt.Sprint(stream)+`}`, ep)
		c.Upstream = testUpstream(t, base)
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		if err := (Adapter{}).WriteChat(req, c); err != nil {
			t.Fatal(err)
		}
		if got := string(req.URI().FullURI()); got != want {
			t.Fatalf("URL %s, want %s", got, want)
		}
		if string(req.Header.Peek("x-goog-api-key")) != "AIza-test" || len(req.Header.Peek("authorization")) != 0 {
			t.Fatalf("key headers: %s", req.Header.String())
		}
	}
	f("https://generativelanguage.googleapis.com/v1beta", "gemini-2.5-flash", false,
		"https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent")
	f("https://generativelanguage.googleapis.com/v1beta/", "gemini-2.5-pro", true,
		"https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse")
	f("http://127.0.0.1:9/v1beta", "tunedModels/my-model-7", false,
		"http://127.0.0.1:9/v1beta/tunedModels/my-model-7:generateContent")
}

func TestThinkingConfig(t *testing.T) {
	i64 := func(n int64) *int64 { return &n }
	yes, no := true, false
	type out struct {
		set     bool
		budget  int64
		include bool
	}
	f := func(r *reasoning, top string, base int64, want out) {
		t.Helper()
		set, budget, include, err := thinkingConfig(r, top, base)
		if got := (out{set, budget, include}); err != nil || got != want {
			t.Fatalf("thinkingConfig(%+v, %q, %d) = %+v, %v; want %+v", r, top, base, got, err, want)
		}
	}
	f(nil, "", 8192, out{})
	f(&reasoning{}, "", 8192, out{})
	f(&reasoning{Effort: "high"}, "", 10000, out{true, 8000, true})
	f(&reasoning{Effort: "low", Exclude: true}, "", 10000, out{true, 2000, false})
	f(&reasoning{Effort: "high"}, "", 100000, out{true, 24576, true})
	f(&reasoning{Effort: "minimal"}, "", 2000, out{true, 512, true})
	f(&reasoning{Effort: "low"}, "", 4000, out{true, 800, true})
	f(&reasoning{Effort: "none"}, "", 8192, out{true, 0, false})
	f(nil, "medium", 8192, out{true, 4096, true})
	f(&reasoning{Enabled: &yes}, "", 8192, out{true, 4096, true})
	f(&reasoning{Enabled: &no, Effort: "high"}, "", 8192, out{true, 0, false})
	f(&reasoning{MaxTokens: i64(3000)}, "", 8192, out{true, 3000, true})
	f(&reasoning{MaxTokens: i64(0)}, "", 8192, out{true, 0, false})
}
