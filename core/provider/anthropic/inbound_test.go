package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	oai "github.com/openai/openai-go/v3"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/sse"
	"github.com/tollgate/tollgate/routing"
)

// Transcripts of the inbound edge live in testdata/inbound_*: Anthropic
// requests (inbound_request_*.json → .golden, the OpenAI body), gateway
// responses (inbound_response_*.json → .golden, the Anthropic message)
// and gateway streams exactly as core/api writes them
// (inbound_stream_*.sse → .golden, the Anthropic events).

var (
	inboundRequests  = []string{"plain", "system_blocks", "images", "tools_history", "thinking"}
	inboundResponses = []string{"text", "tool_use", "thinking", "length"}
	inboundStreams   = []string{"text", "reasoning", "tools", "error"}
)

func indentJSON(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// checkOpenAIParams decodes body with openai-go's request type and encodes
// it again: a member the SDK does not know or a value of the wrong shape
// would not survive. The extensions this gateway reads (top_k, reasoning,
// cache_control) and stream (set by the method called) are set aside, as
// is content null, which the SDK leaves out.
func checkOpenAIParams(t *testing.T, body []byte) {
	t.Helper()
	var p oai.ChatCompletionNewParams
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("openai-go cannot decode the request: %v\n%s", err, body)
	}
	again, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var want, got map[string]any
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(again, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"stream", "top_k", "reasoning"} {
		delete(want, k)
		delete(got, k)
	}
	var strip func(v any)
	strip = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			delete(v, "cache_control")
			if c, ok := v["content"]; ok && c == nil {
				delete(v, "content")
			}
			for _, x := range v {
				strip(x)
			}
		case []any:
			for _, x := range v {
				strip(x)
			}
		}
	}
	strip(want["messages"])
	strip(want["tools"])
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("openai-go does not round-trip the request:\nsent %s\nsdk  %s", body, again)
	}
}

func TestInboundRequestGolden(t *testing.T) {
	for _, name := range inboundRequests {
		t.Run(name, func(t *testing.T) {
			out, err := InboundRequest([]byte("keep"), readTestdata(t, "inbound_request_"+name+".json"))
			if err != nil {
				t.Fatalf("InboundRequest: %v", err)
			}
			if !bytes.HasPrefix(out, []byte("keep")) {
				t.Fatalf("InboundRequest overwrote dst")
			}
			out = out[len("keep"):]
			// What core/api does next with the body.
			var chat peek.Chat
			if err := peek.ParseChat(out, &chat); err != nil {
				t.Fatalf("the gateway rejects the converted body: %v\n%s", err, out)
			}
			checkOpenAIParams(t, out)
			checkGolden(t, "inbound_request_"+name+".golden", indentJSON(t, out))

			// A Claude model serves it: the outbound adapter must make a
			// Messages request of it that the Anthropic SDK accepts.
			c := newCall(t, string(out), claudeEndpoint())
			up, err := buildBody(nil, c)
			if err != nil {
				t.Fatalf("the outbound adapter rejects the converted body: %v", err)
			}
			checkSDKRoundTrip(t, up)
		})
	}
}

