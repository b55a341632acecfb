// Package providertest holds the test helpers every protocol adapter's
// tests share: relaying a recorded upstream stream through an adapter,
// golden files, the OpenAI stream-shape checks clients rely on, and the
// openai-go accumulator check. Imported by tests only.
package providertest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/sse"
)

func RelayStream(t testing.TB, s provider.Stream, c *provider.Call, r interface{ Read([]byte) (int, error) }) ([]byte, *provider.Result) {
	t.Helper()
	sc := sse.NewScanner(r, 0)
	out := []byte{}
	var failure *provider.Failure
	for sc.Next() {
		var err error
		if out, err = s.Event(out, sc.Event()); err != nil {
			if !errors.As(err, &failure) {
				t.Fatalf("Event returned %T %v, want a *provider.Failure", err, err)
			}
			break
		}
		if res := s.Result(); res.Err != nil {
			failure = res.Err
			break
		} else if res.Done {
			break
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("cannot scan transcript: %v", err)
	}
	res := s.Result()
	if failure == nil && !res.Done {
		if res.Finish == "" {
			failure = &provider.Failure{Message: "upstream closed the stream before it finished"}
		} else {
			res.Done = true
		}
	}
	if failure != nil {
		code := failure.Status
		if code < 400 {
			code = fasthttp.StatusBadGateway
		}
		out = provider.AppendErrorChunk(out, c, code, failure.Message)
		return sse.AppendDone(out), res
	}
	if !res.HaveUsage {
		res.Usage.PromptTokens = provider.EstimateTokens(len(c.Chat.Messages))
		res.Usage.CompletionTokens = provider.EstimateTokens(res.OutputBytes)
	}
	return provider.FinishStream(out, c, &res.Usage, c.Endpoint.Pricing.Cost(res.Usage)), res
}

func DescribeResult(res *provider.Result, cost int64) string {
	errText := "<nil>"
	if res.Err != nil {
		e := res.Err
		errText = fmt.Sprintf("status=%d type=%q context_length=%v retry_after_ms=%d message=%q raw=%q",
			e.Status, e.Type, e.ContextLength, e.RetryAfterMs, e.Message, e.Raw)
	}
	return fmt.Sprintf("finish=%q native=%q done=%v started=%v have_usage=%v output_bytes=%d\nusage=%+v cost_nano_usd=%d\nerr=%s\n",
		res.Finish, res.Native, res.Done, res.Started, res.HaveUsage, res.OutputBytes, res.Usage, cost, errText)
}

// CheckGolden compares got with testdata/name, or rewrites the file.
func CheckGolden(t *testing.T, rewrite bool, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if rewrite {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("cannot rewrite %s: %v", path, err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("cannot read golden file (run with -rewrite to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs from %s (run with -rewrite to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func ReadTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// CheckStreamShape checks what every OpenAI client relies on (TRAPS.md,
// SSE and clients): SSE frames of JSON chunks with one id; the role on the
// first delta; each tool call's first delta with id, type "function" and
// function.name; normalised finish reasons beside the native one, on the
// last choice chunk; then exactly one usage chunk (choices [], with cost)
// and [DONE]. A failed stream ends with one error chunk instead.
func CheckStreamShape(t *testing.T, c *provider.Call, out []byte, failed bool) {
	t.Helper()
	type toolDelta struct {
		Index    *int    `json:"index"`
		ID       *string `json:"id"`
		Type     *string `json:"type"`
		Function *struct {
			Name      *string `json:"name"`
			Arguments *string `json:"arguments"`
		} `json:"function"`
	}
	type chunk struct {
		ID       string          `json:"id"`
		Object   string          `json:"object"`
		Created  int64           `json:"created"`
		Model    string          `json:"model"`
		Provider string          `json:"provider"`
		Choices  json.RawMessage `json:"choices"`
		Usage    *struct {
			Prompt     *int     `json:"prompt_tokens"`
			Completion *int     `json:"completion_tokens"`
			Total      *int     `json:"total_tokens"`
			Cost       *float64 `json:"cost"`
		} `json:"usage"`
		Error json.RawMessage `json:"error"`
	}
	type choice struct {
		Index int `json:"index"`
		Delta struct {
			Role      *string     `json:"role"`
			ToolCalls []toolDelta `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
		Native       *string `json:"native_finish_reason"`
	}
	sc := sse.NewScanner(bytes.NewReader(out), 0)
	var chunks []chunk
	done := false
	for sc.Next() {
		ev := sc.Event()
		if done {
			t.Fatalf("event after [DONE]: %q", ev.Data)
		}
		if len(ev.Name) != 0 {
			t.Fatalf("named event %q: OpenAI streams use the default type", ev.Name)
		}
		if sse.IsDone(ev.Data) {
			done = true
			continue
		}
		var ch chunk
		dec := json.NewDecoder(bytes.NewReader(ev.Data))
		if err := dec.Decode(&ch); err != nil {
			t.Fatalf("chunk is not JSON: %v\n%s", err, ev.Data)
		}
		chunks = append(chunks, ch)
	}
	if err := sc.Err(); err != nil || !done {
		t.Fatalf("client stream does not parse as SSE ending in [DONE]: %v", err)
	}
	if len(chunks) < 2 {
		t.Fatalf("only %d chunks", len(chunks))
	}
	seenTools := map[int]bool{}
	finishes, usages, lastChoice := 0, 0, -1
	for i, ch := range chunks {
		if ch.ID != c.GenID || ch.Object != "chat.completion.chunk" || ch.Created != c.Created || ch.Model != c.Endpoint.Model || ch.Provider != c.Upstream.Name {
			t.Fatalf("chunk %d head: %+v", i, ch)
		}
		var choices []choice
		if ch.Choices == nil || json.Unmarshal(ch.Choices, &choices) != nil {
			t.Fatalf("chunk %d: choices %s is not an array", i, ch.Choices)
		}
		for _, cho := range choices {
			lastChoice = i
			if i == 0 && (cho.Delta.Role == nil || *cho.Delta.Role != "assistant") {
				t.Fatalf("the first chunk has no delta.role assistant")
			}
			if i > 0 && cho.Delta.Role != nil {
				t.Fatalf("chunk %d repeats the role", i)
			}
			for _, td := range cho.Delta.ToolCalls {
				if td.Index == nil {
					t.Fatalf("chunk %d: tool-call delta without index", i)
				}
				if !seenTools[*td.Index] {
					if *td.Index != len(seenTools) {
						t.Fatalf("chunk %d: tool-call index %d, want %d (indexes count tool calls)", i, *td.Index, len(seenTools))
					}
					seenTools[*td.Index] = true
					if td.ID == nil || *td.ID == "" || td.Type == nil || *td.Type != "function" || td.Function == nil || td.Function.Name == nil || *td.Function.Name == "" {
						t.Fatalf("chunk %d: the first delta of tool call %d lacks id, type or function.name", i, *td.Index)
					}
				} else if td.ID != nil || td.Type != nil || (td.Function != nil && td.Function.Name != nil) {
					t.Fatalf("chunk %d: tool call %d repeats id/type/name", i, *td.Index)
				}
			}
			if cho.FinishReason == nil {
				if cho.Native != nil {
					t.Fatalf("chunk %d: native_finish_reason without finish_reason", i)
				}
				continue
			}
			finishes++
			switch *cho.FinishReason {
			case "stop", "length", "tool_calls", "content_filter", "error":
			default:
				t.Fatalf("chunk %d: finish_reason %q is not normalised", i, *cho.FinishReason)
			}
			if cho.Native == nil {
				t.Fatalf("chunk %d: finish_reason without native_finish_reason", i)
			}
		}
		if ch.Usage != nil {
			usages++
			u := ch.Usage
			if i != len(chunks)-1 || len(choices) != 0 {
				t.Fatalf("usage in chunk %d of %d with %d choices: only the last chunk, with no choices, may carry it", i, len(chunks), len(choices))
			}
			if u.Prompt == nil || u.Completion == nil || u.Total == nil || u.Cost == nil || *u.Total != *u.Prompt+*u.Completion {
				t.Fatalf("usage chunk lacks tokens or cost")
			}
		}
		if ch.Error != nil && (!failed || i != len(chunks)-1) {
			t.Fatalf("error member in chunk %d", i)
		}
	}
	if failed {
		if usages != 0 || chunks[len(chunks)-1].Error == nil {
			t.Fatalf("a failed stream must end with an error chunk and no usage chunk")
		}
		return
	}
	if usages != 1 || finishes != 1 {
		t.Fatalf("%d usage chunks and %d finish reasons, want 1 each", usages, finishes)
	}
	var last []choice
	_ = json.Unmarshal(chunks[lastChoice].Choices, &last)
	if len(last) == 0 || last[0].FinishReason == nil {
		t.Fatalf("the last choice chunk has no finish_reason")
	}
}

// Accumulate runs a client stream through openai-go's accumulator and
// collects delta.reasoning, which openai-go does not model.
func Accumulate(t *testing.T, out []byte) (oai.ChatCompletionAccumulator, string) {
	t.Helper()
	var acc oai.ChatCompletionAccumulator
	var reasoning strings.Builder
	sc := sse.NewScanner(bytes.NewReader(out), 0)
	for n := 0; sc.Next(); n++ {
		data := sc.Event().Data
		if sse.IsDone(data) {
			continue
		}
		var chunk oai.ChatCompletionChunk
		if err := json.Unmarshal(data, &chunk); err != nil {
			t.Fatalf("openai-go cannot decode chunk %d: %v\n%s", n, err, data)
		}
		if !acc.AddChunk(chunk) {
			t.Fatalf("the openai-go accumulator rejects chunk %d:\n%s", n, data)
		}
		var raw struct {
			Choices []struct {
				Delta struct {
					Reasoning string `json:"reasoning"`
				} `json:"delta"`
			} `json:"choices"`
		}
		_ = json.Unmarshal(data, &raw)
		for _, ch := range raw.Choices {
			reasoning.WriteString(ch.Delta.Reasoning)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return acc, reasoning.String()
}
