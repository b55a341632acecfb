package peek

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// chatView is the comparable part of a Chat: every field ParseChat reads.
type chatView struct {
	Model, Models                        string
	Stream, IncludeUsage                 bool
	MaxTokens                            int64
	Messages                             string
	Tools, ToolChoice, Images            bool
	JSONObject, JSONSchema               bool
	Reasoning, Provider, Usage           string
	User, SessionID, Metadata            string
	Params                               []string
	HaveModelSpan, HaveStreamOptionsSpan bool
}

func viewChat(c *Chat) chatView {
	v := chatView{
		Model: string(c.Model), Models: string(c.Models),
		Stream: c.Stream, IncludeUsage: c.IncludeUsage, MaxTokens: c.MaxTokens,
		Messages: string(c.Messages), Tools: c.Tools, ToolChoice: c.ToolChoice,
		Images: c.Images, JSONObject: c.JSONObject, JSONSchema: c.JSONSchema,
		Reasoning: string(c.Reasoning), Provider: string(c.Provider), Usage: string(c.Usage),
		User: string(c.User), SessionID: string(c.SessionID), Metadata: string(c.Metadata),
		HaveModelSpan:         c.ModelSpan.End != 0,
		HaveStreamOptionsSpan: c.StreamOptionsIdx >= 0,
	}
	for i, name := range ParamNames {
		if c.Params&(1<<uint(i)) != 0 {
			v.Params = append(v.Params, name)
		}
	}
	return v
}

const testMessages = `[{"role":"user","content":"hi"}]`

// req builds a request body with a model, messages and extra members.
func req(extra ...string) string {
	members := append([]string{`"model":"openai/gpt-4o"`, `"messages":` + testMessages}, extra...)
	return "{" + strings.Join(members, ",") + "}"
}

// baseView is what ParseChat reads from req() with no extra members.
func baseView() chatView {
	return chatView{Model: "openai/gpt-4o", Messages: testMessages, HaveModelSpan: true}
}

