package core_test

// The dashboard test drives the embedded UI in a real headless Chromium
// (Debian's chromium package) through chromedp: tagged traffic through the
// gateway, the Usage page grouped by tag compared cell by cell with the
// analytics API, a credit grant through the form, and screenshots of every
// page at 1280×800 and at phone width. Without a browser it skips, unless
// TOLLGATE_REQUIRE_BROWSER=1 (CI) makes that a failure.

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/tollgate/tollgate/core/ui"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/routing"
)

// chromiumPath finds a Chromium binary, or "" if there is none.
func chromiumPath() string {
	if p := os.Getenv("TOLLGATE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	return ""
}

// startBrowser starts a headless Chromium for t and collects every console
// error, uncaught exception and browser-log error of its tab. The
// returned stop ends the browser and returns those messages.
func startBrowser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	exe := chromiumPath()
	if exe == "" {
		if os.Getenv("TOLLGATE_REQUIRE_BROWSER") == "1" {
			t.Fatal("no Chromium found (install Debian's chromium package or set TOLLGATE_CHROMIUM) and TOLLGATE_REQUIRE_BROWSER=1")
		}
		t.Skip("no Chromium found: install Debian's chromium package (apt-get install chromium) or set TOLLGATE_CHROMIUM to run the dashboard test")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider"),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	// Start the browser now (without a deadline: it would end the browser).
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		acancel()
		t.Fatalf("cannot start %s: %v", exe, err)
	}
	var (
		mu   sync.Mutex
		msgs []string
	)
	done := make(chan struct{})
	messages := chromedp.Console(ctx)
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				mu.Lock()
				msgs = append(msgs, fmt.Sprintf("%s (%s:%d)", m.String(), m.URL, m.Line))
				mu.Unlock()
			}
		}
	}()
	var once sync.Once
	stop := func() []string {
		once.Do(func() {
			cancel()
			acancel()
			<-done
		})
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), msgs...)
	}
	t.Cleanup(func() { stop() })
	return ctx, stop
}

// void drops the value of an action.
func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}

// screenshotDir is $TOLLGATE_TEST_OUT/<test> or a temporary folder.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out := os.Getenv("TOLLGATE_TEST_OUT"); out != "" {
		dir = filepath.Join(out, t.Name())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const dashboardModels = `models:
  - id: acme/chat
    context_length: 8192
    endpoints:
      - {provider: p1, upstream_model: up-chat, pricing: {prompt: 3, completion: 15}}
  - id: acme/mini
    context_length: 8192
    endpoints:
      - {provider: p2, upstream_model: up-mini, pricing: {prompt: 0.15, completion: 0.6}}
`

// adminJSON sends an admin request and decodes the JSON answer.
func (e *env) adminJSON(method, path, body string, out any, hdr ...string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.admin+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.cfg.AdminKey)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		e.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b.Bytes())
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
}

// nanoOf parses a USD JSON number exactly.
func nanoOf(t *testing.T, n json.Number) int64 {
	t.Helper()
	v, err := routing.ParseUSD(n.String())
	if err != nil {
		t.Fatalf("USD %q: %v", n, err)
	}
	return v
}

var dashboardTags = []string{"team:search", "team:ads,feature:summarize", "team:search,feature:chat", "feature:summarize", ""}

