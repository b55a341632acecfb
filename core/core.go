// Package core is Tollgate's data path on fasthttp: the public and admin
// listeners, their server settings (timeouts that never cut a stream, body
// limits answered in the OpenAI error shape), graceful shutdown, and the
// assembly of providers and catalog from config. The endpoints themselves
// live in core/api, protocols in core/provider, the upstream pools in
// core/upstream.
//
// core imports routing, ledger and cluster; nothing but cmd imports core.
package core

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/pprofhandler"

	"github.com/tollgate/tollgate/cluster"
	"github.com/tollgate/tollgate/core/api"
	"github.com/tollgate/tollgate/core/catalogstore"
	"github.com/tollgate/tollgate/core/config"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/telemetry"
	"github.com/tollgate/tollgate/core/ui"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/routing"
)

// Options assemble a Gateway. Config, Router, Upstreams and Ledger are
// required; the caller opens and closes the ledger.
type Options struct {
	Config    *config.Config
	Router    *routing.Router
	Upstreams map[string]*provider.Upstream
	Ledger    *ledger.Ledger
	Logger    *slog.Logger
	// Catalog persists runtime catalog changes (nil: not persisted).
	Catalog *catalogstore.Store
	// OnCatalogChange receives every catalog record that changed the
	// catalog (the cluster gossips them). Optional.
	OnCatalogChange func([]routing.CatalogRecord)
	// Cluster is this node's cluster membership, shown by
	// /admin/v1/cluster and consulted by /readyz (nil: a single node).
	// The caller starts and shuts it down.
	Cluster *cluster.Cluster
	// Metrics is the set the gateway's series are created in, so that
	// /metrics also shows series other parts created there (the
	// cluster's). Default: a new set.
	Metrics *metrics.Set
	// Version is the build's version, reported as service.version in
	// traces.
	Version string
}

// Gateway owns both listeners.
type Gateway struct {
	o        Options
	log      *slog.Logger
	API      *api.API
	Metrics  *api.Metrics
	apiSrv   *fasthttp.Server
	adminSrv *fasthttp.Server
	wg       sync.WaitGroup
	// peerClient forwards requests to other cluster members.
	peerClient fasthttp.Client
	// ui serves the embedded dashboard on the admin listener.
	ui      *ui.Handler
	started time.Time
	// tracer exports request traces (nil: telemetry off); Shutdown
	// flushes it.
	tracer *telemetry.Tracer
}