func TestInboundRequestCases(t *testing.T) {
	f := func(body, want string) {
		t.Helper()
		out, err := InboundRequest(nil, []byte(body))
		if err != nil {
			t.Fatalf("InboundRequest(%s): %v", body, err)
		}
		if string(out) != want {
			t.Fatalf("InboundRequest(%s)\n got %s\nwant %s", body, out, want)
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %s", out)
		}
	}
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	const tools = `"tools":[{"name":"f","input_schema":{"type":"object"}}]`
	const oTools = `"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]`

	// The minimum; explicit zeros and false survive byte for byte.
	f(`{"model":"m",`+msgs+`,"max_tokens":5}`, `{"model":"m",`+msgs+`,"max_tokens":5}`)
	f(`{"model":"m",`+msgs+`,"temperature":0,"top_p":0.0,"top_k":0,"stream":false}`,
		`{"model":"m",`+msgs+`,"temperature":0,"top_p":0.0,"top_k":0,"stream":false}`)
	// Unknown and ignored members; null is absent.
	f(`{"model":"m",`+msgs+`,"service_tier":"auto","container":null,"temperature":null,"cache_control":{"type":"ephemeral"}}`,
		`{"model":"m",`+msgs+`}`)
	// System as a string; an empty one is no message.
	f(`{"model":"m","system":"be brief",`+msgs+`}`,
		`{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}`)
	f(`{"model":"m","system":"",`+msgs+`}`, `{"model":"m",`+msgs+`}`)
	f(`{"model":"m","system":[{"type":"text","text":"one block"}],`+msgs+`}`,
		`{"model":"m","messages":[{"role":"system","content":"one block"},{"role":"user","content":"hi"}]}`)

	// tool_choice variants.
	f(`{"model":"m",`+msgs+`,`+tools+`,"tool_choice":{"type":"auto"}}`, `{"model":"m",`+msgs+`,`+oTools+`,"tool_choice":"auto"}`)
	f(`{"model":"m",`+msgs+`,`+tools+`,"tool_choice":{"type":"any"}}`, `{"model":"m",`+msgs+`,`+oTools+`,"tool_choice":"required"}`)
	f(`{"model":"m",`+msgs+`,`+tools+`,"tool_choice":{"type":"any","disable_parallel_tool_use":true}}`,
		`{"model":"m",`+msgs+`,`+oTools+`,"tool_choice":"required","parallel_tool_calls":false}`)
	f(`{"model":"m",`+msgs+`,`+tools+`,"tool_choice":{"type":"tool","name":"f","disable_parallel_tool_use":false}}`,
		`{"model":"m",`+msgs+`,`+oTools+`,"tool_choice":{"type":"function","function":{"name":"f"}}}`)
	f(`{"model":"m",`+msgs+`,`+tools+`,"tool_choice":{"type":"none","disable_parallel_tool_use":true}}`,
		`{"model":"m",`+msgs+`,`+oTools+`,"tool_choice":"none"}`)
	// Without tools OpenAI rejects a tool_choice: it is left out.
	f(`{"model":"m",`+msgs+`,"tool_choice":{"type":"any"}}`, `{"model":"m",`+msgs+`}`)
	f(`{"model":"m",`+msgs+`,"tools":[{"type":"custom","name":"g","description":"d","strict":true}]}`,
		`{"model":"m",`+msgs+`,"tools":[{"type":"function","function":{"name":"g","description":"d","parameters":{"type":"object","properties":{}},"strict":true}}]}`)

	// thinking and output_config.
	f(`{"model":"m",`+msgs+`,"thinking":{"type":"enabled","budget_tokens":2048}}`, `{"model":"m",`+msgs+`,"reasoning":{"max_tokens":2048}}`)
	f(`{"model":"m",`+msgs+`,"thinking":{"type":"disabled"}}`, `{"model":"m",`+msgs+`,"reasoning":{"enabled":false}}`)
	f(`{"model":"m",`+msgs+`,"thinking":{"type":"adaptive"}}`, `{"model":"m",`+msgs+`,"reasoning":{"enabled":true}}`)
	f(`{"model":"m",`+msgs+`,"thinking":{"type":"adaptive"},"output_config":{"effort":"high"}}`, `{"model":"m",`+msgs+`,"reasoning":{"effort":"high"}}`)
	f(`{"model":"m",`+msgs+`,"output_config":{"effort":"max"}}`, `{"model":"m",`+msgs+`,"reasoning":{"effort":"xhigh"}}`)
	f(`{"model":"m",`+msgs+`,"output_config":{"format":{"type":"json_schema","schema":{"type":"object"}}}}`,
		`{"model":"m",`+msgs+`,"response_format":{"type":"json_schema","json_schema":{"name":"output","strict":true,"schema":{"type":"object"}}}}`)

	// metadata.user_id → user; stop_sequences → stop (an empty list is none).
	f(`{"model":"m",`+msgs+`,"metadata":{"user_id":"u1"},"stop_sequences":[]}`, `{"model":"m",`+msgs+`,"user":"u1"}`)
	f(`{"model":"m",`+msgs+`,"metadata":{},"stop_sequences":["a\n"]}`, `{"model":"m",`+msgs+`,"stop":["a\n"]}`)

	// Assistant turns: only thinking is an empty turn; tool_use without
	// text has content null; input null is {}.
	f(`{"model":"m","messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"x","signature":"s"}]}]}`,
		`{"model":"m","messages":[{"role":"assistant","content":""}]}`)
	f(`{"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":null}]}]}`,
		`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{}"}}]}]}`)
	// Tool results: is_error, cache_control on a string result, an empty
	// user turn.
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","is_error":true}]}]}`,
		`{"model":"m","messages":[{"role":"tool","tool_call_id":"t1","content":"Error"}]}`)
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"boom","is_error":true}]}]}`,
		`{"model":"m","messages":[{"role":"tool","tool_call_id":"t1","content":"Error: boom"}]}`)
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"ok","cache_control":{"type":"ephemeral"}}]}]}`,
		`{"model":"m","messages":[{"role":"tool","tool_call_id":"t1","content":[{"type":"text","text":"ok","cache_control":{"type":"ephemeral"}}]}]}`)
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}]}`,
		`{"model":"m","messages":[{"role":"tool","tool_call_id":"t1","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}`)
	f(`{"model":"m","messages":[{"role":"user","content":[]}]}`, `{"model":"m","messages":[{"role":"user","content":""}]}`)
	// Escapes in keys and values are understood.
	f(`{"mod\u0065l":"m\u00e9","messages":[{"role":"user","content":"\ud83d\ude00"}]}`,
		`{"model":"m\u00e9","messages":[{"role":"user","content":"\ud83d\ude00"}]}`)
}

func TestInboundRequestRejects(t *testing.T) {
	f := func(body, want string) {
		t.Helper()
		out, err := InboundRequest([]byte("keep"), []byte(body))
		var br *peek.BadRequest
		if !errors.As(err, &br) {
			t.Fatalf("InboundRequest(%s) = %s, %v; want a BadRequest", body, out, err)
		}
		if string(out) != "keep" {
			t.Fatalf("a failed InboundRequest changed dst: %q", out)
		}
		if !strings.Contains(br.Msg, want) {
			t.Fatalf("InboundRequest(%s): message %q does not contain %q", body, br.Msg, want)
		}
	}
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	f(``, "invalid JSON")
	f(`{"model":"m",`, "invalid JSON")
	f(`[1]`, "must be a JSON object")
	f(`{"model":"m","model":"n",`+msgs+`}`, `duplicate key "model"`)
	f(`{`+msgs+`}`, "model: field required")
	f(`{"model":"",`+msgs+`}`, "model: field required")
	f(`{"model":7,`+msgs+`}`, "model: must be a string")
	f(`{"model":"m"}`, "messages: field required")
	f(`{"model":"m","messages":[]}`, "at least one message")
	f(`{"model":"m","messages":{}}`, "messages: must be an array")
	f(`{"model":"m",`+msgs+`,"max_tokens":1.5}`, "max_tokens: must be an integer")
	f(`{"model":"m",`+msgs+`,"stream":"yes"}`, "stream: must be a boolean")
	f(`{"model":"m",`+msgs+`,"temperature":"hot"}`, "temperature: must be a number")
	f(`{"model":"m",`+msgs+`,"top_k":2.5}`, "top_k: must be an integer")
	f(`{"model":"m",`+msgs+`,"stop_sequences":"END"}`, "stop_sequences: must be an array")
	f(`{"model":"m",`+msgs+`,"stop_sequences":[1]}`, "stop_sequences: must be an array of strings")
	f(`{"model":"m","messages":[1]}`, "messages.0: must be an object")
	f(`{"model":"m","messages":[{"role":"system","content":"x"}]}`, `messages.0.role: must be "user" or "assistant"`)
	f(`{"model":"m","messages":[{"role":"user"}]}`, "messages.0.content: field required")
	f(`{"model":"m","messages":[{"role":"user","content":5}]}`, "messages.0.content: must be a string or an array")
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":5}]}]}`, "messages.0.content: must be a string or an array of content blocks")
	f(`{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":[{"type":"search_result"}]}]}`, `messages.1.content.0.type: content block type "search_result"`)
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`, "messages.0.content.0.source.type: must be base64 or url")
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"image"}]}]}`, "messages.0.content.0.source: field required")
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","data":"x"}}]}]}`, "media_type and data are required")
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"document","source":{"type":"content"}}]}]}`, "must be base64, url or text")
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}`, "messages.0.content.0.tool_use_id: field required")
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"tool_use"}]}]}]}`, "is not supported in a tool result")
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":7}]}]}`, "content: must be a string or an array")
	f(`{"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","name":"f","input":{}}]}]}`, "messages.0.content.0.id: field required")
	f(`{"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","input":{}}]}]}`, "messages.0.content.0.name: field required")
	f(`{"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":[1]}]}]}`, "input: must be an object")
	f(`{"model":"m","messages":[{"role":"assistant","content":[{"type":"image","source":{"type":"url","url":"u"}}]}]}`, "not supported in an assistant message")
	f(`{"model":"m","system":[{"type":"image"}],`+msgs+`}`, "system.0.type: system blocks must be text")
	f(`{"model":"m","system":5,`+msgs+`}`, "system: must be a string or an array")
	f(`{"model":"m",`+msgs+`,"tools":[{"type":"web_search_20250305","name":"web_search"}]}`, "tools.0.type")
	f(`{"model":"m",`+msgs+`,"tools":[{"input_schema":{}}]}`, "tools.0.name: field required")
	f(`{"model":"m",`+msgs+`,"tools":[{"name":"f","input_schema":"x"}]}`, "tools.0.input_schema: must be an object")
	f(`{"model":"m",`+msgs+`,"tools":[{"name":"f"}],"tool_choice":{"type":"sometimes"}}`, "tool_choice.type")
	f(`{"model":"m",`+msgs+`,"tools":[{"name":"f"}],"tool_choice":{"type":"tool"}}`, "tool_choice.name: field required")
	f(`{"model":"m",`+msgs+`,"tool_choice":"auto"}`, "tool_choice: must be an object")
	f(`{"model":"m",`+msgs+`,"thinking":{"type":"on"}}`, "thinking.type")
	f(`{"model":"m",`+msgs+`,"output_config":{"effort":"extreme"}}`, "output_config.effort")
	f(`{"model":"m",`+msgs+`,"output_config":{"format":{"type":"json_schema"}}}`, "output_config.format")
	f(`{"model":"m",`+msgs+`,"metadata":{"user_id":5}}`, "metadata.user_id: must be a string")
}