// seedHistory settles backdated generations for the last hours through the
// ledger, as earlier traffic would have, so the charts have a past.
func seedHistory(t *testing.T, e *env) {
	t.Helper()
	k, err := e.ledger.Authenticate([]byte(testKey))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	now := time.Now()
	models := []struct{ model, provider, up string }{{"acme/chat", "p1", "up-chat"}, {"acme/mini", "p2", "up-mini"}}
	apps := []string{"Search UI", "Summarizer", "Support bot"}
	for h := 20; h >= 1; h-- {
		n := 3 + rng.IntN(6)
		for i := 0; i < n; i++ {
			m := models[rng.IntN(len(models))]
			var tags []string
			if s := dashboardTags[rng.IntN(len(dashboardTags))]; s != "" {
				tags = strings.Split(s, ",")
			}
			pt, ct := int64(200+rng.IntN(2000)), int64(50+rng.IntN(600))
			cost := pt*3000 + ct*15000 // nano-USD at $3 / $15 per million
			if m.model == "acme/mini" {
				cost = pt*150 + ct*600
			}
			lat := time.Duration(300+rng.IntN(2500)) * time.Millisecond
			ttft := lat / time.Duration(3+rng.IntN(4))
			res, err := e.ledger.Reserve(k, cost)
			if err != nil {
				t.Fatal(err)
			}
			status := 200
			if rng.IntN(25) == 0 {
				status, cost, pt, ct = 502, 0, 0, 0
			}
			g := &ledger.Generation{
				Model: m.model, Provider: m.provider, UpstreamModel: m.up, APIPath: "/api/v1/chat/completions",
				App: apps[rng.IntN(len(apps))], User: fmt.Sprintf("user-%d", rng.IntN(5)), Tags: tags,
				Created: now.Add(-time.Duration(h)*time.Hour - time.Duration(rng.IntN(3000))*time.Second),
				Status:  status, FinishReason: "stop", PromptTokens: pt, CompletionTokens: ct,
				Latency: lat, TTFT: ttft, GenerationTime: lat - ttft, Streamed: rng.IntN(2) == 0,
			}
			if err := e.ledger.Settle(res, cost, g); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestDashboard(t *testing.T) {
	if testing.Short() && os.Getenv("TOLLGATE_REQUIRE_BROWSER") != "1" {
		t.Skip("the browser test is skipped in -short mode")
	}
	bctx, stopBrowser := startBrowser(t)
	e := newEnv(t, []mockSpec{{name: "p1"}, {name: "p2"}}, dashboardModels, "")
	out := screenshotDir(t)

	// Traffic: tagged, from several apps and users, on two models.
	seedHistory(t, e)
	var genID string
	for i := 0; i < 24; i++ {
		model := "acme/chat"
		if i%3 == 0 {
			model = "acme/mini"
		}
		body := fmt.Sprintf(`{"model":%q,"user":"user-%d","max_tokens":64,"messages":[{"role":"user","content":"request %d"}]}`, model, i%4, i)
		res := e.post("/api/v1/chat/completions", body,
			"X-Tollgate-Tags", dashboardTags[i%len(dashboardTags)], "X-Title", []string{"Search UI", "Summarizer"}[i%2])
		if res.status != 200 {
			t.Fatalf("request %d: %d %s", i, res.status, res.body)
		}
		genID = res.header.Get("X-Generation-Id")
	}

	// What the analytics API says per tag (all buckets of the last day).
	var q struct {
		Data struct {
			Rows []struct {
				Group map[string]string `json:"group"`
				Stats struct {
					Requests json.Number `json:"requests"`
					Cost     json.Number `json:"cost"`
				} `json:"stats"`
			} `json:"rows"`
		} `json:"data"`
	}
	e.adminJSON("POST", "/admin/v1/analytics/query", `{"group_by":["tag"],"granularity":"hour","metrics":["requests","cost"]}`, &q)
	want := map[string]int64{}
	for _, row := range q.Data.Rows {
		want[row.Group["tag"]] += nanoOf(t, row.Stats.Cost)
	}
	if len(want) < 4 {
		t.Fatalf("expected several tags in the analytics, got %v from %+v", want, q)
	}

	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(what, js string, out any) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 20*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](js))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := json.Unmarshal(v, out); err != nil {
			t.Fatalf("%s: %v (%s)", what, err, v)
		}
	}
	// ready waits for the page's data-ready flag and a condition.
	ready := func(what, cond string) {
		t.Helper()
		run(what, void(chromedp.Poll[bool](`document.querySelector('#main').dataset.ready === '1' && (`+cond+`)`,
			chromedp.WithPollingTimeout(15*time.Second))))
	}
	shot := func(name string, full bool) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 20*time.Second)
		defer cancel()
		var b []byte
		var err error
		if full {
			b, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
		} else {
			b, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
		}
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		p := filepath.Join(out, name+".png")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
		return p
	}
	setSelect := func(id, value string) {
		t.Helper()
		var ok bool
		eval("select "+id, fmt.Sprintf(`(() => { const s = document.getElementById(%q); s.value = %q; s.dispatchEvent(new Event('change')); return s.value === %q; })()`, id, value, value), &ok)
		if !ok {
			t.Fatalf("cannot select %q in #%s", value, id)
		}
	}

	// Sign in with the admin key.
	run("open the dashboard",
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(e.admin+"/ui/"),
		chromedp.WaitVisible(`#login-key`),
		chromedp.SendKeys(`#login-key`, e.cfg.AdminKey),
		chromedp.Click(`#login-form button[type=submit]`),
		chromedp.WaitVisible(`#app`))
	ready("overview", `document.querySelector('#kpi-requests') !== null`)
	var kpi string
	eval("overview requests", `document.querySelector('#kpi-requests').textContent`, &kpi)
	if kpi != "24" { // the last hour holds the live traffic only
		t.Errorf("overview shows %s requests in the last hour, want 24", kpi)
	}
	shot("overview", false)
	setSelect("ov-range", "24h")
	ready("overview of a day", `document.querySelector('#kpi-requests').textContent !== '24'`)
	shot("overview-24h", true)

	// Usage by tag, compared with the analytics API cell by cell.
	run("usage page", chromedp.Click(`#nav a[data-page="usage"]`))
	ready("usage", `document.querySelector('#usage-table') !== null`)
	setSelect("usage-range", "24h")
	setSelect("usage-group", "tag")
	ready("usage by tag", `document.querySelector('#main .grid').dataset.ready === '1' && document.querySelector('#usage-table th').textContent === 'Tag'`)
	var cells []struct {
		Group string `json:"group"`
		Nano  string `json:"nano"`
		Text  string `json:"text"`
	}
	eval("usage cells", `[...document.querySelectorAll('#usage-table tbody tr')].map((tr) => ({
		group: tr.querySelector('td.group').dataset.group,
		nano: tr.querySelector('td.cost').dataset.nano,
		text: tr.querySelector('td.cost').textContent }))`, &cells)
	if len(cells) != len(want) {
		t.Fatalf("the page shows %d tag rows, the API %d: %+v vs %v", len(cells), len(want), cells, want)
	}
	for _, c := range cells {
		w, ok := want[c.Group]
		if !ok {
			t.Errorf("tag %q on the page is not in the API", c.Group)
			continue
		}
		if c.Nano != strconv.FormatInt(w, 10) {
			t.Errorf("tag %q: page %s nano-USD, API %d", c.Group, c.Nano, w)
		}
		shown, err := routing.ParseUSD(strings.ReplaceAll(strings.TrimPrefix(c.Text, "$"), ",", ""))
		if err != nil || shown-w > 500 || w-shown > 500 { // six decimals shown
			t.Errorf("tag %q: page shows %q for %d nano-USD", c.Group, c.Text, w)
		}
	}
	// The CSV export is the same query: its cost column sums to the same
	// per-tag totals.
	csvDir := t.TempDir()
	pctx, pcancel := context.WithTimeout(bctx, 20*time.Second)
	defer pcancel()
	progress := chromedp.Events(pctx, browser.DownloadProgress)
	events := true
	run("export CSV", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: csvDir, EventsEnabled: &events})
		return err
	}), chromedp.Click(`#usage-csv`))
	var csvPath string
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("waiting for the CSV download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			csvPath = filepath.Join(csvDir, ev.GUID)
			break
		}
	}
	pcancel()
	checkCSV(t, csvPath, want)
	usagePNG := shot("usage", false)
	if os.Getenv("TOLLGATE_UPDATE_SCREENSHOTS") == "1" {
		b, err := os.ReadFile(usagePNG)
		if err == nil {
			err = os.WriteFile(filepath.Join("..", "docs", "img", "usage.png"), b, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// Phone width: no horizontal scrolling of the page itself.
	run("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	ready("usage at phone width", `document.querySelector('#usage-table') !== null`)
	var overflow bool
	eval("phone overflow", `document.documentElement.scrollWidth > window.innerWidth + 1`, &overflow)
	if overflow {
		t.Error("the Usage page scrolls sideways at 390 px")
	}
	shot("usage-phone", true)
	run("desktop viewport", chromedp.EmulateViewport(1280, 800))

	// Keys & credits: grant through the form, see the balance change.
	run("keys page", chromedp.Click(`#nav a[data-page="keys"]`))
	ready("keys", `document.querySelector('#acct-balance') !== null && document.querySelector('#keys-table') !== null`)
	var before struct {
		Nano string `json:"nano"`
		Idem string `json:"idem"`
	}
	eval("balance", `({nano: document.querySelector('#acct-balance').dataset.nano, idem: document.querySelector('#grant-idem').textContent})`, &before)
	b0, err := strconv.ParseInt(before.Nano, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	run("grant", chromedp.SendKeys(`#grant-amount`, "12.5"), chromedp.Click(`#grant-submit`))
	want1 := b0 + 12_500_000_000
	ready("balance after the grant", fmt.Sprintf(`document.querySelector('#acct-balance').dataset.nano === '%d'`, want1))
	var cr struct {
		Data struct {
			Balance json.Number `json:"balance"`
			Grants  []struct {
				IdempotencyKey string      `json:"idempotency_key"`
				Amount         json.Number `json:"amount"`
			} `json:"grants"`
		} `json:"data"`
	}
	e.adminJSON("GET", "/admin/v1/accounts/acme/credits", "", &cr)
	if got := nanoOf(t, cr.Data.Balance); got != want1 {
		t.Errorf("API balance %d after the grant, the page shows %d", got, want1)
	}
	found := false
	for _, g := range cr.Data.Grants {
		found = found || g.IdempotencyKey == before.Idem && nanoOf(t, g.Amount) == 12_500_000_000
	}
	if !found || !strings.HasPrefix(before.Idem, "ui-grant-") {
		t.Errorf("no grant of $12.5 under the form's idempotency key %q: %+v", before.Idem, cr.Data.Grants)
	}
	shot("keys", true)

	// Generation lookup.
	var gen struct {
		Data struct {
			TotalCost json.Number `json:"total_cost"`
		} `json:"data"`
	}
	e.adminJSON("GET", "/admin/v1/generation?id="+genID, "", &gen)
	run("generation page", void(chromedp.Evaluate[json.RawMessage](`location.hash = '#/generations/`+genID+`'`)))
	ready("generation", `document.querySelector('#gen-cost') !== null`)
	var genNano string
	eval("generation cost", `document.querySelector('#gen-cost').dataset.nano`, &genNano)
	if genNano != strconv.FormatInt(nanoOf(t, gen.Data.TotalCost), 10) {
		t.Errorf("generation cost on the page %s nano-USD, API %s USD", genNano, gen.Data.TotalCost)
	}
	shot("generation", true)

	run("providers page", chromedp.Click(`#nav a[data-page="providers"]`))
	ready("providers", `document.querySelectorAll('#providers-table tbody tr').length === 2`)
	shot("providers", true)
	run("cluster page", chromedp.Click(`#nav a[data-page="cluster"]`))
	ready("cluster", `document.querySelector('#cluster-members') !== null`)
	shot("cluster", true)

	// A management key sees its own account only, and no operator pages.
	var mk struct {
		Key string `json:"key"`
	}
	e.adminJSON("POST", "/admin/v1/accounts", `{"name":"other"}`, &struct{}{})
	e.adminJSON("POST", "/admin/v1/accounts/acme/keys", `{"name":"dash-mgmt","management":true}`, &mk)
	run("sign out and in with a management key",
		chromedp.Click(`#logout`),
		chromedp.WaitVisible(`#login-key`),
		chromedp.SendKeys(`#login-key`, mk.Key),
		chromedp.Click(`#login-form button[type=submit]`),
		chromedp.WaitVisible(`#app`),
		void(chromedp.Evaluate[json.RawMessage](`location.hash = '#/keys'`)))
	ready("keys as management", `document.querySelector('#acct-balance') !== null && document.querySelector('#keys-table') !== null`)
	var view struct {
		Accounts, Grant, Operator bool
		Keys                      int
	}
	eval("management view", `({
		Accounts: document.querySelector('#accounts-table') !== null,
		Grant: document.querySelector('#grant-form') !== null,
		Operator: !document.querySelector('#nav a[data-page="providers"]').hidden,
		Keys: document.querySelectorAll('#keys-table tbody tr').length })`, &view)
	if view.Accounts || view.Grant || view.Operator || view.Keys != 2 {
		t.Errorf("management key view: %+v (want its account's 2 keys, no accounts, grants or operator pages)", view)
	}
	run("usage as management", chromedp.Click(`#nav a[data-page="usage"]`))
	ready("usage by tag as management", `document.querySelector('#main .grid').dataset.ready === '1' && document.querySelectorAll('#usage-table tbody tr').length === `+strconv.Itoa(len(want)))

	if errs := stopBrowser(); len(errs) > 0 {
		t.Errorf("the browser console has errors:\n%s", strings.Join(errs, "\n"))
	}
}

// checkCSV checks the Usage export grouped by tag against the API's
// per-tag costs.
func checkCSV(t *testing.T, path string, want map[string]int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the CSV export: %v", err)
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("the CSV export: %v\n%s", err, b)
	}
	head := recs[0]
	if head[0] != "bucket" || head[1] != "tag" || !slices.Contains(head, "cost") {
		t.Fatalf("CSV header %q", head)
	}
	col := slices.Index(head, "cost")
	got := map[string]int64{}
	for _, r := range recs[1:] {
		got[r[1]] += nanoOf(t, json.Number(r[col]))
	}
	if !maps.Equal(got, want) {
		t.Errorf("CSV per-tag cost %v, API %v", got, want)
	}
}

// TestAdminListenerAccountAPI checks what the dashboard relies on without
// a browser: the account API on the admin listener, scoped by the
// caller's own key, and the admin generation lookup.
func TestAdminListenerAccountAPI(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1"}}, oneModel, "")
	res := e.post("/api/v1/chat/completions", `{"model":"acme/chat","messages":[{"role":"user","content":"hi"}]}`)
	if res.status != 200 {
		t.Fatalf("chat: %d %s", res.status, res.body)
	}
	id := res.header.Get("X-Generation-Id")
	var mk struct {
		Key string `json:"key"`
	}
	e.adminJSON("POST", "/admin/v1/accounts/acme/keys", `{"name":"m","management":true}`, &mk)
	bearer := func(k string) []string { return []string{"Authorization", "Bearer " + k} }
	f := func(base, path, key string, want int) []byte {
		t.Helper()
		r := e.get(base, path, bearer(key)...)
		if r.status != want {
			t.Fatalf("GET %s%s: %d, want %d: %s", base, path, r.status, want, r.body)
		}
		return r.body
	}
	admin := e.cfg.AdminKey
	mustContain(t, f(e.admin, "/admin/v1/generation?id="+id, admin, 200), `"id":"`+id+`"`)
	f(e.admin, "/admin/v1/generation?id=gen-test-node-nope", admin, 404)
	f(e.admin, "/admin/v1/generation?id="+id, mk.Key, 401)
	mustContain(t, f(e.admin, "/api/v1/generation?id="+id, mk.Key, 200), `"id":"`+id+`"`)
	mustContain(t, f(e.admin, "/api/v1/key", mk.Key, 200), `"is_management_key":true`)
	mustContain(t, f(e.admin, "/api/v1/credits", mk.Key, 200), `"total_credits":100`)
	mustContain(t, f(e.admin, "/api/v1/keys", mk.Key, 200), `"name":"m"`)
	f(e.admin, "/api/v1/keys", testKey, 403)
	f(e.admin, "/api/v1/keys", admin, 401) // the admin key is no account key
	f(e.admin, "/api/v1/models", mk.Key, 404)
	if r := e.get(e.admin, "/api/v1/chat/completions"); r.status != 404 {
		t.Fatalf("inference on the admin listener: %d", r.status)
	}
	// /ui redirects to /ui/ (the client follows it), with the CSP; the
	// public listener has no dashboard.
	if r := e.get(e.admin, "/ui"); r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") ||
		r.header.Get("Content-Security-Policy") != ui.ContentSecurityPolicy {
		t.Fatalf("GET /ui: %d %v", r.status, r.header)
	}
	if r := e.get(e.api, "/ui/"); r.status != 404 {
		t.Fatalf("the public listener serves the dashboard: %d", r.status)
	}
}
