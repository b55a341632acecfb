package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/responses"

	"github.com/tollgate/tollgate/bench/mock"
	"github.com/tollgate/tollgate/routing"
)

// The official openai-go client's Responses API (responses.New and
// responses.NewStreaming), pointed at the gateway, works against all three
// upstream protocols: text, function tools with a function_call_output
// round trip, structured output, image input, streams with every event
// checked, max_output_tokens, the stateless 400s, auth errors and the
// generation record.

const responsesModels = `models:
  - id: acme/chat
    context_length: 8192
    modalities: {input: [text, image]}
    endpoints:
      - {provider: p1, upstream_model: up-chat, pricing: {prompt: 1, completion: 2}}
  - id: acme/claude
    context_length: 8192
    endpoints:
      - {provider: a1, upstream_model: claude, pricing: {prompt: 1, completion: 2}}
  - id: acme/gemini
    context_length: 8192
    endpoints:
      - {provider: g1, upstream_model: gemini, pricing: {prompt: 1, completion: 2}}
  - id: acme/broken
    context_length: 8192
    endpoints:
      - {provider: b1, upstream_model: up-chat, pricing: {prompt: 1, completion: 2}}
`

func newResponsesEnv(t *testing.T) (*env, openai.Client) {
	cfg := mock.Config{Tokens: 7, ToolCalls: 2, ReasoningTokens: 2, CachedTokens: 3}
	e := newEnv(t, []mockSpec{
		{name: "p1", cfg: cfg},
		{name: "a1", protocol: "anthropic", cfg: cfg},
		{name: "g1", protocol: "gemini", cfg: cfg},
		{name: "b1", cfg: mock.Config{Tokens: 20, InBandErrorAfter: 4}},
	}, responsesModels, "")
	client := openai.NewClient(option.WithBaseURL(e.api+"/api/v1"), option.WithAPIKey(testKey), option.WithMaxRetries(0))
	return e, client
}

var weatherTool = responses.ToolUnionParam{OfFunction: &responses.FunctionToolParam{
	Name:        "get_weather",
	Description: openai.String("Weather of a city"),
	Parameters:  map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
}}

func userText(s string) responses.ResponseInputItemUnionParam {
	return responses.ResponseInputItemParamOfMessage(s, responses.EasyInputMessageRoleUser)
}