func TestParseChatFields(t *testing.T) {
	f := func(body string, edit func(w *chatView)) {
		t.Helper()
		var c Chat
		if err := ParseChat([]byte(body), &c); err != nil {
			t.Fatalf("ParseChat(%s): unexpected error: %v", body, err)
		}
		want := baseView()
		if edit != nil {
			edit(&want)
		}
		if got := viewChat(&c); !reflect.DeepEqual(got, want) {
			t.Fatalf("ParseChat(%s):\ngot  %+v\nwant %+v", body, got, want)
		}
	}

	f(req(), nil)
	f(" \t\r\n"+req()+"\n ", nil)
	f(`{ "model" : "openai/gpt-4o" , "messages" : `+testMessages+` }`, nil)

	// model and models.
	f(req(`"models":["a/b","c/d"]`), func(w *chatView) { w.Models = `["a/b","c/d"]` })
	f(req(`"models":[]`), nil)
	f(req(`"models":null`), nil)
	f(`{"models":["a/b"],"messages":`+testMessages+`}`, func(w *chatView) {
		w.Model, w.Models, w.HaveModelSpan = "", `["a/b"]`, false
	})
	f(`{"model":"caf\u00e9\n","messages":`+testMessages+`}`, func(w *chatView) { w.Model = "café\n" })
	f(`{"model":"","messages":`+testMessages+`}`, func(w *chatView) { w.Model = "" })

	// stream and stream_options.
	f(req(`"stream":true`), func(w *chatView) { w.Stream = true })
	f(req(`"stream":false`), nil)
	f(req(`"stream":null`), nil)
	f(req(`"stream":true`, `"stream_options":{"include_usage":true}`), func(w *chatView) {
		w.Stream, w.IncludeUsage, w.HaveStreamOptionsSpan = true, true, true
	})
	f(req(`"stream_options":{"include_usage":false,"include_obfuscation":false}`), func(w *chatView) { w.HaveStreamOptionsSpan = true })
	f(req(`"stream_options":{"include_usage":null}`), func(w *chatView) { w.HaveStreamOptionsSpan = true })
	f(req(`"stream_options":null`), func(w *chatView) { w.HaveStreamOptionsSpan = true })
	f(req(`"stream_options":{}`), func(w *chatView) { w.HaveStreamOptionsSpan = true })
	f(req(`"stream_options":{"include\u005fusage":true}`), func(w *chatView) { w.IncludeUsage, w.HaveStreamOptionsSpan = true, true })

	// max_tokens and max_completion_tokens: the latter wins in any order.
	f(req(`"max_tokens":1`), func(w *chatView) { w.MaxTokens, w.Params = 1, []string{"max_tokens"} })
	f(req(`"max_tokens":2147483648`), func(w *chatView) { w.MaxTokens, w.Params = 1<<31, []string{"max_tokens"} })
	f(req(`"max_tokens":null`), func(w *chatView) { w.Params = []string{"max_tokens"} })
	f(req(`"max_completion_tokens":77`), func(w *chatView) { w.MaxTokens = 77 })
	f(req(`"max_tokens":10`, `"max_completion_tokens":20`), func(w *chatView) { w.MaxTokens, w.Params = 20, []string{"max_tokens"} })
	f(req(`"max_completion_tokens":20`, `"max_tokens":10`), func(w *chatView) { w.MaxTokens, w.Params = 20, []string{"max_tokens"} })
	f(req(`"max_completion_tokens":null`, `"max_tokens":10`), func(w *chatView) { w.MaxTokens, w.Params = 10, []string{"max_tokens"} })

	// tools and tool_choice.
	f(req(`"tools":[{"type":"function","function":{"name":"f"}}]`), func(w *chatView) { w.Tools, w.Params = true, []string{"tools"} })
	f(req(`"tools":[ ]`), func(w *chatView) { w.Params = []string{"tools"} })
	f(req(`"tools":null`), func(w *chatView) { w.Params = []string{"tools"} })
	f(req(`"tool_choice":"auto"`), func(w *chatView) { w.ToolChoice, w.Params = true, []string{"tool_choice"} })
	f(req(`"tool_choice":{"type":"function","function":{"name":"f"}}`), func(w *chatView) { w.ToolChoice, w.Params = true, []string{"tool_choice"} })
	f(req(`"tool_choice":"none"`), func(w *chatView) { w.Params = []string{"tool_choice"} })
	f(req(`"tool_choice":null`), func(w *chatView) { w.Params = []string{"tool_choice"} })

	// response_format.
	f(req(`"response_format":{"type":"json_object"}`), func(w *chatView) { w.JSONObject, w.Params = true, []string{"response_format"} })
	f(req(`"response_format":{"json_schema":{"name":"x","schema":{"type":"object"}},"type":"json_schema"}`), func(w *chatView) {
		w.JSONSchema, w.Params = true, []string{"response_format"}
	})
	f(req(`"response_format":{"type":"text"}`), func(w *chatView) { w.Params = []string{"response_format"} })
	f(req(`"response_format":null`), func(w *chatView) { w.Params = []string{"response_format"} })
	f(req(`"response_format":{"t\u0079pe":"json_object"}`), func(w *chatView) { w.JSONObject, w.Params = true, []string{"response_format"} })

	// Raw extension values are kept as sent.
	f(req(`"reasoning":{"effort":"high"}`), func(w *chatView) { w.Reasoning, w.Params = `{"effort":"high"}`, []string{"reasoning"} })
	f(req(`"reasoning":null`), func(w *chatView) { w.Params = []string{"reasoning"} })
	f(req(`"provider":{"order":["openai"],"allow_fallbacks":false}`), func(w *chatView) { w.Provider = `{"order":["openai"],"allow_fallbacks":false}` })
	f(req(`"provider":null`), nil)
	f(req(`"usage":{"include":true}`), func(w *chatView) { w.Usage = `{"include":true}` })
	f(req(`"usage":null`), nil)
	f(req(`"user":"u-1"`), func(w *chatView) { w.User = "u-1" })
	f(req(`"user":null`), nil)
	f(req(`"session_id":"s\/1"`), func(w *chatView) { w.SessionID = "s/1" })
	f(req(`"session_id":null`), nil)
	f(req(`"metadata":{"tags":["a"]}`), func(w *chatView) { w.Metadata = `{"tags":["a"]}` })
	f(req(`"metadata":null`), nil)

	// Parameters the router matches against endpoints.
	f(req(`"temperature":0`, `"top_p":1.0`, `"seed":7`, `"stop":["\n"]`, `"logprobs":false`, `"verbosity":"low"`, `"n":1`), func(w *chatView) {
		w.Params = []string{"temperature", "top_p", "seed", "stop", "logprobs", "verbosity"}
	})
	f(req(`"t\u0065mperature":0.5`), func(w *chatView) { w.Params = []string{"temperature"} })
	// Unknown members, duplicated or not, pass through untouched.
	f(req(`"x":1`, `"x":2`, `"":{}`), nil)
}

