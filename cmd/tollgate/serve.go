package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/cluster"
	"github.com/tollgate/tollgate/core"
	"github.com/tollgate/tollgate/core/catalogstore"
	"github.com/tollgate/tollgate/core/config"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/routing"
)

func newServeCmd() *cobra.Command {
	var (
		cfgPath string
		dryRun  bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a gateway node (demo mode without a config)",
		Long: `Run a gateway node.

Without --config and without ./tollgate.yaml, serve starts a demo: simulated
providers on loopback answer through the real proxy path, with a small
catalog, a demo account and key printed on start, and data in
./tollgate-data.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), cmd.OutOrStdout(), cfgPath, dryRun)
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file (default ./tollgate.yaml if present, else demo mode)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "load and validate the config, then exit")
	return cmd
}

// defaultGCPercent is the node's GOGC unless the environment sets one. A
// node allocates little per request (about 330 bytes in 3 to 4 objects),
// so collecting at 20 % heap growth instead of Go's 100 % costs one or two
// collections a second at 4,000 req/s, while the heap of a node holding
// many streams (whose buffers are live for the stream's life) stays within
// about 1.2× of its live size instead of 2× (SPEC §10, performance).
// VictoriaMetrics lowers it to 30 for the same reason.
const defaultGCPercent = 20

// setGCPercent applies defaultGCPercent unless GOGC is set (an empty GOGC
// is the runtime's 100, so it counts as unset).
func setGCPercent() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}

func serve(ctx context.Context, out io.Writer, cfgPath string, dryRun bool) error {
	setGCPercent()
	if cfgPath == "" {
		if _, err := os.Stat("tollgate.yaml"); err == nil {
			cfgPath = "tollgate.yaml"
		}
	}
	var (
		cfg  *config.Config
		demo *demoEnv
		err  error
	)
	if cfgPath != "" {
		cfg, err = config.Load(cfgPath, os.LookupEnv)
		if err != nil {
			return err
		}
	} else {
		if dryRun {
			fmt.Fprintln(out, "no config: serve would start in demo mode")
			return nil
		}
		demo, err = startDemo()
		if err != nil {
			return err
		}
		defer demo.Close()
		cfg = demo.cfg
	}
	// Real providers whose usual API key variable is set join a config that
	// names no providers of its own (and the demo's simulated ones).
	if len(cfg.Providers) == 0 || demo != nil {
		if err := addBuiltin(cfg, os.LookupEnv); err != nil {
			return err
		}
	}
	if dryRun {
		if cfg.Cluster.Enabled {
			cc := clusterConfig(cfg, cfg.Listen.API, cfg.Listen.Admin, 1, slog.Default())
			cc.EnsureDefaults()
			if err := cc.Validate(); err != nil {
				return fmt.Errorf("%s: %w", cfgPath, err)
			}
		}
		fmt.Fprintf(out, "%s: config OK (%d providers, %d models, %d accounts)\n", cfgPath, len(cfg.Providers), len(cfg.Models), len(cfg.Accounts))
		return nil
	}
	log := newLogger(cfg.Log, os.Stderr)

	apiLn, err := net.Listen("tcp", cfg.Listen.API)
	if err != nil {
		return fmt.Errorf("cannot listen on listen.api %s: %w", cfg.Listen.API, err)
	}
	adminLn, err := net.Listen("tcp", cfg.Listen.Admin)
	if err != nil {
		apiLn.Close()
		return fmt.Errorf("cannot listen on listen.admin %s: %w", cfg.Listen.Admin, err)
	}
	n, err := openNode(cfg, log, apiLn.Addr().String(), adminLn.Addr().String(), nil)
	if err != nil {
		apiLn.Close()
		adminLn.Close()
		return err
	}
	defer n.close()
	gw := n.gw
	log.Info("tollgate started", "version", version, "node", cfg.Node.Name, "region", cfg.Node.Region,
		"api", apiLn.Addr().String(), "admin", adminLn.Addr().String(), "models", len(cfg.Models), "providers", len(cfg.Providers))
	if demo != nil {
		demo.printBanner(out, apiLn.Addr().String(), adminLn.Addr().String())
	}

	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- gw.Serve(apiLn, adminLn) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests", "deadline", cfg.Server.ShutdownTimeout, "streams", gw.API.Streams())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := gw.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	n.close()
	log.Info("stopped")
	return nil
}

// node is one gateway's parts: its stores, router, gateway and (when
// clustered) its cluster membership. serve and the in-process cluster
// tests build it the same way.
type node struct {
	log    *slog.Logger
	router *routing.Router
	cat    *catalogstore.Store
	led    *ledger.Ledger
	gw     *core.Gateway
	cn     *clusterNode // nil without a cluster
}

// openNode opens the catalog store and the ledger, seeds the configured
// accounts, builds the router and the gateway and, with cluster.enabled,
// starts the cluster. apiAddr and adminAddr are the bound listeners,
// advertised to peers. tune, if set, adjusts the cluster config (tests
// plug a fault-injecting transport and fast timings in). The caller
// serves n.gw and shuts it down before n.close.
func openNode(cfg *config.Config, log *slog.Logger, apiAddr, adminAddr string, tune func(*cluster.Config)) (n *node, err error) {
	router, err := routing.New(core.RoutingConfig(cfg), core.Catalog(cfg), time.Now, uint64(time.Now().UnixNano()))
	if err != nil {
		return nil, fmt.Errorf("cannot build catalog: %w", err)
	}
	ups, err := core.Upstreams(cfg)
	if err != nil {
		return nil, err
	}
	n = &node{log: log, router: router}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	if n.cat, err = catalogstore.Open(filepath.Join(cfg.Node.DataDir, "catalog"), nil); err != nil {
		return nil, err
	}
	recs, lerr := n.cat.Load()
	if lerr != nil {
		log.Warn("skipped unreadable catalog records", "error", lerr)
	}
	if _, aerr := router.ApplyAll(recs); aerr != nil {
		log.Warn("skipped invalid catalog records", "error", aerr)
	}
	if n.led, err = ledger.Open(core.LedgerConfig(cfg, log)); err != nil {
		return nil, fmt.Errorf("cannot open the ledger in %s: %w", cfg.Node.DataDir, err)
	}
	if err = n.led.Seed(core.SeedAccounts(cfg)); err != nil {
		return nil, fmt.Errorf("cannot seed accounts from config: %w", err)
	}
	set := metrics.NewSet()
	opts := core.Options{Config: cfg, Router: router, Upstreams: ups, Ledger: n.led, Catalog: n.cat, Logger: log, Metrics: set, Version: version}
	if cfg.Cluster.Enabled {
		// The cluster exists before the gateway (which shows it and
		// gossips its catalog changes through it) and starts after it
		// (gossiped catalog records are applied through the gateway).
		cc := clusterConfig(cfg, apiAddr, adminAddr, n.led.Epoch(), log)
		if tune != nil {
			tune(&cc)
		}
		cn, cerr := newClusterNode(cc, n.led, router, set, log)
		if cerr != nil {
			return nil, cerr
		}
		opts.Cluster, opts.OnCatalogChange = cn.c, cn.catalogChanged
		n.cn = cn
	}
	if n.gw, err = core.New(opts); err != nil {
		n.cn = nil // never started
		return nil, err
	}
	if n.cn != nil {
		if err = startCluster(n.cn, n.gw); err != nil {
			n.cn = nil
			return nil, err
		}
	}
	return n, nil
}

// close leaves the cluster (after broadcasting the last ledger changes),
// then closes the ledger and the catalog store, in that order: no gossip
// merge may reach a closed ledger. The gateway must have stopped serving.
func (n *node) close() {
	if n.cn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := n.cn.shutdown(ctx); err != nil {
			n.log.Warn("cluster shutdown incomplete", "error", err)
		}
		cancel()
		n.cn = nil
	}
	if n.led != nil {
		if err := n.led.Close(); err != nil {
			n.log.Error("cannot close the ledger", "error", err)
		}
		n.led = nil
	}
	if n.cat != nil {
		if err := n.cat.Close(); err != nil {
			n.log.Error("cannot close the catalog store", "error", err)
		}
		n.cat = nil
	}
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// addBuiltin adds the built-in providers enabled by environment variables
// and their models, then re-validates the config.
func addBuiltin(cfg *config.Config, lookup func(string) (string, bool)) error {
	provs, models := config.Builtin(lookup)
	if len(provs) == 0 {
		return nil
	}
	cfg.Providers = append(cfg.Providers, provs...)
	cfg.Models = append(cfg.Models, models...)
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("built-in providers: %w", err)
	}
	return nil
}