// TestInboundRequestSDK: a request built with the Anthropic SDK's own
// param types becomes a body that openai-go's request type accepts.
func TestInboundRequestSDK(t *testing.T) {
	schema := sdk.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}}
	tool := sdk.ToolUnionParamOfTool(schema, "get_weather")
	tool.OfTool.Description = sdk.String("Current weather for a city.")
	tool.OfTool.CacheControl = sdk.NewCacheControlEphemeralParam()
	tool.OfTool.Strict = sdk.Bool(true)
	p := sdk.MessageNewParams{
		Model:         "openai/gpt-4.1",
		MaxTokens:     1024,
		Temperature:   sdk.Float(0),
		TopK:          sdk.Int(5),
		StopSequences: []string{"END"},
		System: []sdk.TextBlockParam{
			{Text: "You are terse."},
			{Text: "Cached rules.", CacheControl: sdk.NewCacheControlEphemeralParam()},
		},
		Metadata:   sdk.MetadataParam{UserID: sdk.String("user-7")},
		Thinking:   sdk.ThinkingConfigParamOfEnabled(2048),
		ToolChoice: sdk.ToolChoiceUnionParam{OfAny: &sdk.ToolChoiceAnyParam{DisableParallelToolUse: sdk.Bool(true)}},
		Tools:      []sdk.ToolUnionParam{tool},
		Messages: []sdk.MessageParam{
			sdk.NewUserMessage(sdk.NewTextBlock("Weather in Paris?"), sdk.NewImageBlockBase64("image/png", "iVBORw0KGgo=")),
			sdk.NewAssistantMessage(sdk.NewTextBlock("Checking."), sdk.NewToolUseBlock("toolu_1", map[string]any{"city": "Paris"}, "get_weather")),
			sdk.NewUserMessage(sdk.NewToolResultBlock("toolu_1", "21 C, sunny", false), sdk.NewTextBlock("And tomorrow?")),
		},
	}
	body, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := InboundRequest(nil, body)
	if err != nil {
		t.Fatalf("InboundRequest(%s): %v", body, err)
	}
	checkOpenAIParams(t, out)
	var got struct {
		Messages []struct {
			Role       string          `json:"role"`
			Content    json.RawMessage `json:"content"`
			ToolCallID string          `json:"tool_call_id"`
			ToolCalls  []struct {
				ID       string `json:"id"`
				Function struct {
					Name, Arguments string
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"messages"`
		Temperature       *float64        `json:"temperature"`
		TopK              *int            `json:"top_k"`
		ToolChoice        string          `json:"tool_choice"`
		ParallelToolCalls *bool           `json:"parallel_tool_calls"`
		Reasoning         json.RawMessage `json:"reasoning"`
		User              string          `json:"user"`
		Stop              []string        `json:"stop"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	roles := ""
	for _, m := range got.Messages {
		roles += m.Role + " "
	}
	if roles != "system user assistant tool user " {
		t.Fatalf("roles %q in %s", roles, out)
	}
	tc := got.Messages[2].ToolCalls
	if len(tc) != 1 || tc[0].ID != "toolu_1" || tc[0].Function.Name != "get_weather" || tc[0].Function.Arguments != `{"city":"Paris"}` || got.Messages[3].ToolCallID != "toolu_1" {
		t.Fatalf("tool call history lost: %s", out)
	}
	if got.Temperature == nil || *got.Temperature != 0 || got.TopK == nil || *got.TopK != 5 || got.ToolChoice != "required" ||
		got.ParallelToolCalls == nil || *got.ParallelToolCalls || string(got.Reasoning) != `{"max_tokens":2048}` || got.User != "user-7" || len(got.Stop) != 1 {
		t.Fatalf("parameters lost: %s", out)
	}
	if !bytes.Contains(out, []byte(`{"type":"text","text":"Cached rules.","cache_control":{"type":"ephemeral"}}`)) ||
		!bytes.Contains(out, []byte(`"strict":true},"cache_control":{"type":"ephemeral"}}]`)) {
		t.Fatalf("cache_control lost: %s", out)
	}
}

func TestInboundResponseGolden(t *testing.T) {
	f := func(name, wantStop string, wantBlocks string, wantUsage [4]int64) {
		t.Helper()
		out, err := InboundResponse([]byte("keep"), readTestdata(t, "inbound_response_"+name+".json"))
		if err != nil {
			t.Fatalf("InboundResponse(%s): %v", name, err)
		}
		if !bytes.HasPrefix(out, []byte("keep")) {
			t.Fatalf("InboundResponse overwrote dst")
		}
		out = out[len("keep"):]
		checkGolden(t, "inbound_response_"+name+".golden", indentJSON(t, out))
		var m sdk.Message
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("the Anthropic SDK cannot decode %s: %v", out, err)
		}
		if m.ID != testGenID || m.Type != "message" || m.Role != "assistant" || string(m.StopReason) != wantStop || m.StopSequence != "" {
			t.Fatalf("%s: message %s", name, out)
		}
		if got := describeBlocks(m.Content); got != wantBlocks {
			t.Fatalf("%s: content %s, want %s", name, got, wantBlocks)
		}
		u := m.Usage
		if got := [4]int64{u.InputTokens, u.OutputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens}; got != wantUsage {
			t.Fatalf("%s: usage %v, want %v", name, got, wantUsage)
		}
	}
	f("text", "end_turn", `text("Hello! \"4\" is the answer.\nAnything else?")`, [4]int64{201, 12, 1024, 0})
	f("tool_use", "tool_use", `tool_use(call_8dZ2kq1VbXo0TQeM4hRj6wLc get_weather {"city":"Paris"}) tool_use(call_Q1w2E3r4T5y6U7i8O9p0 get_weather {"city":"Tōkyō"}) tool_use(call_broken read_file {})`, [4]int64{472, 61, 0, 0})
	f("thinking", "end_turn", `thinking("27 × 453 = 27 × 400 + 27 × 53 = 10800 + 1431.") text("27 × 453 = 12231.")`, [4]int64{420, 118, 2048, 1024})
	f("length", "max_tokens", `thinking("A long essay is wanted.") text("The history of the Roman Empire begins")`, [4]int64{30, 64, 0, 0})
}

// describeBlocks is a compact, comparable form of a message's content.
func describeBlocks(blocks []sdk.ContentBlockUnion) string {
	var b strings.Builder
	for i, c := range blocks {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch c.Type {
		case "text":
			b.WriteString("text(" + strconv.Quote(c.Text) + ")")
		case "thinking":
			b.WriteString("thinking(" + strconv.Quote(c.Thinking) + ")")
		case "tool_use":
			var in any
			_ = json.Unmarshal(c.Input, &in)
			compact, _ := json.Marshal(in)
			b.WriteString("tool_use(" + c.ID + " " + c.Name + " " + string(compact) + ")")
		default:
			b.WriteString(c.Type)
		}
	}
	return b.String()
}

func TestInboundResponseCases(t *testing.T) {
	f := func(body, want string) {
		t.Helper()
		out, err := InboundResponse(nil, []byte(body))
		if err != nil {
			t.Fatalf("InboundResponse(%s): %v", body, err)
		}
		if string(out) != want {
			t.Fatalf("InboundResponse(%s)\n got %s\nwant %s", body, out, want)
		}
	}
	const head = `{"id":"gen-1","model":"m","choices":[{"index":0,"message":`
	const wantHead = `{"id":"gen-1","type":"message","role":"assistant","model":"m","content":`
	const zero = `"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}`
	// Nothing generated.
	f(head+`{"role":"assistant","content":""},"finish_reason":"stop"}]}`, wantHead+`[],"stop_reason":"end_turn",`+zero)
	// A refusal; content parts; reasoning_content (DeepSeek's name).
	f(head+`{"role":"assistant","content":null,"refusal":"I can't."},"finish_reason":"content_filter","native_finish_reason":"content_filter"}]}`,
		wantHead+`[{"type":"text","text":"I can't."}],"stop_reason":"refusal",`+zero)
	f(head+`{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"reasoning_content":"r"},"finish_reason":"stop"}]}`,
		wantHead+`[{"type":"thinking","thinking":"r","signature":""},{"type":"text","text":"ab"}],"stop_reason":"end_turn",`+zero)
	// Anthropic's own stop reasons pass through; a tool call without an id
	// gets one; "stop" with tool calls is tool_use.
	f(head+`{"role":"assistant","content":"x"},"finish_reason":"stop","native_finish_reason":"stop_sequence"}]}`,
		wantHead+`[{"type":"text","text":"x"}],"stop_reason":"stop_sequence",`+zero)
	f(head+`{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"[1]"}}]},"finish_reason":"stop"}]}`,
		wantHead+`[{"type":"tool_use","id":"call_gen-1_0","name":"f","input":{}}],"stop_reason":"tool_use",`+zero)
	// Cache reads and writes are not input_tokens; counts never go negative.
	f(head+`{"content":"x"},"finish_reason":"error"}],"usage":{"prompt_tokens":10,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":8},"cache_write_tokens":5}}`,
		wantHead+`[{"type":"text","text":"x"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":3,"cache_creation_input_tokens":5,"cache_read_input_tokens":8}}`)

	if _, err := InboundResponse(nil, []byte(`{"choices":`)); err == nil {
		t.Fatalf("InboundResponse accepted broken JSON")
	}
}

func TestStopReason(t *testing.T) {
	f := func(finish, native string, toolUse bool, want string) {
		t.Helper()
		if got := stopReason(finish, native, toolUse); got != want {
			t.Fatalf("stopReason(%q, %q, %v) = %q, want %q", finish, native, toolUse, got, want)
		}
	}
	f("stop", "stop", false, "end_turn")
	f("stop", "end_turn", false, "end_turn")
	f("stop", "stop_sequence", false, "stop_sequence")
	f("stop", "STOP", false, "end_turn") // Gemini
	f("length", "length", false, "max_tokens")
	f("length", "MAX_TOKENS", false, "max_tokens")
	f("length", "model_context_window_exceeded", false, "model_context_window_exceeded")
	f("tool_calls", "tool_calls", true, "tool_use")
	f("tool_calls", "tool_calls", false, "end_turn")
	f("stop", "stop", true, "tool_use")
	f("content_filter", "content_filter", false, "refusal")
	f("content_filter", "refusal", false, "refusal")
	f("stop", "pause_turn", false, "pause_turn")
	f("error", "error", false, "end_turn")
	f("", "", false, "end_turn")
}

func TestInboundError(t *testing.T) {
	f := func(status int, want string) {
		t.Helper()
		out := InboundError([]byte("keep"), status, "what \"happened\"")
		if !bytes.HasPrefix(out, []byte("keep")) {
			t.Fatalf("InboundError overwrote dst")
		}
		out = out[len("keep"):]
		var e sdk.ErrorResponse
		if err := json.Unmarshal(out, &e); err != nil {
			t.Fatalf("the Anthropic SDK cannot decode %s: %v", out, err)
		}
		if e.Type != "error" || e.Error.Type != want || e.Error.Message != `what "happened"` {
			t.Fatalf("InboundError(%d) = %s, want type %s", status, out, want)
		}
	}
	f(400, "invalid_request_error")
	f(401, "authentication_error")
	f(402, "billing_error")
	f(403, "permission_error")
	f(404, "not_found_error")
	f(408, "timeout_error")
	f(409, "invalid_request_error")
	f(413, "request_too_large")
	f(422, "invalid_request_error")
	f(429, "rate_limit_error")
	f(500, "api_error")
	f(502, "api_error")
	f(503, "overloaded_error")
	f(504, "timeout_error")
	f(529, "overloaded_error")
	f(200, "api_error")
}

// convertStream runs an OpenAI SSE stream, as core/api writes it, through
// an InboundStream frame by frame.
func convertStream(t testing.TB, wire []byte) []byte {
	t.Helper()
	s := NewInboundStream()
	sc := sse.NewScanner(bytes.NewReader(wire), 0)
	out := []byte{}
	for sc.Next() {
		var err error
		if out, err = s.Frame(out, sc.Event().Data); err != nil {
			t.Fatalf("Frame(%s): %v", sc.Event().Data, err)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkAnthropicStream checks what Anthropic SDKs rely on and feeds every
// event to the Go SDK's accumulator: each event has an event: line naming
// its data's type; message_start comes first; content_block_start indexes
// count the blocks; deltas and stops name a started block and stops come
// once; a block's deltas match its type; message_delta and message_stop
// end it, or one error event does. It returns the accumulated message and
// the error event's envelope, if any.
func checkAnthropicStream(t *testing.T, out []byte) (sdk.Message, *sdk.ErrorResponse) {
	t.Helper()
	var (
		msg     sdk.Message
		errResp *sdk.ErrorResponse
		kinds   []string // type of each started block
		stopped []bool
		names   []string
	)
	sc := sse.NewScanner(bytes.NewReader(out), 0)
	for sc.Next() {
		ev := sc.Event()
		name := string(ev.Name)
		if len(names) > 0 && (names[len(names)-1] == "message_stop" || names[len(names)-1] == "error") {
			t.Fatalf("event %s after %s", name, names[len(names)-1])
		}
		names = append(names, name)
		var e sdk.MessageStreamEventUnion
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			t.Fatalf("the SDK cannot decode %s: %v", ev.Data, err)
		}
		if name == "" || name != e.Type {
			t.Fatalf("event name %q, data type %q: %s", name, e.Type, ev.Data)
		}
		if name == "error" {
			errResp = &sdk.ErrorResponse{}
			if err := json.Unmarshal(ev.Data, errResp); err != nil {
				t.Fatalf("the SDK cannot decode the error event %s: %v", ev.Data, err)
			}
			continue
		}
		if len(names) == 1 && name != "message_start" {
			t.Fatalf("the first event is %s", name)
		}
		switch name {
		case "content_block_start":
			if int(e.Index) != len(kinds) {
				t.Fatalf("content_block_start index %d after %d blocks", e.Index, len(kinds))
			}
			kinds = append(kinds, e.ContentBlock.Type)
			stopped = append(stopped, false)
		case "content_block_delta", "content_block_stop":
			if int(e.Index) >= len(kinds) || stopped[e.Index] {
				t.Fatalf("%s for block %d (started %d, stopped %v)", name, e.Index, len(kinds), stopped)
			}
			if name == "content_block_stop" {
				stopped[e.Index] = true
				break
			}
			want := map[string]string{"text_delta": "text", "thinking_delta": "thinking", "signature_delta": "thinking", "input_json_delta": "tool_use"}[e.Delta.Type]
			if want != kinds[e.Index] {
				t.Fatalf("%s in a %s block", e.Delta.Type, kinds[e.Index])
			}
		case "message_delta":
			for i, s := range stopped {
				if !s {
					t.Fatalf("message_delta while block %d is open", i)
				}
			}
		case "message_stop":
			if names[len(names)-2] != "message_delta" {
				t.Fatalf("message_stop after %s", names[len(names)-2])
			}
		}
		if err := msg.Accumulate(e); err != nil {
			t.Fatalf("the SDK accumulator rejects %s: %v", ev.Data, err)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if last := names[len(names)-1]; last != "message_stop" && last != "error" {
		t.Fatalf("the stream ends with %s", last)
	}
	return msg, errResp
}

func TestInboundStreamGolden(t *testing.T) {
	f := func(name, model, wantBlocks, wantStop string, wantUsage [4]int64, wantErr string) {
		t.Helper()
		wire := readTestdata(t, "inbound_stream_"+name+".sse")
		// The fixture is what core/api sends an OpenAI client.
		c := &provider.Call{GenID: testGenID, Created: testCreated, Endpoint: &routing.Endpoint{Model: model},
			Upstream: &provider.Upstream{Name: strings.Split(model, "/")[0]}}
		checkStreamShape(t, c, wire, wantErr != "")

		out := convertStream(t, wire)
		checkGolden(t, "inbound_stream_"+name+".golden", out)
		msg, errResp := checkAnthropicStream(t, out)
		if msg.ID != testGenID || msg.Model != model {
			t.Fatalf("%s: message id %q model %q", name, msg.ID, msg.Model)
		}
		if got := describeBlocks(msg.Content); got != wantBlocks {
			t.Fatalf("%s: content %s, want %s", name, got, wantBlocks)
		}
		if wantErr != "" {
			if errResp == nil || string(errResp.Error.Type) != wantErr {
				t.Fatalf("%s: error event %+v, want %s", name, errResp, wantErr)
			}
			return
		}
		u := msg.Usage
		if errResp != nil || string(msg.StopReason) != wantStop || msg.StopSequence != "" {
			t.Fatalf("%s: stop %q, error %+v", name, msg.StopReason, errResp)
		}
		if got := [4]int64{u.InputTokens, u.OutputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens}; got != wantUsage {
			t.Fatalf("%s: usage %v, want %v", name, got, wantUsage)
		}
	}
	f("text", "openai/gpt-4o-mini", `text("Hello there! \"Quoted\", é — ünïcode.\nBye.")`, "end_turn", [4]int64{201, 9, 1024, 0}, "")
	f("reasoning", "deepseek/deepseek-r1", `thinking("Thinking about 27 × 453.") text("27 × 453 = 12231.")`, "end_turn", [4]int64{420, 40, 2048, 1024}, "")
	f("tools", "openai/gpt-4.1", `text("Checking both.") tool_use(call_8dZ2kq1VbXo0TQeM4hRj6wLc get_weather {"city":"Paris"}) tool_use(call_Q1w2E3r4T5y6U7i8O9p0 get_weather {"city":"Tōkyō"})`, "tool_use", [4]int64{472, 61, 0, 0}, "")
	f("error", "openai/gpt-4o-mini", `text("Once upon a time")`, "", [4]int64{}, "api_error")
}

func TestInboundStreamCases(t *testing.T) {
	const head = `{"id":"gen-1","object":"chat.completion.chunk","created":1,"model":"m","provider":"p",`
	const start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"gen-1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}}\n\n"
	ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
	end := func(stop string) string {
		return ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"`+stop+`","stop_sequence":null},"usage":{"input_tokens":0,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}`) +
			ev("message_stop", `{"type":"message_stop"}`)
	}
	f := func(frames []string, want string) {
		t.Helper()
		s := NewInboundStream()
		var out []byte
		for _, fr := range frames {
			var err error
			if out, err = s.Frame(out, []byte(fr)); err != nil {
				t.Fatalf("Frame(%s): %v", fr, err)
			}
		}
		if string(out) != want {
			t.Fatalf("frames %q\n got %q\nwant %q", frames, out, want)
		}
		checkAnthropicStream(t, out)
	}
	// An error before anything was sent is the only event.
	f([]string{head + `"error":{"code":429,"message":"rate limited"},"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"error","native_finish_reason":"error"}]}`, "[DONE]"},
		ev("error", `{"type":"error","error":{"type":"rate_limit_error","message":"rate limited"}}`))
	// [DONE] without a usage chunk still ends the message; frames after
	// the end are ignored.
	f([]string{head + `"choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},"finish_reason":"length","native_finish_reason":"length"}]}`, "[DONE]", head + `"choices":[{"index":0,"delta":{"content":"late"}}]}`},
		start+ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)+
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}`)+
			ev("content_block_stop", `{"type":"content_block_stop","index":0}`)+end("max_tokens"))
	// A bare [DONE] is an empty message.
	f([]string{"[DONE]"}, strings.Replace(strings.Replace(start, `"gen-1"`, `""`, 1), `"m"`, `""`, 1)+end("end_turn"))
	// A tool call without an id gets one; empty deltas start nothing; a
	// thinking block gets its signature_delta before it stops.
	f([]string{
		head + `"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":"r"}}]}`,
		head + `"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]}}]}`,
		head + `"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"c2","function":{"name":"g","arguments":""}}]}}]}`,
		head + `"choices":[{"index":0,"delta":{"content":""},"finish_reason":"tool_calls"}]}`,
		head + `"choices":[],"usage":{"prompt_tokens":0,"completion_tokens":0}}`,
	}, start+
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`)+
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"r"}}`)+
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":""}}`)+
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`)+
		ev("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"call_gen-1_0","name":"f","input":{}}}`)+
		ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":1}"}}`)+
		ev("content_block_stop", `{"type":"content_block_stop","index":1}`)+
		ev("content_block_start", `{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"c2","name":"g","input":{}}}`)+
		ev("content_block_stop", `{"type":"content_block_stop","index":2}`)+end("tool_use"))
}

// TestInboundStreamInterleavedTools: an upstream that interleaves tool
// calls leaves the first call's block open (its arguments are not yet
// JSON) until the end, so the SDK accumulator gets every fragment.
func TestInboundStreamInterleavedTools(t *testing.T) {
	const head = `{"id":"gen-1","model":"m","choices":[{"index":0,"delta":{"tool_calls":[`
	s := NewInboundStream()
	var out []byte
	for _, fr := range []string{
		head + `{"index":0,"id":"a","function":{"name":"f","arguments":"{\"x\""}}]}}]}`,
		head + `{"index":1,"id":"b","function":{"name":"g","arguments":"{}"}}]}}]}`,
		head + `{"index":0,"function":{"arguments":":1}"}}]}}]}`,
		head + `{"index":2,"id":"c","function":{"name":"h","arguments":"{}"}}]}}]}`,
		"[DONE]",
	} {
		var err error
		if out, err = s.Frame(out, []byte(fr)); err != nil {
			t.Fatal(err)
		}
	}
	msg, _ := checkAnthropicStream(t, out)
	if got := describeBlocks(msg.Content); got != `tool_use(a f {"x":1}) tool_use(b g {}) tool_use(c h {})` {
		t.Fatalf("accumulated %s from\n%s", got, out)
	}
	// Block 1 was complete when block 2 started; block 0 stays open.
	stops := regexp.MustCompile(`"content_block_(start|stop)","index":(\d)`).FindAllStringSubmatch(string(out), -1)
	var order []string
	for _, m := range stops {
		order = append(order, m[1]+m[2])
	}
	if got := strings.Join(order, " "); got != "start0 start1 stop1 start2 stop0 stop2" {
		t.Fatalf("block order %s", got)
	}
}

func TestInboundFrameRejects(t *testing.T) {
	for _, data := range []string{
		`{"choices":`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":-1}]}}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":100000}]}}]}`,
		`{"choices":[{"index":0,"delta":{"content":["parts"]}}]}`,
	} {
		s := NewInboundStream()
		out, err := s.Frame([]byte("keep"), []byte(data))
		if err == nil || string(out) != "keep" {
			t.Fatalf("Frame(%s) = %q, %v; want an error and dst unchanged", data, out, err)
		}
		// The stream is as it was: a good chunk still starts the message.
		out, err = s.Frame(nil, []byte(`{"id":"gen-1","model":"m","choices":[{"index":0,"delta":{"content":"x"}}]}`))
		if err != nil || !bytes.HasPrefix(out, []byte("event: message_start\n")) {
			t.Fatalf("after a rejected frame: %q, %v", out, err)
		}
	}
}

