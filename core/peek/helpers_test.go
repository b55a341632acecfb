package peek

import (
	"fmt"
	"strings"
)

// benchBody returns a realistic chat request of about size bytes: a system
// prompt, tools, and user/assistant turns (one with a tool round trip and
// an image) until the size is reached.
func benchBody(size int) []byte {
	var b strings.Builder
	b.WriteString(`{"model":"openai/gpt-4o","stream":true,"temperature":0,"top_p":1.0,"max_tokens":1024,`)
	b.WriteString(`"tools":[{"type":"function","function":{"name":"get_weather","description":"Get the current weather for a city","parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name, e.g. Paris"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city"]}}}],`)
	b.WriteString(`"provider":{"order":["openai","azure"],"allow_fallbacks":true},"metadata":{"tags":["team:search","feature:chat"]},"user":"user-4711",`)
	b.WriteString(`"messages":[{"role":"system","content":"You are a helpful assistant. Answer briefly and cite sources when you can."}`)
	b.WriteString(`,{"role":"user","content":[{"type":"text","text":"What is in this picture?"},{"type":"image_url","image_url":{"url":"https://example.com/cat.png","detail":"low"}}]}`)
	b.WriteString(`,{"role":"assistant","content":null,"tool_calls":[{"id":"call_8dZ2kq1VbXo0TQeM4hRj6wLc","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}`)
	b.WriteString(`,{"role":"tool","tool_call_id":"call_8dZ2kq1VbXo0TQeM4hRj6wLc","content":"{\"temp_c\":21,\"sky\":\"clear\"}"}`)
	for i := 0; b.Len() < size-200; i++ {
		fmt.Fprintf(&b, `,{"role":"user","content":"Question %d: how does the \"scanner\" handle caf\u00e9 \u2014 and escapes like \\n?"}`, i)
		fmt.Fprintf(&b, `,{"role":"assistant","content":"Answer %d: it validates every byte once, keeps offsets, and never decodes values it does not need."}`, i)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}