// New builds a gateway; Serve starts it.
func New(o Options) (*Gateway, error) {
	if o.Config == nil || o.Router == nil || o.Ledger == nil {
		return nil, errors.New("core: Config, Router and Ledger are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	cfg := o.Config
	g := &Gateway{o: o, log: o.Logger, Metrics: api.NewMetrics(o.Metrics), started: time.Now()}
	var err error
	if g.ui, err = ui.New(); err != nil {
		return nil, fmt.Errorf("core: cannot load the dashboard: %w", err)
	}
	g.Metrics.SyncEndpoints(o.Router.Snapshot())
	var fanOut func(*fasthttp.RequestCtx, ledger.AnalyticsResult) (ledger.AnalyticsResult, []string)
	if o.Cluster != nil {
		fanOut = g.fanOutAnalytics
	}
	if cfg.Telemetry.Enabled {
		if g.tracer, err = telemetry.New(TelemetryConfig(cfg, o.Version, o.Logger)); err != nil {
			return nil, fmt.Errorf("core: %w", err)
		}
	}
	g.API = api.New(api.Options{
		Tracer:         g.tracer,
		FanOut:         fanOut,
		Router:         o.Router,
		Upstreams:      o.Upstreams,
		Ledger:         o.Ledger,
		Metrics:        g.Metrics,
		Logger:         o.Logger,
		Node:           cfg.Node.Name,
		Region:         cfg.Node.Region,
		KeepAlive:      cfg.Server.KeepAlive,
		MaxConcurrent:  cfg.Limits.MaxConcurrent,
		RequestTimeout: cfg.Limits.RequestTimeout,
		RateLimits: api.RateLimits{
			FreePerMinute: cfg.Limits.FreeRequestsPerMinute, FreePerDay: cfg.Limits.FreeRequestsPerDay,
			KeyRPM: cfg.Limits.KeyRequestsPerMinute, KeyTPM: cfg.Limits.KeyTokensPerMinute,
		},
		OverheadHeader: *cfg.Server.OverheadHeader,
		Ready:          g.clusterReady,
	})
	apiHandler := g.API.Handler
	if o.Cluster != nil {
		apiHandler = g.clusteredAPIHandler
	}
	g.apiSrv = &fasthttp.Server{
		Handler:               g.recoverer(apiHandler),
		Name:                  "tollgate",
		ReadTimeout:           cfg.Server.ReadTimeout,
		IdleTimeout:           cfg.Server.IdleTimeout,
		MaxRequestBodySize:    int(cfg.Limits.MaxRequestBody),
		MaxConnsPerIP:         cfg.Server.MaxConnsPerIP,
		Concurrency:           cfg.Server.Concurrency,
		ErrorHandler:          errorHandler,
		CloseOnShutdown:       true,
		NoDefaultServerHeader: true,
		Logger:                fasthttpLogger{o.Logger},
		// No WriteTimeout: fasthttp applies it to the whole response,
		// streamed body included, and would cut long generations. Slow
		// readers are bounded by the stream's per-write flushes instead.
	}
	g.adminSrv = &fasthttp.Server{
		Handler:               g.recoverer(g.adminHandler),
		Name:                  "tollgate-admin",
		ReadTimeout:           cfg.Server.ReadTimeout,
		IdleTimeout:           cfg.Server.IdleTimeout,
		MaxRequestBodySize:    1 << 20,
		ErrorHandler:          errorHandler,
		CloseOnShutdown:       true,
		NoDefaultServerHeader: true,
		Logger:                fasthttpLogger{o.Logger},
	}
	return g, nil
}

// errorHandler answers requests fasthttp could not parse, in the OpenAI
// error shape: 413 for bodies over the limit (fasthttp rejects them from
// Content-Length without reading them), 408 for read timeouts, else 400.
func errorHandler(ctx *fasthttp.RequestCtx, err error) {
	e := &api.Error{Status: fasthttp.StatusBadRequest, Message: "cannot parse request: " + err.Error()}
	var ne net.Error
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		e = &api.Error{Status: fasthttp.StatusRequestEntityTooLarge, Message: "request body is larger than limits.max_request_body"}
	case errors.As(err, &ne) && ne.Timeout():
		e = &api.Error{Status: fasthttp.StatusRequestTimeout, Message: "timed out reading the request"}
	}
	api.WriteError(ctx, e)
}

type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug("fasthttp", "msg", fmt.Sprintf(format, args...))
}

// Serve runs both listeners until Shutdown. It returns the first error of
// either server.
func (g *Gateway) Serve(apiLn, adminLn net.Listener) error {
	errc := make(chan error, 2)
	g.wg.Add(2)
	go func() { defer g.wg.Done(); errc <- g.apiSrv.Serve(apiLn) }()
	go func() { defer g.wg.Done(); errc <- g.adminSrv.Serve(adminLn) }()
	err := <-errc
	return err
}

// Shutdown stops accepting, lets in-flight requests and streams finish
// until ctx expires, then ends the remaining streams with a terminal SSE
// error chunk and closes every connection.
func (g *Gateway) Shutdown(ctx context.Context) error {
	_ = g.adminSrv.ShutdownWithContext(ctx)
	err := g.apiSrv.ShutdownWithContext(ctx)
	if err != nil {
		g.log.Warn("drain deadline passed; aborting streams", "streams", g.API.Streams())
		g.API.AbortStreams()
		ctx2, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = g.apiSrv.ShutdownWithContext(ctx2)
	}
	g.API.Close()
	g.wg.Wait()
	for _, u := range g.o.Upstreams {
		u.Client.CloseIdle()
	}
	if g.tracer != nil {
		// Every request has ended: export the spans still queued.
		tctx, cancel := context.WithTimeout(context.Background(), max(g.o.Config.Telemetry.Timeout, time.Second))
		if terr := g.tracer.Shutdown(tctx); terr != nil {
			g.log.Warn("cannot flush traces", "error", terr)
		}
		cancel()
	}
	return err
}

