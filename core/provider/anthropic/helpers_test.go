package anthropic

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/provider/providertest"
	"github.com/tollgate/tollgate/routing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files in testdata/ from the current output")

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		// fasthttp's own sleepers need a moment to notice the stop: the
		// mock's worker-pool cleaner exits within a second. The upstream
		// client's connection cleaner sleeps for the idle duration (60 s)
		// and has no stop, and the Date updater lives for the process.
		deadline := time.Now().Add(3 * time.Second)
		for {
			err := goleak.Find(
				goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
				goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
				code = 1
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	os.Exit(code)
}

const (
	testGenID   = "gen-1747219999-Xk3pQ9mZ2vR7tL1wB8nC"
	testCreated = 1747219999
)

// testRequest is the client body behind the response and stream tests.
const testRequest = `{"model":"anthropic/claude-sonnet-4.5","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"What's the weather in Paris and Tokyo?"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],"temperature":0,"stream":true}`

func claudeEndpoint() *routing.Endpoint {
	return &routing.Endpoint{
		Provider: "anthropic", Model: "anthropic/claude-sonnet-4.5", UpstreamModel: "claude-sonnet-4-5-20250929",
		// $3 and $15 per million tokens; cache reads $0.30, writes $3.75.
		Pricing: routing.Pricing{
			Prompt: 3_000_000_000, Completion: 15_000_000_000,
			InputCacheRead: 300_000_000, InputCacheWrite: 3_750_000_000,
		},
		MaxCompletionTokens: 8192,
	}
}

// newCall builds the Call core/api would make for body against ep.
func newCall(t testing.TB, body string, ep *routing.Endpoint) *provider.Call {
	t.Helper()
	var chat peek.Chat
	if err := peek.ParseChat([]byte(body), &chat); err != nil {
		t.Fatalf("cannot parse test request: %v\n%s", err, body)
	}
	return &provider.Call{
		Body: []byte(body), Chat: &chat, Endpoint: ep,
		Upstream: &provider.Upstream{Name: "anthropic", Adapter: Adapter{}},
		GenID:    testGenID, Created: testCreated, Stream: chat.Stream,
	}
}

// relay feeds an upstream SSE transcript through the adapter's stream and
// ends it the way core/api does: FinishStream on success, an error chunk
// and [DONE] on failure.
func relay(t testing.TB, c *provider.Call, wire []byte) ([]byte, *provider.Result) {
	t.Helper()
	return relayStream(t, Adapter{}.NewStream(c), c, bytes.NewReader(wire))
}

func relayStream(t testing.TB, s provider.Stream, c *provider.Call, r interface{ Read([]byte) (int, error) }) ([]byte, *provider.Result) {
	return providertest.RelayStream(t, s, c, r)
}

func describeResult(res *provider.Result, cost int64) string {
	return providertest.DescribeResult(res, cost)
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	providertest.CheckGolden(t, *rewrite, name, got)
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	return providertest.ReadTestdata(t, name)
}

func checkStreamShape(t *testing.T, c *provider.Call, out []byte, failed bool) {
	t.Helper()
	providertest.CheckStreamShape(t, c, out, failed)
}