// TestInboundRoundTrip: an Anthropic upstream's answer, translated to the
// gateway's OpenAI shape by the outbound adapter and back by the inbound
// edge, is the message the upstream sent (ids, model and thinking
// signatures aside).
func TestInboundRoundTrip(t *testing.T) {
	// direct accumulates the upstream transcript itself. stream_text.sse
	// sends a second message_delta with stop_reason null; the first one's
	// reason is the answer's.
	direct := func(wire []byte) sdk.Message {
		var m sdk.Message
		var stop sdk.StopReason
		sc := sse.NewScanner(bytes.NewReader(wire), 0)
		for sc.Next() {
			var e sdk.MessageStreamEventUnion
			if err := json.Unmarshal(sc.Event().Data, &e); err != nil {
				t.Fatal(err)
			}
			if e.Type != "ping" && e.Type != "error" {
				if err := m.Accumulate(e); err != nil {
					t.Fatal(err)
				}
			}
			if e.Type == "message_delta" && e.Delta.StopReason != "" {
				stop = e.Delta.StopReason
			}
		}
		m.StopReason = stop
		return m
	}
	same := func(name string, got, want sdk.Message) {
		t.Helper()
		if g, w := describeBlocks(got.Content), describeBlocks(want.Content); g != w {
			t.Fatalf("%s: content\n got %s\nwant %s", name, g, w)
		}
		gu, wu := got.Usage, want.Usage
		if got.StopReason != want.StopReason || gu.InputTokens != wu.InputTokens || gu.OutputTokens != wu.OutputTokens ||
			gu.CacheReadInputTokens != wu.CacheReadInputTokens || gu.CacheCreationInputTokens != wu.CacheCreationInputTokens {
			t.Fatalf("%s: stop %q usage %+v, want %q %+v", name, got.StopReason, gu, want.StopReason, wu)
		}
	}
	for _, name := range []string{"stream_tools", "stream_text"} {
		wire := readTestdata(t, name+".sse")
		c := newCall(t, testRequest, claudeEndpoint())
		openai, _ := relay(t, c, wire)
		got, errResp := checkAnthropicStream(t, convertStream(t, openai))
		if errResp != nil {
			t.Fatalf("%s: error event %+v", name, errResp)
		}
		same(name, got, direct(wire))
	}
	// An overloaded upstream mid-stream reaches the client as Anthropic's
	// overloaded_error.
	c := newCall(t, testRequest, claudeEndpoint())
	openai, _ := relay(t, c, readTestdata(t, "stream_overloaded.sse"))
	if _, errResp := checkAnthropicStream(t, convertStream(t, openai)); errResp == nil || errResp.Error.Type != "overloaded_error" {
		t.Fatalf("overloaded stream: error event %+v", errResp)
	}

	for _, name := range []string{"response_tool_use", "response_text", "response_refusal"} {
		body := readTestdata(t, name+".json")
		c := newCall(t, testRequest, claudeEndpoint())
		c.Stream = false
		openai, _, err := Adapter{}.ReadChat(nil, body, c)
		if err != nil {
			t.Fatal(err)
		}
		out, err := InboundResponse(nil, openai)
		if err != nil {
			t.Fatal(err)
		}
		var got, want sdk.Message
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatal(err)
		}
		same(name, got, want)
	}
}