func (g *Gateway) adminHandler(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	switch path {
	case "/healthz":
		g.API.Handler(ctx)
		return
	case "/readyz":
		g.readyz(ctx)
		return
	case "/metrics":
		ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
		g.Metrics.WritePrometheus(ctx)
		// go_goroutines, go_memstats_*, process_resident_memory_bytes,
		// process_open_fds: what an operator (and `make soak`) watches
		// for leaks.
		metrics.WriteProcessMetrics(ctx)
		metrics.WriteFDMetrics(ctx)
		return
	}
	if path == "/ui" || strings.HasPrefix(path, ui.Prefix) {
		// Static files only, no data: the page authenticates its API
		// calls with the key it logged in with.
		g.ui.Serve(ctx)
		return
	}
	if adminAccountPath(path) {
		// The dashboard logged in with a management key reads its own
		// account through the public account API, scoped by that key.
		if g.o.Cluster != nil {
			g.clusteredAPIHandler(ctx)
		} else {
			g.API.Handler(ctx)
		}
		return
	}
	if strings.HasPrefix(path, "/debug/pprof") {
		// Profiles for operators (and the performance work): admin key only.
		if !g.adminAuth(ctx) {
			api.WriteError(ctx, &api.Error{Status: fasthttp.StatusUnauthorized, Message: "profiles need 'Authorization: Bearer <admin_key>'"})
			return
		}
		pprofhandler.PprofHandler(ctx)
		return
	}
	if !strings.HasPrefix(path, "/admin/") {
		api.WriteError(ctx, &api.Error{Status: fasthttp.StatusNotFound, Message: "no such endpoint"})
		return
	}
	if !g.adminAuth(ctx) {
		api.WriteError(ctx, &api.Error{Status: fasthttp.StatusUnauthorized, Message: "admin endpoints need 'Authorization: Bearer <admin_key>'"})
		return
	}
	switch {
	case path == "/admin/v1/providers":
		g.adminProviders(ctx)
	case path == "/admin/v1/cluster":
		g.adminCluster(ctx)
	case path == "/admin/v1/catalog", strings.HasPrefix(path, "/admin/v1/catalog/"):
		g.adminCatalog(ctx, strings.TrimPrefix(path, "/admin/v1/catalog"))
	case path == "/admin/v1/generation" && g.o.Cluster != nil && g.forwardGeneration(ctx):
		// served by the member named in the id
	case path == "/admin/v1/accounts", strings.HasPrefix(path, "/admin/v1/accounts/"),
		strings.HasPrefix(path, "/admin/v1/keys/"), path == "/admin/v1/analytics/query",
		path == "/admin/v1/generation":
		g.API.Admin(ctx)
	default:
		api.WriteError(ctx, &api.Error{Status: fasthttp.StatusNotFound, Message: "no such endpoint"})
	}
}

// adminAccountPath reports whether path is one of the public account
// endpoints the admin listener also serves, authenticated by the caller's
// own key as on the public listener: GET /key, /credits, /generation,
// /activity, the provisioning API (/keys, /keys/{hash}) and
// POST /analytics/query, under /api/v1.
func adminAccountPath(path string) bool {
	switch path {
	case "/api/v1/key", "/api/v1/credits", "/api/v1/generation", "/api/v1/keys",
		"/api/v1/activity", "/api/v1/analytics/query":
		return true
	}
	return strings.HasPrefix(path, "/api/v1/keys/")
}