func TestParseChatEscapedKeys(t *testing.T) {
	f := func(body string, edit func(w *chatView)) {
		t.Helper()
		var c Chat
		if err := ParseChat([]byte(body), &c); err != nil {
			t.Fatalf("ParseChat(%s): unexpected error: %v", body, err)
		}
		want := baseView()
		edit(&want)
		if got := viewChat(&c); !reflect.DeepEqual(got, want) {
			t.Fatalf("ParseChat(%s):\ngot  %+v\nwant %+v", body, got, want)
		}
	}
	f(`{"mod\u0065l":"x/y","messages":`+testMessages+`}`, func(w *chatView) { w.Model = "x/y" })
	f(`{"\u006d\u006F\u0064\u0065\u006c":"x/y","m\u0065ssages":`+testMessages+`}`, func(w *chatView) { w.Model = "x/y" })
	f(req(`"str\u0065am":true`), func(w *chatView) { w.Stream = true })
	f(req(`"max\u005ftokens":5`), func(w *chatView) { w.MaxTokens, w.Params = 5, []string{"max_tokens"} })
	// A key that only decodes to "model" with escapes is not "model".
	f(req(`"Model":"other"`, `"model ":"other"`), func(w *chatView) {})
}

func TestParseChatErrors(t *testing.T) {
	f := func(body, wantMsg string) {
		t.Helper()
		var c Chat
		err := ParseChat([]byte(body), &c)
		if err == nil {
			t.Fatalf("ParseChat(%q): expected an error containing %q", body, wantMsg)
		}
		var br *BadRequest
		if !errors.As(err, &br) {
			t.Fatalf("ParseChat(%q): error %T %v is not a *BadRequest", body, err, err)
		}
		if !strings.Contains(br.Msg, wantMsg) {
			t.Fatalf("ParseChat(%q): error %q does not contain %q", body, br.Msg, wantMsg)
		}
	}

	// Empty and non-object bodies.
	f(``, "request body is empty")
	f(" \t\r\n", "request body is empty")
	f("\u00a0", "invalid JSON at byte 0: unexpected character")
	f("\v{}", "invalid JSON at byte 0: unexpected character")
	f(`[]`, "request body must be a JSON object")
	f(`[{"model":"x"}]`, "request body must be a JSON object")
	f(`"model"`, "request body must be a JSON object")
	f(`42`, "request body must be a JSON object")
	f(`null`, "request body must be a JSON object")
	f(`true`, "request body must be a JSON object")
	f(`{}`, "'messages' is required")

	// Syntax errors, with the offset.
	f(`{`, "invalid JSON at byte 1: expected object key")
	f(`{"model":"x"`, "invalid JSON at byte 12: unterminated object")
	f(`{"model":"x",}`, "invalid JSON at byte 13: expected object key")
	f(`{"model" "x"}`, "invalid JSON at byte 9: expected ':'")
	f(`{"model":"x" "messages":[]}`, "invalid JSON at byte 13: expected ',' or '}'")
	f(`{model:"x"}`, "expected object key")
	f(`{'model':'x'}`, "expected object key")
	f(`{"model":"x\u12"}`, `invalid \u escape`)
	f(`{"model":"x\q"}`, "invalid escape")
	f("{\"model\":\"a\tb\"}", "control character in string")
	f(`{"model":"x`, "unterminated string")
	f(`{"a":[1,2}`, "expected ',' or ']'")
	f(`{"a":tru}`, "invalid literal")
	f(`{"a":nul}`, "invalid literal")
	f(`{"a":01}`, "expected ',' or '}'")
	f(`{"a":1.}`, "invalid number")
	f(`{"a":-}`, "invalid number")
	f(`{"a":1e}`, "invalid number")
	f(`{"a":.5}`, "unexpected character")
	f(`{"a":+1}`, "unexpected character")
	f(`{"a":NaN}`, "unexpected character")
	f(`{"a":0x10}`, "expected ',' or '}'")
	f("{\"a\":1}\x00", "trailing data")

	// Trailing garbage after the object.
	f(req()+`x`, "trailing data after JSON value")
	f(req()+`{}`, "trailing data after JSON value")
	f(req()+` ,`, "trailing data after JSON value")

	// Invalid UTF-8 anywhere.
	f("{\"model\":\"\xff\",\"messages\":"+testMessages+"}", "invalid UTF-8 in string")
	f("{\"mod\xc3\":\"x\"}", "invalid UTF-8 in string")
	f("{\"model\":\"\xed\xa0\x80\"}", "invalid UTF-8 in string") // UTF-8 encoded surrogate
	f("{\"model\":\"\xc0\xaf\"}", "invalid UTF-8 in string")     // overlong '/'
	f("{\xef\xbb\xbf\"model\":\"x\"}", "expected object key")
	f("\xef\xbb\xbf"+req(), "unexpected character")

	// Nesting deeper than MaxDepth, counting the body itself.
	f(`{"a":`+strings.Repeat("[", MaxDepth)+strings.Repeat("]", MaxDepth)+`}`, "nesting too deep")
	f(`{"a":`+strings.Repeat(`{"b":`, MaxDepth)+"1"+strings.Repeat("}", MaxDepth)+`}`, "nesting too deep")
	f(`{"a":`+strings.Repeat("[", 100000), "nesting too deep")

	// Required members.
	f(`{"model":"x"}`, "'messages' is required")
	f(`{"messages":`+testMessages+`}`, "'model' is required")
	f(`{"models":[],"messages":`+testMessages+`}`, "'model' is required")
	f(`{"models":null,"messages":`+testMessages+`}`, "'model' is required")

	// Duplicate keys, also through escapes.
	f(req(`"model":"y"`), `duplicate key "model" in request body`)
	f(req(`"mod\u0065l":"y"`), `duplicate key "model" in request body`)
	f(req(`"stream":true`, `"stream":false`), `duplicate key "stream"`)
	f(req(`"max_tokens":1`, `"max\u005ftokens":2`), `duplicate key "max_tokens"`)
	f(req(`"messages":[{"role":"user"}]`), `duplicate key "messages"`)
	for _, k := range []string{"models", "stream_options", "max_completion_tokens", "tools", "tool_choice", "response_format", "reasoning", "provider", "usage", "user", "session_id", "metadata"} {
		f(req(`"`+k+`":null`, `"`+k+`":null`), fmt.Sprintf("duplicate key %q", k))
	}

	// Wrong types, one per member that ParseChat reads.
	for _, v := range []string{`null`, `1`, `true`, `["x"]`, `{"id":"x"}`} {
		f(`{"model":`+v+`,"messages":`+testMessages+`}`, "'model' must be a string")
	}
	for _, v := range []string{`"a/b"`, `{}`, `1`, `[1]`, `["a",null]`, `[["a"]]`} {
		f(req(`"models":`+v), "'models' must be an array of strings")
	}
	for _, v := range []string{`"true"`, `1`, `0`, `{}`, `[]`} {
		f(req(`"stream":`+v), "'stream' must be a boolean")
	}
	for _, v := range []string{`true`, `"include_usage"`, `[]`, `1`} {
		f(req(`"stream_options":`+v), "'stream_options' must be an object")
	}
	for _, v := range []string{`"true"`, `1`, `{}`} {
		f(req(`"stream_options":{"include_usage":`+v+`}`), "'stream_options.include_usage' must be a boolean")
	}
	for _, k := range []string{"max_tokens", "max_completion_tokens"} {
		for _, v := range []string{`"10"`, `1.5`, `8.0`, `1e3`, `1E3`, `true`, `[]`, `{}`} {
			f(req(`"`+k+`":`+v), "'"+k+"' must be an integer")
		}
		// Huge numbers do not overflow into something valid.
		f(req(`"`+k+`":9223372036854775808`), "'"+k+"' is out of range")
		f(req(`"`+k+`":-9223372036854775809`), "'"+k+"' is out of range")
		f(req(`"`+k+`":`+strings.Repeat("9", 400)), "'"+k+"' is out of range")
		f(req(`"`+k+`":1`+strings.Repeat("0", 18)), "'"+k+"' must be between 1 and 2147483648, got 1000000000000000000")
		f(req(`"`+k+`":2147483649`), "must be between 1 and 2147483648, got 2147483649")
		f(req(`"`+k+`":0`), "must be between 1 and 2147483648, got 0")
		f(req(`"`+k+`":-0`), "must be between 1 and 2147483648, got 0")
		f(req(`"`+k+`":-1`), "must be between 1 and 2147483648, got -1")
	}
	for _, v := range []string{`null`, `{}`, `"hi"`, `1`} {
		f(`{"model":"x","messages":`+v+`}`, "'messages' must be an array")
	}
	f(`{"model":"x","messages":[]}`, "'messages' must contain at least one message")
	f(`{"model":"x","messages":[{"role":"user"},"hi"]}`, "'messages[1]' must be an object")
	f(`{"model":"x","messages":[null]}`, "'messages[0]' must be an object")
	f(`{"model":"x","messages":[[]]}`, "'messages[0]' must be an object")
	for _, v := range []string{`{}`, `"f"`, `1`, `true`} {
		f(req(`"tools":`+v), "'tools' must be an array")
	}
	for _, v := range []string{`"json_object"`, `[]`, `1`} {
		f(req(`"response_format":`+v), "'response_format' must be an object")
	}
	for _, v := range []string{`"openai"`, `[]`, `1`, `true`} {
		f(req(`"provider":`+v), "'provider' must be an object")
	}
	for _, v := range []string{`1`, `{}`, `[]`, `true`} {
		f(req(`"user":`+v), "'user' must be a string")
		f(req(`"session_id":`+v), "'session_id' must be a string")
	}
	for _, v := range []string{`"tags"`, `[]`, `1`, `true`} {
		f(req(`"metadata":`+v), "'metadata' must be an object")
	}

	// More than maxMembers top-level members.
	var many []string
	for i := range maxMembers - 1 {
		many = append(many, fmt.Sprintf(`"x%d":%d`, i, i))
	}
	var c Chat
	if err := ParseChat([]byte(req(many[:maxMembers-2]...)), &c); err != nil {
		t.Fatalf("a body of exactly %d members was rejected: %v", maxMembers, err)
	}
	f(req(many...), fmt.Sprintf("request body has more than %d top-level fields", maxMembers))
}