// TestInboundAnthropicSDK serves converted answers to the official
// Anthropic Go client over HTTP, the way core/api does at /api/v1/messages:
// a message, a stream, an error status and an error mid-stream.
func TestInboundAnthropicSDK(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/messages" || r.Header.Get("x-api-key") != "sk-tg-v1-test" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write(InboundError(nil, http.StatusNotFound, "no route "+r.URL.Path))
			return
		}
		body, _ := io.ReadAll(r.Body)
		req, err := InboundRequest(nil, body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write(InboundError(nil, http.StatusBadRequest, err.Error()))
			return
		}
		var chat peek.Chat
		if err := peek.ParseChat(req, &chat); err != nil {
			t.Errorf("converted body rejected: %v", err)
		}
		switch model := string(chat.Model); {
		case model == "rate/limited":
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write(InboundError(nil, http.StatusTooManyRequests, "key rate limit exceeded"))
		case chat.Stream:
			w.Header().Set("Content-Type", "text/event-stream")
			name := "tools"
			if model == "broken/stream" {
				name = "error"
			}
			_, _ = w.Write(convertStream(t, readTestdata(t, "inbound_stream_"+name+".sse")))
		default:
			out, err := InboundResponse(nil, readTestdata(t, "inbound_response_tool_use.json"))
			if err != nil {
				t.Error(err)
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(out)
		}
	}))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := sdk.NewClient(option.WithBaseURL(srv.URL+"/api/"), option.WithAPIKey("sk-tg-v1-test"),
		option.WithHTTPClient(&http.Client{Transport: tr}), option.WithMaxRetries(0))
	params := func(model string) sdk.MessageNewParams {
		return sdk.MessageNewParams{Model: sdk.Model(model), MaxTokens: 1024,
			Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("Weather in Paris and Tokyo?"))}}
	}
	ctx := context.Background()

	msg, err := client.Messages.New(ctx, params("openai/gpt-4.1"))
	if err != nil {
		t.Fatalf("Messages.New: %v", err)
	}
	if msg.StopReason != sdk.StopReasonToolUse || len(msg.Content) != 3 || msg.Content[0].AsToolUse().Name != "get_weather" {
		t.Fatalf("Messages.New = %+v", msg)
	}

	stream := client.Messages.NewStreaming(ctx, params("openai/gpt-4.1"))
	var acc sdk.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatalf("Accumulate: %v", err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	_ = stream.Close()
	if acc.StopReason != sdk.StopReasonToolUse || describeBlocks(acc.Content) != `text("Checking both.") tool_use(call_8dZ2kq1VbXo0TQeM4hRj6wLc get_weather {"city":"Paris"}) tool_use(call_Q1w2E3r4T5y6U7i8O9p0 get_weather {"city":"Tōkyō"})` {
		t.Fatalf("streamed %s stop %s", describeBlocks(acc.Content), acc.StopReason)
	}

	_, err = client.Messages.New(ctx, params("rate/limited"))
	var apiErr *sdk.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests || apiErr.Type() != sdk.ErrorTypeRateLimitError {
		t.Fatalf("rate limited: %v", err)
	}

	stream = client.Messages.NewStreaming(ctx, params("broken/stream"))
	var text strings.Builder
	for stream.Next() {
		if ev := stream.Current(); ev.Type == "content_block_delta" {
			text.WriteString(ev.Delta.Text)
		}
	}
	_ = stream.Close()
	if !errors.As(stream.Err(), &apiErr) || apiErr.Type() != sdk.ErrorTypeAPIError || text.String() != "Once upon a time" {
		t.Fatalf("broken stream: text %q, err %v", text.String(), stream.Err())
	}
}

