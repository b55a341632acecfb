package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tollgate/tollgate/bench/mock"
	"github.com/tollgate/tollgate/core/config"
)

// demoEnv is what demo mode runs beside the gateway: simulated providers
// on loopback and a generated config.
type demoEnv struct {
	cfg      *config.Config
	mocks    []*mock.Server
	key      string
	adminKey string
}

// demoProviders are the simulated providers: each a tollgate mock with its
// own latency profile, reached through the real proxy path.
var demoProviders = []struct {
	name      string
	ttft, gap time.Duration
	tokens    int
	training  bool
	retains   bool
	zdr       bool
}{
	{name: "sim-fast", ttft: 40 * time.Millisecond, gap: 8 * time.Millisecond, tokens: 24, zdr: true},
	{name: "sim-cheap", ttft: 250 * time.Millisecond, gap: 30 * time.Millisecond, tokens: 24, training: true, retains: true},
	{name: "sim-large", ttft: 120 * time.Millisecond, gap: 15 * time.Millisecond, tokens: 48, retains: true},
}

// The demo catalog: prices in USD per million tokens.
const demoModels = `
models:
  - id: demo/mini
    name: "Demo: Mini"
    context_length: 32768
    endpoints:
      - {provider: sim-cheap, upstream_model: mini-q4, quantization: int4, pricing: {prompt: 0.05, completion: 0.20}}
      - {provider: sim-fast, upstream_model: mini, quantization: fp16, pricing: {prompt: 0.10, completion: 0.40}}
  - id: demo/standard
    name: "Demo: Standard"
    context_length: 131072
    endpoints:
      - {provider: sim-fast, upstream_model: standard, pricing: {prompt: 0.50, completion: 1.50}, max_completion_tokens: 16384}
      - {provider: sim-large, upstream_model: standard-v2, pricing: {prompt: 0.60, completion: 1.80}, max_completion_tokens: 16384}
  - id: demo/large
    name: "Demo: Large"
    context_length: 200000
    modalities: {input: [text, image], output: [text]}
    endpoints:
      - {provider: sim-large, upstream_model: large, pricing: {prompt: 3, completion: 15, input_cache_read: 0.30}, max_completion_tokens: 8192}
  - id: demo/tiny
    name: "Demo: Tiny (free)"
    context_length: 8192
    endpoints:
      - {provider: sim-cheap, upstream_model: tiny, pricing: {prompt: 0, completion: 0}}
`

func startDemo() (*demoEnv, error) {
	d := &demoEnv{}
	dataDir := config.DefaultDataDir
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", dataDir, err)
	}
	var err error
	if d.key, err = persistentSecret(filepath.Join(dataDir, "demo-key"), "sk-tg-demo-"); err != nil {
		return nil, err
	}
	if d.adminKey, err = persistentSecret(filepath.Join(dataDir, "admin-key"), "tg-admin-"); err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "node: {name: demo, region: local, data_dir: %q}\n", dataDir)
	fmt.Fprintf(&b, "admin_key: %q\n", d.adminKey)
	b.WriteString("providers:\n")
	for _, p := range demoProviders {
		m := mock.New(mock.Config{TTFT: p.ttft, TokenGap: p.gap, Tokens: p.tokens, Latency: p.ttft})
		if err := m.Listen("127.0.0.1:0"); err != nil {
			d.Close()
			return nil, fmt.Errorf("cannot start simulated provider %s: %w", p.name, err)
		}
		d.mocks = append(d.mocks, m)
		fmt.Fprintf(&b, "  - {name: %s, protocol: openai, base_url: %q, data_policy: {training: %v, retains_prompts: %v, zdr: %v}}\n",
			p.name, m.URL(), p.training, p.retains, p.zdr)
	}
	b.WriteString(demoModels)
	fmt.Fprintf(&b, "accounts:\n  - name: demo\n    credits: 10\n    keys:\n      - {name: demo, key: %q}\n", d.key)
	d.cfg, err = config.Parse("demo", []byte(b.String()), func(string) (string, bool) { return "", false })
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("BUG: demo config: %w", err)
	}
	return d, nil
}

// persistentSecret returns the secret stored at path, creating it (0600)
// on first use so the demo key survives restarts.
func persistentSecret(path, prefix string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		if s := strings.TrimSpace(string(b)); strings.HasPrefix(s, prefix) {
			return s, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("cannot read %s: %w", path, err)
	}
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	s := prefix + hex.EncodeToString(r[:])
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("cannot write %s: %w", path, err)
	}
	return s, nil
}

func (d *demoEnv) printBanner(w io.Writer, apiAddr, adminAddr string) {
	fmt.Fprintf(w, `
Tollgate demo is running (simulated providers; no real model is called).

  API:        http://%[1]s/api/v1   (also /v1)
  Dashboard:  http://%[2]s/ui/   (sign in with the admin key)
  Metrics:    http://%[2]s/metrics
  Demo key:   %[3]s   (saved in tollgate-data/demo-key)
  Admin key:  %[4]s   (saved in tollgate-data/admin-key)
  Models:     demo/mini, demo/standard, demo/large, demo/tiny

Try it:

  curl -s http://%[1]s/api/v1/chat/completions \
    -H "Authorization: Bearer %[3]s" -H "Content-Type: application/json" \
    -d '{"model":"demo/mini","messages":[{"role":"user","content":"Hello!"}]}'

`, apiAddr, adminAddr, d.key, d.adminKey)
}

func (d *demoEnv) Close() {
	for _, m := range d.mocks {
		_ = m.Close()
	}
}
