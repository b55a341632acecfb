package core_test

import (
	"context"
	"errors"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/tollgate/tollgate/bench/mock"
)

// The official Anthropic Go SDK, pointed at the gateway's /messages, works
// against an OpenAI-protocol provider: plain, streamed (through the SDK's
// strict accumulator) and errors in Anthropic's envelope.
func TestAnthropicSDKAgainstMessages(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 9}}}, oneModel, "")
	client := anthropic.NewClient(option.WithBaseURL(e.api+"/api"), option.WithAPIKey(testKey), option.WithMaxRetries(0))
	params := anthropic.MessageNewParams{
		Model:     "acme/chat",
		MaxTokens: 100,
		System:    []anthropic.TextBlockParam{{Text: "be brief"}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))},
	}
	msg, err := client.Messages.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Role != "assistant" || len(msg.Content) == 0 || msg.Content[0].Text == "" || msg.StopReason != "end_turn" || msg.Usage.OutputTokens != 9 {
		t.Fatalf("message: %+v", msg)
	}

	stream := client.Messages.NewStreaming(context.Background(), params)
	var acc anthropic.Message
	events := 0
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatalf("accumulate event %d: %v", events, err)
		}
		events++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Content) == 0 || acc.Content[0].Text == "" || acc.Usage.OutputTokens != 9 || acc.StopReason != "end_turn" {
		t.Fatalf("accumulated %d events into %+v", events, acc)
	}

	bad := anthropic.NewClient(option.WithBaseURL(e.api+"/api"), option.WithAPIKey("sk-tg-nope"), option.WithMaxRetries(0))
	_, err = bad.Messages.New(context.Background(), params)
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Fatalf("bad key: %v", err)
	}
}
