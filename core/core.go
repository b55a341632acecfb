// Package core is Tollgate's data path on fasthttp: the public and admin
// listeners, their server settings (timeouts that never cut a stream, body
// limits answered in the OpenAI error shape), graceful shutdown, and the
// assembly of providers and catalog from config. The endpoints themselves
// live in core/api, protocols in core/provider, the upstream pools in
// core/upstream.
//
// core imports routing (and later ledger and cluster); nothing but cmd
// imports core.
package core

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/api"
	"github.com/tollgate/tollgate/core/catalogstore"
	"github.com/tollgate/tollgate/core/config"
	"github.com/tollgate/tollgate/core/provider"
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
	started  time.Time
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
	g := &Gateway{o: o, log: o.Logger, Metrics: api.NewMetrics(nil), started: time.Now()}
	g.Metrics.SyncEndpoints(o.Router.Snapshot())
	g.API = api.New(api.Options{
		Router:        o.Router,
		Upstreams:     o.Upstreams,
		Ledger:        o.Ledger,
		Metrics:       g.Metrics,
		Logger:        o.Logger,
		Node:          cfg.Node.Name,
		Region:        cfg.Node.Region,
		KeepAlive:     cfg.Server.KeepAlive,
		MaxConcurrent: cfg.Limits.MaxConcurrent,
		RateLimits: api.RateLimits{
			FreePerMinute: cfg.Limits.FreeRequestsPerMinute, FreePerDay: cfg.Limits.FreeRequestsPerDay,
			KeyRPM: cfg.Limits.KeyRequestsPerMinute, KeyTPM: cfg.Limits.KeyTokensPerMinute,
		},
		OverheadHeader: *cfg.Server.OverheadHeader,
	})
	g.apiSrv = &fasthttp.Server{
		Handler:               g.API.Handler,
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
		Handler:               g.adminHandler,
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
	return err
}

func (g *Gateway) adminHandler(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	switch path {
	case "/healthz", "/readyz":
		g.API.Handler(ctx)
		return
	case "/metrics":
		ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
		g.Metrics.WritePrometheus(ctx)
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
	case path == "/admin/v1/catalog", strings.HasPrefix(path, "/admin/v1/catalog/"):
		g.adminCatalog(ctx, strings.TrimPrefix(path, "/admin/v1/catalog"))
	case path == "/admin/v1/accounts", strings.HasPrefix(path, "/admin/v1/accounts/"),
		strings.HasPrefix(path, "/admin/v1/keys/"), path == "/admin/v1/analytics/query":
		g.API.Admin(ctx)
	default:
		api.WriteError(ctx, &api.Error{Status: fasthttp.StatusNotFound, Message: "no such endpoint"})
	}
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
	return subtle.ConstantTimeCompare(h[len(p):], []byte(key)) == 1
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