func TestResponsesOpenAIGoSDK(t *testing.T) {
	e, client := newResponsesEnv(t)
	ctx := context.Background()

	// Plain text, with instructions; the id carries the generation id.
	var httpResp *http.Response
	resp, err := client.Responses.New(ctx, responses.ResponseNewParams{
		Model:        "acme/chat",
		Instructions: openai.String("be brief"),
		Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String("hello")},
	}, option.WithResponseInto(&httpResp))
	if err != nil {
		t.Fatal(err)
	}
	gen := httpResp.Header.Get("X-Generation-Id")
	if resp.ID != "resp_"+gen || resp.Object != "response" || resp.Status != responses.ResponseStatusCompleted ||
		resp.Model != "acme/chat" || resp.OutputText() == "" || resp.CompletedAt == 0 || resp.Error.Message != "" {
		t.Fatalf("response (gen %s): %s", gen, resp.RawJSON())
	}
	msg := resp.Output[0].AsMessage()
	if len(resp.Output) != 1 || msg.Type != "message" || msg.Role != "assistant" || msg.Status != "completed" ||
		!msg.Content[0].JSON.Annotations.Valid() || msg.Content[0].Type != "output_text" {
		t.Fatalf("output: %s", resp.RawJSON())
	}
	u := resp.Usage
	if u.OutputTokens != 9 || u.OutputTokensDetails.ReasoningTokens != 2 || u.InputTokensDetails.CachedTokens != 3 ||
		u.InputTokens <= 3 || u.TotalTokens != u.InputTokens+u.OutputTokens {
		t.Fatalf("usage: %s", u.RawJSON())
	}
	last := e.mocks["p1"].LastRequests()
	sent := string(last[len(last)-1].Body)
	if !strings.Contains(sent, `"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello"}]`) {
		t.Fatalf("upstream request: %s", sent)
	}

	// The generation is recorded with its usage and cost.
	d := dataObj(t, acctCall(t, "GET", e.api+"/api/v1/generation?id="+gen, testKey, ""), http.StatusOK)
	if count(t, d["tokens_completion"]) != 9 || count(t, d["tokens_prompt"]) != u.InputTokens ||
		nano(t, d["total_cost"]) <= 0 || d["finish_reason"] != "stop" || d["streamed"] != false {
		t.Fatalf("generation: %v", d)
	}
	if cost, _ := routing.ParseUSD(httpResp.Header.Get("X-Tollgate-Cost")); cost != nano(t, d["total_cost"]) {
		t.Fatalf("X-Tollgate-Cost %q, generation cost %v", httpResp.Header.Get("X-Tollgate-Cost"), d["total_cost"])
	}

	// Function tools and a function_call_output round trip, on every
	// upstream protocol.
	for _, model := range []string{"acme/chat", "acme/claude", "acme/gemini"} {
		input := responses.ResponseInputParam{userText("weather in Paris and Rome?")}
		resp, err := client.Responses.New(ctx, responses.ResponseNewParams{
			Model: model,
			Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input},
			Tools: []responses.ToolUnionParam{weatherTool},
		})
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		var calls []responses.ResponseFunctionToolCall
		for _, it := range resp.Output {
			if it.Type == "function_call" {
				calls = append(calls, it.AsFunctionCall())
			}
		}
		if len(calls) != 2 || resp.Status != "completed" {
			t.Fatalf("%s: tool calls: %s", model, resp.RawJSON())
		}
		for _, c := range calls {
			if c.CallID == "" || c.Name != "get_weather" || !json.Valid([]byte(c.Arguments)) || !strings.HasPrefix(c.ID, "fc_") {
				t.Fatalf("%s: call %s", model, c.RawJSON())
			}
			input = append(input, responses.ResponseInputItemParamOfFunctionCall(c.Arguments, c.CallID, c.Name))
		}
		for _, c := range calls {
			out := responses.ResponseInputItemParamOfFunctionCallOutput(`{"temp_c": 21}`)
			out.OfFunctionCallOutput.CallID = openai.String(c.CallID)
			input = append(input, out)
		}
		final, err := client.Responses.New(ctx, responses.ResponseNewParams{
			Model: model,
			Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input},
			Tools: []responses.ToolUnionParam{weatherTool},
		})
		if err != nil {
			t.Fatalf("%s round trip: %v", model, err)
		}
		if final.OutputText() == "" || final.Status != "completed" {
			t.Fatalf("%s round trip: %s", model, final.RawJSON())
		}
	}
	last = e.mocks["p1"].LastRequests()
	var chat struct {
		Messages []struct {
			Role       string `json:"role"`
			ToolCallID string `json:"tool_call_id"`
			ToolCalls  []struct {
				ID string `json:"id"`
			} `json:"tool_calls"`
		} `json:"messages"`
	}
	for _, r := range last {
		if strings.Contains(string(r.Body), `"tool_call_id"`) {
			if err := json.Unmarshal(r.Body, &chat); err != nil {
				t.Fatal(err)
			}
		}
	}
	if m := chat.Messages; len(m) != 4 || m[1].Role != "assistant" || len(m[1].ToolCalls) != 2 ||
		m[2].Role != "tool" || m[2].ToolCallID != m[1].ToolCalls[0].ID || m[3].ToolCallID != m[1].ToolCalls[1].ID {
		t.Fatalf("round trip sent upstream: %+v", chat)
	}

	// Structured output and an image input reach the upstream translated.
	_, err = client.Responses.New(ctx, responses.ResponseNewParams{
		Model: "acme/chat",
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			responses.ResponseInputItemParamOfMessage(responses.ResponseInputMessageContentListParam{
				{OfInputText: &responses.ResponseInputTextParam{Text: "what is this?"}},
				{OfInputImage: &responses.ResponseInputImageParam{ImageURL: openai.String("data:image/png;base64,iVBORw0KGgo="), Detail: responses.ResponseInputImageDetailLow}},
			}, responses.EasyInputMessageRoleUser),
		}},
		Text: responses.ResponseTextConfigParam{Format: responses.ResponseFormatTextConfigUnionParam{
			OfJSONSchema: &responses.ResponseFormatTextJSONSchemaConfigParam{
				Name:   "answer",
				Schema: map[string]any{"type": "object", "properties": map[string]any{"a": map[string]any{"type": "string"}}},
				Strict: openai.Bool(true),
			},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	last = e.mocks["p1"].LastRequests()
	sent = string(last[len(last)-1].Body)
	for _, want := range []string{
		`"response_format":{"type":"json_schema","json_schema":{"name":"answer","schema":{`,
		`{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}}`,
		`{"type":"text","text":"what is this?"}`,
	} {
		if !strings.Contains(sent, want) {
			t.Fatalf("upstream request lacks %s: %s", want, sent)
		}
	}

	// max_output_tokens cuts the answer: incomplete.
	resp, err = client.Responses.New(ctx, responses.ResponseNewParams{
		Model:           "acme/chat",
		Input:           responses.ResponseNewParamsInputUnion{OfString: openai.String("hello")},
		MaxOutputTokens: openai.Int(3),
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != "incomplete" || resp.IncompleteDetails.Reason != "max_output_tokens" || resp.Usage.OutputTokens != 3 {
		t.Fatalf("max_output_tokens: %s", resp.RawJSON())
	}

	// Stateless: store: true and previous_response_id are 400s; a bad key
	// is a 401; all in the OpenAI error shape the SDK decodes.
	for name, p := range map[string]responses.ResponseNewParams{
		"store":                {Model: "acme/chat", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}, Store: openai.Bool(true)},
		"previous_response_id": {Model: "acme/chat", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}, PreviousResponseID: openai.String(resp.ID)},
	} {
		_, err := client.Responses.New(ctx, p)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || !strings.Contains(apiErr.Message, name) || !strings.Contains(apiErr.Message, "store") {
			t.Fatalf("%s: %v", name, err)
		}
	}
	_, err = client.Responses.New(ctx, responses.ResponseNewParams{
		Model: "acme/chat", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}, Store: openai.Bool(false),
	})
	if err != nil {
		t.Fatalf("store: false: %v", err)
	}
	bad := openai.NewClient(option.WithBaseURL(e.api+"/v1"), option.WithAPIKey("sk-tg-nope"), option.WithMaxRetries(0))
	_, err = bad.Responses.New(ctx, responses.ResponseNewParams{Model: "acme/chat", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Message != "invalid API key" {
		t.Fatalf("bad key: %v", err)
	}
	r := e.post("/v1/responses", `{"model":"acme/chat","input":"hi","tools":[{"type":"web_search"}]}`)
	wantError(t, r, 400, "web_search")
	wantError(t, e.get(e.api, "/api/v1/responses/"+resp.ID, "Authorization", "Bearer "+testKey), 404, "not stored")
	wantError(t, e.get(e.api, "/v1/responses", "Authorization", "Bearer "+testKey), 405, "method")
}

// streamCheck consumes a Responses stream and checks the event grammar:
// sequence numbers count from 0, created and in_progress come first, every
// item is added before its deltas and done after them, text and argument
// deltas add up to their done events and to the final output, and exactly
// one terminal event ends the stream.
type streamCheck struct {
	t        *testing.T
	types    []string
	text     strings.Builder
	args     map[string]*strings.Builder // by item id
	doneArgs map[string]string
	added    map[string]bool
	done     map[string]bool
	final    responses.Response
	terminal string
}

func consume(t *testing.T, stream *ssestream.Stream[responses.ResponseStreamEventUnion]) *streamCheck {
	t.Helper()
	c := &streamCheck{t: t, args: map[string]*strings.Builder{}, doneArgs: map[string]string{}, added: map[string]bool{}, done: map[string]bool{}}
	for stream.Next() {
		ev := stream.Current()
		if ev.SequenceNumber != int64(len(c.types)) {
			t.Fatalf("event %d (%s) has sequence_number %d", len(c.types), ev.Type, ev.SequenceNumber)
		}
		if c.terminal != "" {
			t.Fatalf("%s after the terminal %s", ev.Type, c.terminal)
		}
		c.types = append(c.types, ev.Type)
		switch ev.Type {
		case "response.created", "response.in_progress":
			if len(c.types) > 2 || ev.Response.Status != "in_progress" || !strings.HasPrefix(ev.Response.ID, "resp_gen-") {
				t.Fatalf("%s at %d: %s", ev.Type, len(c.types)-1, ev.RawJSON())
			}
		case "response.output_item.added":
			if c.added[ev.Item.ID] {
				t.Fatalf("item %s added twice", ev.Item.ID)
			}
			c.added[ev.Item.ID] = true
			if ev.Item.Type == "function_call" {
				c.args[ev.Item.ID] = &strings.Builder{}
			}
		case "response.output_text.delta":
			c.checkOpen(ev.ItemID)
			if !ev.JSON.Logprobs.Valid() {
				t.Fatalf("delta without logprobs: %s", ev.RawJSON())
			}
			c.text.WriteString(ev.Delta)
		case "response.function_call_arguments.delta":
			c.checkOpen(ev.ItemID)
			c.args[ev.ItemID].WriteString(ev.Delta)
		case "response.function_call_arguments.done":
			c.checkOpen(ev.ItemID)
			c.doneArgs[ev.ItemID] = ev.Arguments
		case "response.content_part.added", "response.content_part.done", "response.output_text.done",
			"response.reasoning_summary_part.added", "response.reasoning_summary_text.delta":
			c.checkOpen(ev.ItemID)
		case "response.output_item.done":
			c.checkOpen(ev.Item.ID)
			c.done[ev.Item.ID] = true
		case "response.completed", "response.incomplete", "response.failed":
			c.terminal, c.final = ev.Type, ev.Response
		default:
			t.Fatalf("unexpected event %s", ev.RawJSON())
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v (events %v)", err, c.types)
	}
	if c.terminal == "" {
		t.Fatalf("no terminal event in %v", c.types)
	}
	for id := range c.added {
		if !c.done[id] {
			t.Fatalf("item %s never done", id)
		}
	}
	return c
}

func (c *streamCheck) checkOpen(id string) {
	c.t.Helper()
	if !c.added[id] || c.done[id] {
		c.t.Fatalf("event for item %s that is not open (events %v)", id, c.types)
	}
}

func TestResponsesOpenAIGoStream(t *testing.T) {
	e, client := newResponsesEnv(t)
	ctx := context.Background()

	// The streamed text is the text the mock generates (the same as a
	// non-stream answer's), with usage on response.completed.
	plain, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "acme/chat", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hello")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, model := range []string{"acme/chat", "acme/claude", "acme/gemini"} {
		var httpResp *http.Response
		c := consume(t, client.Responses.NewStreaming(ctx, responses.ResponseNewParams{
			Model: model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hello")},
		}, option.WithResponseInto(&httpResp)))
		want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"}
		if strings.Join(c.types[:4], " ") != strings.Join(want, " ") ||
			strings.Join(c.types[len(c.types)-4:], " ") != "response.output_text.done response.content_part.done response.output_item.done response.completed" {
			t.Fatalf("%s: events %v", model, c.types)
		}
		if c.text.String() != plain.OutputText() || c.final.OutputText() != plain.OutputText() || c.final.Status != "completed" {
			t.Fatalf("%s: streamed %q, final %q, want %q", model, c.text.String(), c.final.OutputText(), plain.OutputText())
		}
		if u := c.final.Usage; u.OutputTokens != 9 || u.InputTokens == 0 || u.TotalTokens != u.InputTokens+u.OutputTokens ||
			(model == "acme/chat" && u.OutputTokensDetails.ReasoningTokens != 2) {
			t.Fatalf("%s: usage %s", model, u.RawJSON())
		}
		gen := httpResp.Header.Get("X-Generation-Id")
		if c.final.ID != "resp_"+gen {
			t.Fatalf("%s: id %s, generation %s", model, c.final.ID, gen)
		}
		d := dataObj(t, acctCall(t, "GET", e.api+"/api/v1/generation?id="+gen, testKey, ""), http.StatusOK)
		if count(t, d["tokens_completion"]) != 9 || nano(t, d["total_cost"]) <= 0 || d["streamed"] != true {
			t.Fatalf("%s: generation %v", model, d)
		}

		// Tool calls: the argument deltas add up to what the mock sent.
		c = consume(t, client.Responses.NewStreaming(ctx, responses.ResponseNewParams{
			Model: model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("weather?")},
			Tools: []responses.ToolUnionParam{weatherTool},
		}))
		calls := 0
		for _, it := range c.final.Output {
			if it.Type != "function_call" {
				continue
			}
			fc := it.AsFunctionCall()
			want := `{"query":"mock tool call","index":` + string(rune('0'+calls)) + `}`
			if calls++; c.args[fc.ID].String() != fc.Arguments || c.doneArgs[fc.ID] != fc.Arguments ||
				!jsonEqual(fc.Arguments, want) || fc.Name != "get_weather" || fc.CallID == "" || fc.Status != "completed" {
				t.Fatalf("%s: call %s: deltas %q, done %q", model, fc.RawJSON(), c.args[fc.ID].String(), c.doneArgs[fc.ID])
			}
		}
		if calls != 2 || c.terminal != "response.completed" {
			t.Fatalf("%s: %d calls, events %v", model, calls, c.types)
		}
	}

	// max_output_tokens: response.incomplete.
	c := consume(t, client.Responses.NewStreaming(ctx, responses.ResponseNewParams{
		Model: "acme/chat", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hello")}, MaxOutputTokens: openai.Int(3),
	}))
	if c.terminal != "response.incomplete" || c.final.IncompleteDetails.Reason != "max_output_tokens" || c.final.Usage.OutputTokens != 3 {
		t.Fatalf("incomplete: %v %s", c.types, c.final.RawJSON())
	}

	// A provider failing mid-stream: an error event, which the SDK reports
	// as the stream's error.
	stream := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: "acme/broken", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hello")}})
	n := 0
	for stream.Next() {
		n++
	}
	var se *ssestream.StreamError
	if err := stream.Err(); !errors.As(err, &se) || n < 3 {
		t.Fatalf("mid-stream failure after %d events: %v", n, err)
	}

	// The raw wire: event: lines naming the data's type, comments, no [DONE].
	r := e.post("/api/v1/responses", `{"model":"acme/broken","input":"hello","stream":true}`)
	frames := strings.Split(strings.TrimSpace(string(r.body)), "\n\n")
	lastTwo := frames[len(frames)-2:]
	if r.status != 200 || r.header.Get("Content-Type") != "text/event-stream" || frames[0] != ": PROCESSING" ||
		!strings.HasPrefix(lastTwo[0], "event: error\ndata: {\"type\":\"error\",\"code\":\"server_error\"") ||
		!strings.HasPrefix(lastTwo[1], "event: response.failed\ndata: {\"type\":\"response.failed\"") ||
		strings.Contains(string(r.body), "[DONE]") {
		t.Fatalf("wire: %d %v\n%s", r.status, r.header, r.body)
	}
	for _, f := range frames[1:] {
		name, data, ok := strings.Cut(f, "\n")
		var ev struct {
			Type string `json:"type"`
		}
		if !ok || json.Unmarshal([]byte(strings.TrimPrefix(data, "data: ")), &ev) != nil || name != "event: "+ev.Type {
			t.Fatalf("frame %q", f)
		}
	}
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}
