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
	"syscall"
	"time"

	"github.com/spf13/cobra"

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

func serve(ctx context.Context, out io.Writer, cfgPath string, dryRun bool) error {
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
	if dryRun {
		fmt.Fprintf(out, "%s: config OK (%d providers, %d models, %d accounts)\n", cfgPath, len(cfg.Providers), len(cfg.Models), len(cfg.Accounts))
		return nil
	}
	log := newLogger(cfg.Log, os.Stderr)

	router, err := routing.New(core.RoutingConfig(cfg), core.Catalog(cfg), time.Now, uint64(time.Now().UnixNano()))
	if err != nil {
		return fmt.Errorf("cannot build catalog: %w", err)
	}
	ups, err := core.Upstreams(cfg)
	if err != nil {
		return err
	}
	cat, err := catalogstore.Open(filepath.Join(cfg.Node.DataDir, "catalog"), nil)
	if err != nil {
		return err
	}
	defer cat.Close()
	recs, err := cat.Load()
	if err != nil {
		log.Warn("skipped unreadable catalog records", "error", err)
	}
	if _, err := router.ApplyAll(recs); err != nil {
		log.Warn("skipped invalid catalog records", "error", err)
	}
	led, err := ledger.Open(core.LedgerConfig(cfg, log))
	if err != nil {
		return fmt.Errorf("cannot open the ledger in %s: %w", cfg.Node.DataDir, err)
	}
	defer func() {
		if err := led.Close(); err != nil {
			log.Error("cannot close the ledger", "error", err)
		}
	}()
	if err := led.Seed(core.SeedAccounts(cfg)); err != nil {
		return fmt.Errorf("cannot seed accounts from config: %w", err)
	}
	gw, err := core.New(core.Options{Config: cfg, Router: router, Upstreams: ups, Ledger: led, Catalog: cat, Logger: log})
	if err != nil {
		return err
	}
	apiLn, err := net.Listen("tcp", cfg.Listen.API)
	if err != nil {
		return fmt.Errorf("cannot listen on listen.api %s: %w", cfg.Listen.API, err)
	}
	adminLn, err := net.Listen("tcp", cfg.Listen.Admin)
	if err != nil {
		apiLn.Close()
		return fmt.Errorf("cannot listen on listen.admin %s: %w", cfg.Listen.Admin, err)
	}
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
	log.Info("stopped")
	return nil
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
