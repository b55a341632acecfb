package core_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/bench/mock"
	"github.com/tollgate/tollgate/ledger"
)

// The charged total equals the sum of usage.cost the client saw, and the
// generation record carries the request's attribution.
func TestChargesMatchReportedCost(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 20}}}, oneModel, "")
	acct := ledger.AccountID("acme")
	_, before, err := e.ledger.Credits(acct)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	var genID string
	for i := 0; i < 10; i++ {
		stream := i%2 == 0
		r := e.post("/api/v1/chat/completions",
			fmt.Sprintf(`{"model":"acme/chat","stream":%v,"user":"u-42","session_id":"s-1","metadata":{"tags":["feature:summarize"]},"messages":[{"role":"user","content":"hello %d"}]}`, stream, i),
			"X-Title", "Test App", "HTTP-Referer", "https://example.test", "X-Tollgate-Tags", "team:search, env:ci")
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		genID = r.header.Get("X-Generation-Id")
		body := string(r.body)
		if stream {
			data := dataFrames(readFrames(t, strings.NewReader(body)))
			body = data[len(data)-2]
		}
		u := decode(t, []byte(body))["usage"].(map[string]any)
		sum += u["cost"].(float64)
	}
	if err := e.ledger.Flush(); err != nil {
		t.Fatal(err)
	}
	_, after, err := e.ledger.Credits(acct)
	if err != nil {
		t.Fatal(err)
	}
	charged := float64(after-before) / 1e9
	if d := charged - sum; d > 1e-9 || d < -1e-9 {
		t.Fatalf("charged %.9f USD, clients were shown %.9f", charged, sum)
	}
	g, err := e.ledger.GetGeneration(genID)
	if err != nil {
		t.Fatal(err)
	}
	if g.App != "Test App" || g.Referer != "https://example.test" || g.User != "u-42" || g.SessionID != "s-1" ||
		g.Provider != "p1" || g.Model != "acme/chat" || g.APIPath != "/api/v1/chat/completions" || g.CompletionTokens != 20 || g.Cost <= 0 {
		t.Fatalf("generation: %+v", g)
	}
	if strings.Join(g.Tags, ",") != "team:search,env:ci,feature:summarize" {
		t.Fatalf("tags %q", g.Tags)
	}
}

func TestInsufficientCredits(t *testing.T) {
	// $1/M prompt, $2/M completion; 0.001 USD covers ~500 completion tokens.
	e := newEnv(t, []mockSpec{{name: "p1"}}, oneModel, "")
	acct, err := e.ledger.CreateAccount("poor")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ledger.Grant(acct.ID, 1_000_000, "g1"); err != nil {
		t.Fatal(err)
	}
	secret, _, err := e.ledger.CreateKey(acct.ID, ledger.KeyOptions{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	r := e.post("/api/v1/chat/completions", `{"model":"acme/chat","max_tokens":5000,"messages":[{"role":"user","content":"hi"}]}`, "Authorization", "Bearer "+secret)
	code, msg, md := errorOf(t, r.body)
	if r.status != 402 || code != 402 || !strings.Contains(msg, "can only afford") {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if n, _ := md["affordable_tokens"].(float64); n < 400 || n > 500 {
		t.Fatalf("affordable_tokens %v: %s", md["affordable_tokens"], r.body)
	}
	if e.mocks["p1"].Stats().Requests != 0 {
		t.Fatal("an unaffordable request reached the provider")
	}
	// A request that fits goes through.
	r = e.post("/api/v1/chat/completions", `{"model":"acme/chat","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`, "Authorization", "Bearer "+secret)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
}

func TestManagementKeyCannotInfer(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1"}}, oneModel, "")
	secret, _, err := e.ledger.CreateKey(ledger.AccountID("acme"), ledger.KeyOptions{Name: "mgmt", Management: true})
	if err != nil {
		t.Fatal(err)
	}
	r := e.post("/api/v1/chat/completions", chatBody, "Authorization", "Bearer "+secret)
	if code, _, _ := errorOf(t, r.body); r.status != 403 || code != 403 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
}

// 200 concurrent requests on an account with credit for 50 of them: the
// reservations admit at most 50, the rest get 402, and the balance never
// goes below zero.
func TestConcurrentSpendIsBounded(t *testing.T) {
	// The mock generates exactly max_tokens and reports the same prompt
	// size the gateway estimates, so each request costs its reservation.
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 1000, Latency: 20 * time.Millisecond}}}, oneModel, "")
	acct, err := e.ledger.CreateAccount("fifty")
	if err != nil {
		t.Fatal(err)
	}
	// Each request reserves its prompt estimate (32 bytes of messages = 8
	// tokens at $1/M = 8,000 nano) + max_tokens=1000 at $2/M (2,000,000
	// nano). Grant exactly 50 reservations' worth.
	const perRequest = 2_000_000 + 8_000
	if err := e.ledger.Grant(acct.ID, 50*perRequest, "g"); err != nil {
		t.Fatal(err)
	}
	secret, _, err := e.ledger.CreateKey(acct.ID, ledger.KeyOptions{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	var ok, paymentRequired, other atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.post("/api/v1/chat/completions", `{"model":"acme/chat","max_tokens":1000,"messages":[{"role":"user","content":"hi"}]}`, "Authorization", "Bearer "+secret)
			switch r.status {
			case 200:
				ok.Add(1)
			case 402:
				paymentRequired.Add(1)
			default:
				other.Add(1)
				t.Errorf("status %d: %s", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	if ok.Load() > 50 || ok.Load() == 0 || ok.Load()+paymentRequired.Load() != 200 {
		t.Fatalf("served %d, 402 %d, other %d: want at most 50 served", ok.Load(), paymentRequired.Load(), other.Load())
	}
	bal, err := e.ledger.Balance(acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bal < 0 {
		t.Fatalf("balance %d < 0", bal)
	}
	t.Logf("served %d, refused %d, balance left %s nano-USD", ok.Load(), paymentRequired.Load(), strconv.FormatInt(bal, 10))
}