func (g *Gateway) adminAuth(ctx *fasthttp.RequestCtx) bool {
	key := g.o.Config.AdminKey
	if key == "" {
		return false
	}
	h := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	const p = "Bearer "
	if len(h) <= len(p) || !strings.EqualFold(string(h[:len(p)]), p) {
		return false
	}
	// Digests, not the keys, are compared: ConstantTimeCompare returns at
	// once on a length mismatch, which would tell the key's length.
	got, want := sha256.Sum256(h[len(p):]), sha256.Sum256([]byte(key))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// adminProviders serves live routing statistics per endpoint.
func (g *Gateway) adminProviders(ctx *fasthttp.RequestCtx) {
	snap := g.o.Router.Snapshot()
	type epOut struct {
		Provider string                `json:"provider"`
		Model    string                `json:"model"`
		Stats    routing.EndpointStats `json:"stats"`
		Conns    int                   `json:"upstream_connections"`
	}
	var out []epOut
	for _, m := range snap.Models() {
		for _, ep := range m.Endpoints {
			e := epOut{Provider: ep.Provider, Model: ep.Model, Stats: g.o.Router.Stats(ep)}
			if u := g.o.Upstreams[strings.ToLower(ep.Provider)]; u != nil {
				e.Conns = u.Client.Conns()
			}
			out = append(out, e)
		}
	}
	b, err := json.Marshal(map[string]any{"data": out})
	if err != nil {
		api.WriteError(ctx, &api.Error{Status: 500, Message: "cannot encode stats"})
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// Readiness with a cluster (SPEC §2 "readyz: stores open, catalog loaded,
// cluster joined"):
//
//   - a node configured to join that has not yet seen any other member
//     answers 503 {"status":"not_ready","reason":"cluster not joined…"}:
//     it holds none of the cluster's keys or balances yet;
//   - a node that joined but now sees less than a majority of the known
//     members answers 200 {"status":"ok","partitioned":true,…}: it keeps
//     serving, each key's new spend limited to ledger.partition_allowance.
//     Taking every minority node out of a load balancer would turn a
//     network split (a whole region cut off) into an outage, and the
//     allowance is the designed bound on what the split can cost; a
//     balancer that prefers the majority side can match on the body;
//   - otherwise core/api's answer stands ({"status":"ok"} or its 503s).

// clusterReady is api.Options.Ready: an error while the node has not
// joined its cluster yet.
func (g *Gateway) clusterReady() error {
	c := g.o.Cluster
	if c == nil || c.Majority() {
		return nil
	}
	for _, m := range c.Members() {
		if !m.Local {
			return nil // joined once; now partitioned, reported by readyz
		}
	}
	return errors.New("cluster not joined: no member of cluster.join answered yet")
}

// clusteredAPIHandler is the public handler of a clustered node: /readyz
// gets the partition report, everything else goes straight to the API.
func (g *Gateway) clusteredAPIHandler(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/readyz":
		g.readyz(ctx)
		return
	case "/api/v1/generation", "/v1/generation":
		if g.forwardGeneration(ctx) {
			return
		}
	}
	g.API.Handler(ctx)
}

// forwardGeneration answers GET /generation?id= for a generation another
// member served (the id names the node) by asking that member, with the
// caller's own credentials; the member checks them against its replica of
// the keys. It reports false when this node should answer itself.
func (g *Gateway) forwardGeneration(ctx *fasthttp.RequestCtx) bool {
	id := api.GenerationID(ctx)
	node := ledger.GenerationNode(id)
	if node == "" || node == g.o.Ledger.Node() {
		return false
	}
	m, ok := g.o.Cluster.Member(node)
	addr := m.APIAddr
	if strings.HasPrefix(string(ctx.Path()), "/admin/") {
		addr = m.AdminAddr // the admin key is not valid on the public listener
	}
	if !ok || m.State != cluster.MemberAlive || addr == "" {
		api.WriteError(ctx, &api.Error{Status: fasthttp.StatusBadGateway,
			Message:  fmt.Sprintf("generation %s was served by node %q, which is not reachable now", id, node),
			Metadata: map[string]any{"node": node}})
		return true
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + string(ctx.Path()) + "?id=" + url.QueryEscape(id))
	req.Header.SetMethod(fasthttp.MethodGet)
	if v := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization); len(v) > 0 {
		req.Header.SetBytesV(fasthttp.HeaderAuthorization, v)
	}
	req.Header.Set("X-Tollgate-Forwarded-By", g.o.Ledger.Node())
	if err := g.peerClient.DoTimeout(req, resp, 5*time.Second); err != nil {
		api.WriteError(ctx, &api.Error{Status: fasthttp.StatusBadGateway,
			Message:  fmt.Sprintf("cannot reach node %q for generation %s: %v", node, id, err),
			Metadata: map[string]any{"node": node}})
		return true
	}
	ctx.SetStatusCode(resp.StatusCode())
	ctx.SetContentTypeBytes(resp.Header.ContentType())
	ctx.SetBody(resp.Body())
	return true
}

func (g *Gateway) readyz(ctx *fasthttp.RequestCtx) {
	g.API.Handler(ctx)
	c := g.o.Cluster
	if c == nil || ctx.Response.StatusCode() != fasthttp.StatusOK || !g.o.Ledger.Partitioned() {
		return
	}
	st := c.Stats()
	b, err := json.Marshal(struct {
		Status       string `json:"status"`
		Partitioned  bool   `json:"partitioned"`
		MembersAlive int    `json:"members_alive"`
		MembersKnown int    `json:"members_known"`
	}{"ok", true, st.MembersAlive, st.MembersKnown})
	if err != nil {
		return
	}
	ctx.SetBody(b)
}

// clusterMember is one member in GET /admin/v1/cluster.
type clusterMember struct {
	Name        string  `json:"name"`
	Region      string  `json:"region"`
	State       string  `json:"state"`
	Local       bool    `json:"local"`
	Addr        string  `json:"addr"`
	APIAddr     string  `json:"api_addr"`
	AdminAddr   string  `json:"admin_addr"`
	Version     string  `json:"version"`
	Epoch       uint64  `json:"epoch"`
	LastSeen    string  `json:"last_seen"`
	LastSeenAgo float64 `json:"last_seen_ago_seconds"`
	// LagSeconds is the gossip lag of its latest broadcast (clock skew
	// included).
	LagSeconds float64 `json:"lag_seconds"`
	BadMeta    bool    `json:"bad_meta,omitempty"`
}

// clusterRegion counts the members of one region.
type clusterRegion struct {
	Region  string `json:"region"`
	Alive   int    `json:"alive"`
	Members int    `json:"members"`
}

// clusterStats is cluster.Stats in snake case.
type clusterStats struct {
	Received          uint64            `json:"received"`
	Sent              uint64            `json:"sent"`
	Coalesced         uint64            `json:"coalesced"`
	Transmits         uint64            `json:"gossip_transmits"`
	TransmitBytes     uint64            `json:"gossip_transmit_bytes"`
	DirectPackets     uint64            `json:"direct_packets"`
	DirectBytes       uint64            `json:"direct_bytes"`
	Duplicates        uint64            `json:"duplicates"`
	Stale             uint64            `json:"stale"`
	ReliableFallbacks uint64            `json:"reliable_fallbacks"`
	ReliableSends     uint64            `json:"reliable_sends"`
	ReliableBytes     uint64            `json:"reliable_bytes"`
	ChunksReceived    uint64            `json:"chunks_received"`
	PushPullMerges    uint64            `json:"pushpull_merges"`
	StateMerges       uint64            `json:"state_merges"`
	RepairBytes       uint64            `json:"repair_bytes"`
	RejectedKey       uint64            `json:"rejected_key"`
	RejectedLabel     uint64            `json:"rejected_label"`
	Dropped           map[string]uint64 `json:"dropped"`
	BroadcastQueue    int               `json:"broadcast_queue"`
	GossipPruned      uint64            `json:"gossip_pruned"`
}

// adminCluster serves GET /admin/v1/cluster: this node's view of the
// cluster — members with regions, addresses and ledger epochs, whether it
// sees a majority, whether its ledger is in partition mode, and the gossip
// counters. Without a cluster it reports enabled false and this node alone.
func (g *Gateway) adminCluster(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() {
		api.WriteError(ctx, &api.Error{Status: fasthttp.StatusMethodNotAllowed, Message: "use GET /admin/v1/cluster"})
		return
	}
	cfg := g.o.Config
	led := g.o.Ledger
	out := struct {
		Enabled            bool            `json:"enabled"`
		Node               string          `json:"node"`
		Region             string          `json:"region"`
		Epoch              uint64          `json:"epoch"`
		Majority           bool            `json:"majority"`
		Partitioned        bool            `json:"partitioned"`
		PartitionAllowance string          `json:"partition_allowance"`
		MembersAlive       int             `json:"members_alive"`
		MembersKnown       int             `json:"members_known"`
		Members            []clusterMember `json:"members"`
		Regions            []clusterRegion `json:"regions"`
		Stats              *clusterStats   `json:"stats,omitempty"`
	}{
		Node: cfg.Node.Name, Region: cfg.Node.Region, Epoch: led.Epoch(), Majority: true,
		Partitioned:        led.Partitioned(),
		PartitionAllowance: string(routing.AppendUSD(nil, cfg.Ledger.PartitionAllowance.Nano())),
		MembersAlive:       1, MembersKnown: 1,
	}
	now := time.Now()
	if c := g.o.Cluster; c != nil {
		st := c.Stats()
		out.Enabled, out.Majority = true, st.Majority
		out.MembersAlive, out.MembersKnown = st.MembersAlive, st.MembersKnown
		out.Stats = &clusterStats{
			Received: st.Received, Sent: st.Sent, Coalesced: st.Coalesced, Transmits: st.Transmits,
			TransmitBytes: st.TransmitBytes, DirectPackets: st.DirectPackets, DirectBytes: st.DirectBytes,
			Duplicates: st.Duplicates, Stale: st.Stale, ReliableFallbacks: st.ReliableFallbacks,
			ReliableSends: st.ReliableSends, ReliableBytes: st.ReliableBytes, ChunksReceived: st.ChunksReceived,
			PushPullMerges: st.PushPullMerges, StateMerges: st.StateMerges, RepairBytes: st.RepairBytes,
			RejectedKey: st.RejectedKey, RejectedLabel: st.RejectedLabel, Dropped: st.Dropped,
			BroadcastQueue: st.BroadcastQueue, GossipPruned: st.GossipPruned,
		}
		for _, m := range c.Members() {
			cm := clusterMember{
				Name: m.Name, Region: m.Region, State: m.State.String(), Local: m.Local, Addr: m.Addr,
				APIAddr: m.APIAddr, AdminAddr: m.AdminAddr, Version: m.Version, Epoch: m.Epoch, BadMeta: m.BadMeta,
				LagSeconds: m.Lag.Seconds(),
			}
			if !m.LastSeen.IsZero() {
				cm.LastSeen = m.LastSeen.UTC().Format(time.RFC3339Nano)
				cm.LastSeenAgo = now.Sub(m.LastSeen).Seconds()
			}
			out.Members = append(out.Members, cm)
		}
	} else {
		out.Members = []clusterMember{{
			Name: cfg.Node.Name, Region: cfg.Node.Region, State: cluster.MemberAlive.String(), Local: true,
			APIAddr: cfg.Listen.API, AdminAddr: cfg.Listen.Admin, Epoch: led.Epoch(),
			LastSeen: now.UTC().Format(time.RFC3339Nano),
		}}
	}
	byRegion := map[string]*clusterRegion{}
	for _, m := range out.Members {
		if m.State == cluster.MemberLeft.String() {
			continue
		}
		r := byRegion[m.Region]
		if r == nil {
			r = &clusterRegion{Region: m.Region}
			byRegion[m.Region] = r
		}
		r.Members++
		if m.State == cluster.MemberAlive.String() {
			r.Alive++
		}
	}
	out.Regions = make([]clusterRegion, 0, len(byRegion))
	for _, r := range byRegion {
		out.Regions = append(out.Regions, *r)
	}
	sort.Slice(out.Regions, func(i, j int) bool { return out.Regions[i].Region < out.Regions[j].Region })
	b, err := json.Marshal(out)
	if err != nil {
		api.WriteError(ctx, &api.Error{Status: 500, Message: "cannot encode the cluster view"})
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// recoverer turns a panic in a handler — a bug — into a logged 500 for that
// request instead of a crashed node.
func (g *Gateway) recoverer(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		defer func() {
			if r := recover(); r != nil {
				g.log.Error("BUG: handler panic", "path", string(ctx.Path()), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				api.WriteError(ctx, &api.Error{Status: fasthttp.StatusInternalServerError, Message: "internal error"})
			}
		}()
		h(ctx)
	}
}

// fanOutAnalytics asks every other live member for its share of an
// analytics or activity query — the same path, body and credentials (keys and the
// admin key are the same cluster-wide), marked local-only — and merges
// the answers. Members that are down or do not answer in 3 s are listed,
// so the caller knows the rows lack their share.
func (g *Gateway) fanOutAnalytics(ctx *fasthttp.RequestCtx, local ledger.AnalyticsResult) (ledger.AnalyticsResult, []string) {
	admin := strings.HasPrefix(string(ctx.Path()), "/admin/")
	auth := append([]byte(nil), ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)...)
	body := append([]byte(nil), ctx.PostBody()...)
	path := string(ctx.RequestURI()) // path and query (GET /activity?date=…)
	method := string(ctx.Method())
	type answer struct {
		node string
		res  ledger.AnalyticsResult
		err  error
	}
	var members []cluster.Member
	for _, m := range g.o.Cluster.Members() {
		if !m.Local {
			members = append(members, m)
		}
	}
	answers := make(chan answer, len(members))
	for _, m := range members {
		go func(m cluster.Member) {
			addr := m.APIAddr
			if admin {
				addr = m.AdminAddr
			}
			if m.State != cluster.MemberAlive || addr == "" {
				answers <- answer{node: m.Name, err: errors.New("not alive")}
				return
			}
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://" + addr + path)
			req.Header.SetMethod(method)
			req.Header.SetBytesV(fasthttp.HeaderAuthorization, auth)
			req.Header.Set(api.HeaderLocalOnly, "1")
			if method == fasthttp.MethodPost {
				req.Header.SetContentType("application/json")
				req.SetBody(body)
			}
			if err := g.peerClient.DoTimeout(req, resp, 3*time.Second); err != nil {
				answers <- answer{node: m.Name, err: err}
				return
			}
			if resp.StatusCode() != fasthttp.StatusOK {
				answers <- answer{node: m.Name, err: fmt.Errorf("status %d", resp.StatusCode())}
				return
			}
			var r ledger.AnalyticsResult
			if err := provider.CheckJSON(resp.Body()); err != nil {
				answers <- answer{node: m.Name, err: err}
				return
			}
			err := json.Unmarshal(resp.Body(), &r)
			answers <- answer{node: m.Name, res: r, err: err}
		}(m)
	}
	results := []ledger.AnalyticsResult{local}
	var missing []string
	for range members {
		a := <-answers
		if a.err != nil {
			g.log.Warn("analytics fan-out: member did not answer", "node", a.node, "error", a.err)
			missing = append(missing, a.node)
			continue
		}
		results = append(results, a.res)
	}
	sort.Strings(missing)
	return ledger.MergeResults(results...), missing
}