// FuzzInboundRequest: no client body panics the conversion; it yields
// JSON or a BadRequest that leaves dst alone.
func FuzzInboundRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := InboundRequest([]byte("prev"), body)
		if err != nil {
			var br *peek.BadRequest
			if !errors.As(err, &br) || string(out) != "prev" {
				t.Fatalf("InboundRequest(%q) = %q, %T %v", body, out, err, err)
			}
			return
		}
		if !bytes.HasPrefix(out, []byte("prev")) || !json.Valid(out[len("prev"):]) {
			t.Fatalf("InboundRequest(%q) = invalid JSON %s", body, out)
		}
	})
}

// checkEvents checks that out is whole Anthropic events whose data is
// JSON of the event's type.
func checkEvents(t *testing.T, out []byte) {
	t.Helper()
	sc := sse.NewScanner(bytes.NewReader(out), 0)
	for sc.Next() {
		ev := sc.Event()
		var e struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(ev.Data, &e); err != nil || e.Type != string(ev.Name) || e.Type == "" {
			t.Fatalf("emitted %q %q: %v", ev.Name, ev.Data, err)
		}
	}
	if sc.Err() != nil || (len(out) > 0 && !bytes.HasSuffix(out, []byte("\n\n"))) {
		t.Fatalf("emitted broken events %q", out)
	}
}