// TestParseChatDepthLimit pins the exact limit: MaxDepth levels, counting
// the body object, are accepted.
func TestParseChatDepthLimit(t *testing.T) {
	f := func(depth int, ok bool) {
		t.Helper()
		// depth-1 arrays inside the body object.
		body := `{"model":"x","messages":` + testMessages + `,"a":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
		var c Chat
		err := ParseChat([]byte(body), &c)
		if (err == nil) != ok {
			t.Fatalf("depth %d: got error %v, want ok=%v", depth, err, ok)
		}
	}
	f(2, true)
	f(MaxDepth, true)
	f(MaxDepth+1, false)
}

func TestParseChatReuse(t *testing.T) {
	var c Chat
	if err := ParseChat([]byte(req(`"stream":true`, `"stream_options":{"include_usage":true}`, `"max_tokens":5`, `"tools":[{}]`)), &c); err != nil {
		t.Fatal(err)
	}
	if err := ParseChat([]byte(req()), &c); err != nil {
		t.Fatal(err)
	}
	if got, want := viewChat(&c), baseView(); !reflect.DeepEqual(got, want) {
		t.Fatalf("state leaked from the previous parse:\ngot  %+v\nwant %+v", got, want)
	}
	if c.NMembers != 2 || c.Ext != 0 || c.StreamOptionsIdx != -1 {
		t.Fatalf("NMembers=%d Ext=%b StreamOptionsIdx=%d after reuse", c.NMembers, c.Ext, c.StreamOptionsIdx)
	}
}

func TestParseChatImages(t *testing.T) {
	f := func(messages string, want bool) {
		t.Helper()
		var c Chat
		if err := ParseChat([]byte(`{"model":"x","messages":`+messages+`}`), &c); err != nil {
			t.Fatalf("ParseChat: %v", err)
		}
		if c.Images != want {
			t.Fatalf("Images=%v, want %v for messages %s", c.Images, want, messages)
		}
	}
	img := `{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBOR"}}`
	f(`[{"role":"user","content":[{"type":"text","text":"what is this?"},`+img+`]}]`, true)
	f(`[{"role":"system","content":"be brief"},{"role":"user","content":[`+img+`]}]`, true)
	f(`[{"role":"user","content":[{"image_url":{"url":"https://x/y.png"},"type":"image_url"}]}]`, true)
	f(`[{"role":"user","content":[{"type":"image_url"}]}]`, true)
	f(`[{"role":"user","content":[{"image_url":{"url":"https://x/y.png"}}]}]`, true)
	f(`[{"role":"user","content":"hi"}]`, false)
	f(`[{"role":"user","content":[{"type":"text","text":"hi"}]}]`, false)
	// Mentions of image_url that are no image part.
	f(`[{"role":"user","content":"image_url"}]`, false)
	f(`[{"role":"user","content":[{"type":"text","text":"image_url"}]}]`, false)
	f(`[{"role":"user","content":"what does \"image_url\" do?"}]`, false)
	f(`[{"role":"user","name":"image_url","content":"hi"}]`, false)
	f(`[{"role":"tool","tool_call_id":"c1","content":"image_url"}]`, false)
	f(`[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}}],"image_url":1}]`, false)
}

func TestTags(t *testing.T) {
	f := func(metadata string, want ...string) {
		t.Helper()
		var md []byte
		if metadata != "" {
			md = []byte(metadata)
		}
		prefix := [][]byte{[]byte("keep")}
		got := Tags(md, prefix)
		var gs []string
		for _, g := range got[1:] {
			gs = append(gs, string(g))
		}
		if string(got[0]) != "keep" || !reflect.DeepEqual(gs, want) {
			t.Fatalf("Tags(%s) = %q, want %q after the existing entry", metadata, gs, want)
		}
	}
	f("")
	f(`{}`)
	f(`{"team":"x"}`)
	f(`{"tags":null}`)
	f(`{"tags":1}`)
	f(`{"tags":{"a":"b"}}`)
	f(`{"tags":[]}`)
	f(`{"tags":["team:search","feature:x"]}`, "team:search", "feature:x")
	f(`{"tags":["a","",1,null,"b",["c"]]}`, "a", "b")
	f(`{"tags":["t\u0041g","caf\u00e9"]}`, "tAg", "café")
	f(`{"tags":"team:search, feature:x,,  ,last "}`, "team:search", "feature:x", "last")
	f(`{"tags":""}`)
	f(`{"t\u0061gs":"a,b"}`, "a", "b")
	f(`{"other":["x"],"tags":"a"}`, "a")

	// Through ParseChat.
	var c Chat
	if err := ParseChat([]byte(req(`"metadata":{"tags":["team:a"],"user":"u"}`)), &c); err != nil {
		t.Fatal(err)
	}
	if got := Tags(c.Metadata, nil); len(got) != 1 || string(got[0]) != "team:a" {
		t.Fatalf("Tags(ParseChat metadata) = %q", got)
	}
}

func TestSplitTags(t *testing.T) {
	f := func(s string, want ...string) {
		t.Helper()
		var gs []string
		for _, g := range SplitTags([]byte(s), nil) {
			gs = append(gs, string(g))
		}
		if !reflect.DeepEqual(gs, want) {
			t.Fatalf("SplitTags(%q) = %q, want %q", s, gs, want)
		}
	}
	f("")
	f(",")
	f(" , ,\t")
	f("a", "a")
	f("a,b", "a", "b")
	f(" team:search , feature:x ", "team:search", "feature:x")
	f("a,,b,", "a", "b")
	f("a b,c", "a b", "c")
}

func TestEachModel(t *testing.T) {
	f := func(models string, want ...string) {
		t.Helper()
		var raw []byte
		if models != "" {
			raw = []byte(models)
		}
		var got []string
		EachModel(raw, func(m []byte) { got = append(got, string(m)) })
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("EachModel(%s) = %q, want %q", models, got, want)
		}
	}
	f("")
	f(`[]`)
	f(`["a/b"]`, "a/b")
	f(`["a/b", "c\/d", "\u0065"]`, "a/b", "c/d", "e")
	f(`["a",1,"b"]`, "a", "b")
}
