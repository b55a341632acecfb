package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/core"
	"github.com/tollgate/tollgate/core/config"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/routing"
)

const cliAdminKey = "cli-test-admin-key"

// startNode runs a gateway on loopback and returns its API and admin URLs.
func startNode(t *testing.T) (apiURL, adminURL string) {
	t.Helper()
	yaml := "node: {name: cli-node}\nadmin_key: " + cliAdminKey + "\n"
	cfg, err := config.Parse("cli.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Node.DataDir = t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	router, err := routing.New(core.RoutingConfig(cfg), core.Catalog(cfg), time.Now, 1)
	if err != nil {
		t.Fatal(err)
	}
	ups, err := core.Upstreams(cfg)
	if err != nil {
		t.Fatal(err)
	}
	led, err := ledger.Open(core.LedgerConfig(cfg, log))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := core.New(core.Options{Config: cfg, Router: router, Upstreams: ups, Ledger: led, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- gw.Serve(apiLn, adminLn) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
		<-done
		if err := led.Close(); err != nil {
			t.Errorf("ledger close: %v", err)
		}
		http.DefaultClient.CloseIdleConnections()
	})
	return "http://" + apiLn.Addr().String(), "http://" + adminLn.Addr().String()
}

// tollgate runs the CLI in-process and returns what it printed.
func tollgate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := tollgate(t, args...)
	if err != nil {
		t.Fatalf("tollgate %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// keyStatus is the status of GET /api/v1/key with key.
func keyStatus(t *testing.T, apiURL, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", apiURL+"/api/v1/key", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestAdminCLI(t *testing.T) {
	apiURL, adminURL := startNode(t)
	t.Setenv("TOLLGATE_ADMIN_SERVER", adminURL)
	t.Setenv("TOLLGATE_ADMIN_KEY", cliAdminKey)

	// Accounts.
	if out := mustRun(t, "accounts", "create", "acme"); !strings.Contains(out, ledger.AccountID("acme")) {
		t.Fatalf("accounts create: %s", out)
	}
	if _, err := tollgate(t, "accounts", "create", "acme"); err == nil || !strings.Contains(err.Error(), "409") {
		t.Fatalf("second create: %v", err)
	}

	// Credits: a generated idempotency key is printed and makes a retry a no-op.
	out := mustRun(t, "credits", "grant", "--account", "acme", "--amount", "12.5")
	m := regexp.MustCompile(`idempotency key (cli-[0-9a-f]+)`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "credits $12.5") {
		t.Fatalf("grant: %s", out)
	}
	mustRun(t, "credits", "grant", "--account", ledger.AccountID("acme"), "--amount", "12.50", "--idempotency-key", m[1])
	if _, err := tollgate(t, "credits", "grant", "--account", "acme", "--amount", "3", "--idempotency-key", m[1]); err == nil || !strings.Contains(err.Error(), "409") {
		t.Fatalf("conflicting grant: %v", err)
	}
	out = mustRun(t, "credits", "show", "--account", "acme")
	if !strings.Contains(out, "credits $12.5, usage $0, balance $12.5") || !strings.Contains(out, m[1]) {
		t.Fatalf("credits show: %s", out)
	}
	out = mustRun(t, "credits", "show", "--account", "acme", "--json")
	var cv struct {
		Data struct {
			TotalCredits json.Number `json:"total_credits"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &cv); err != nil || cv.Data.TotalCredits != "12.5" {
		t.Fatalf("credits show --json: %v %s", err, out)
	}

	// Keys: create (secret once), list, disable, enable, delete.
	out = mustRun(t, "keys", "create", "--account", "acme", "--name", "svc", "--limit", "2", "--limit-reset", "monthly", "--json")
	var created struct {
		Data struct {
			Hash string `json:"hash"`
		} `json:"data"`
		Key string `json:"key"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || !strings.HasPrefix(created.Key, ledger.InferenceKeyPrefix) {
		t.Fatalf("keys create --json: %v %s", err, out)
	}
	if s := keyStatus(t, apiURL, created.Key); s != 200 {
		t.Fatalf("new key: GET /key %d", s)
	}
	out = mustRun(t, "keys", "create", "--account", "acme", "--management")
	if !regexp.MustCompile(`\n  ` + regexp.QuoteMeta(ledger.ManagementKeyPrefix) + `\S+\n`).MatchString(out) {
		t.Fatalf("management key: %s", out)
	}
	out = mustRun(t, "keys", "list", "--account", "acme")
	if !strings.Contains(out, created.Data.Hash) || !strings.Contains(out, "$2 monthly") || !strings.Contains(out, "management") {
		t.Fatalf("keys list: %s", out)
	}
	mustRun(t, "keys", "disable", created.Data.Hash)
	if s := keyStatus(t, apiURL, created.Key); s != 401 {
		t.Fatalf("disabled key: GET /key %d", s)
	}
	mustRun(t, "keys", "enable", created.Key) // the key itself names it too
	if s := keyStatus(t, apiURL, created.Key); s != 200 {
		t.Fatalf("enabled key: GET /key %d", s)
	}
	mustRun(t, "keys", "delete", created.Data.Hash)
	if s := keyStatus(t, apiURL, created.Key); s != 401 {
		t.Fatalf("deleted key: GET /key %d", s)
	}
	if _, err := tollgate(t, "keys", "delete", created.Data.Hash); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("second delete: %v", err)
	}

	out = mustRun(t, "accounts", "list")
	if !regexp.MustCompile(`acme\s+acct_[0-9a-f]+\s+\$12\.5\s+\$0\s+\$12\.5\s+1`).MatchString(out) {
		t.Fatalf("accounts list: %s", out)
	}

	// Bad input and bad credentials fail with a clear message.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"keys", "create", "--account", "acme", "--limit", "ten"}, "--limit"},
		{[]string{"keys", "create", "--account", "acme", "--limit-reset", "yearly"}, "--limit-reset"},
		{[]string{"keys", "create", "--name", "x"}, `"account" not set`},
		{[]string{"credits", "grant", "--account", "acme", "--amount", "0"}, "--amount"},
		{[]string{"credits", "show", "--account", "nobody"}, "no such account"},
		{[]string{"accounts", "list", "--admin-key", "wrong"}, "401"},
		{[]string{"accounts", "list", "--server", "ftp://x"}, "--server"},
	} {
		if _, err := tollgate(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("tollgate %s: %v, want an error with %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	t.Setenv("TOLLGATE_ADMIN_KEY", "")
	if _, err := tollgate(t, "accounts", "list"); err == nil || !strings.Contains(err.Error(), "TOLLGATE_ADMIN_KEY") {
		t.Errorf("no admin key: %v", err)
	}
}