// FuzzInboundFrame: no frame panics the stream converter; it emits whole
// events or fails leaving dst alone, and the stream still ends well.
func FuzzInboundFrame(f *testing.F) {
	f.Add([]byte(`{"id":"gen-1","model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewInboundStream()
		// A started tool call and an open text block first.
		pre, err := s.Frame(nil, []byte(`{"id":"gen-1","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":""}}],"content":"x"}}]}`))
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Frame([]byte("prev"), data)
		if !bytes.HasPrefix(out, []byte("prev")) || (err != nil && len(out) != len("prev")) {
			t.Fatalf("Frame(%q) = %q, %v", data, out, err)
		}
		all := append(pre, out[len("prev"):]...)
		all, err = s.Frame(all, []byte("[DONE]"))
		if err != nil {
			t.Fatal(err)
		}
		checkEvents(t, all)
	})
}

// FuzzInboundResponse: no completion body panics InboundResponse; what it
// accepts comes out as JSON.
func FuzzInboundResponse(f *testing.F) {
	f.Add([]byte(`{"id":"gen-1","choices":[{"message":{"content":"hi"},"finish_reason":"stop"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := InboundResponse(nil, body)
		if err == nil && !json.Valid(out) {
			t.Fatalf("InboundResponse(%q) = invalid JSON %s", body, out)
		}
	})
}

// TestInboundFuzzCorpus keeps the seed corpora of the inbound fuzz tests
// in step with the transcripts (see TestFuzzCorpus).
func TestInboundFuzzCorpus(t *testing.T) {
	var requests, frames, responses [][]any
	for _, name := range inboundRequests {
		requests = append(requests, []any{readTestdata(t, "inbound_request_"+name+".json")})
	}
	for _, name := range inboundStreams {
		sc := sse.NewScanner(bytes.NewReader(readTestdata(t, "inbound_stream_"+name+".sse")), 0)
		for sc.Next() {
			frames = append(frames, []any{bytes.Clone(sc.Event().Data)})
		}
	}
	for _, name := range inboundResponses {
		responses = append(responses, []any{readTestdata(t, "inbound_response_"+name+".json")})
	}
	syncCorpus(t, "FuzzInboundRequest", requests)
	syncCorpus(t, "FuzzInboundFrame", frames)
	syncCorpus(t, "FuzzInboundResponse", responses)
}

// inboundBenchFrames are the frames a long answer is made of.
var inboundBenchFrames = []struct{ name, data string }{
	{"text_delta", `{"id":"gen-1747219999-Xk3pQ9mZ2vR7tL1wB8nC","object":"chat.completion.chunk","created":1747219999,"model":"openai/gpt-4o-mini","provider":"openai","choices":[{"index":0,"delta":{"content":" the weather in Paris"},"finish_reason":null}]}`},
	{"reasoning_delta", `{"id":"gen-1747219999-Xk3pQ9mZ2vR7tL1wB8nC","object":"chat.completion.chunk","created":1747219999,"model":"deepseek/deepseek-r1","provider":"deepseek","choices":[{"index":0,"delta":{"reasoning":" I'll call get_weather"},"finish_reason":null}]}`},
	{"tool_args_delta", `{"id":"gen-1747219999-Xk3pQ9mZ2vR7tL1wB8nC","object":"chat.completion.chunk","created":1747219999,"model":"openai/gpt-4.1","provider":"openai","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": \"Pa"}}]},"finish_reason":null}]}`},
}

// BenchmarkInboundFrame converts one delta frame into a reused buffer, as
// core/api does, with the block already open.
func BenchmarkInboundFrame(b *testing.B) {
	for _, bf := range inboundBenchFrames {
		b.Run(bf.name, func(b *testing.B) {
			s := NewInboundStream()
			data := []byte(bf.data)
			dst := make([]byte, 0, 4096)
			var err error
			if dst, err = s.Frame(dst, data); err != nil { // message_start, block start
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if dst, err = s.Frame(dst[:0], data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkInboundRequest(b *testing.B) {
	body := readTestdata(b, "inbound_request_tools_history.json")
	dst := make([]byte, 0, 8192)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var err error
		if dst, err = InboundRequest(dst[:0], body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInboundResponse(b *testing.B) {
	body := readTestdata(b, "inbound_response_tool_use.json")
	dst := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var err error
		if dst, err = InboundResponse(dst[:0], body); err != nil {
			b.Fatal(err)
		}
	}
}
