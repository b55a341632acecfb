package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/bench/mock"
)

func newMockCmd() *cobra.Command {
	var c mock.Config
	cmd := &cobra.Command{
		Use:   "mock",
		Short: "Run a simulated upstream provider (OpenAI, Anthropic and Gemini protocols) with fault injection",
		Long: `Run a simulated LLM provider for tests, demos and benchmarks.

It serves POST /v1/chat/completions, /v1/completions, /v1/embeddings and
GET /v1/models, with configurable latency, token pacing and faults; GET
/stats reports what it served and PUT /mock/config changes its settings at
run time. Most settings can be overridden per request with X-Mock-* headers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s := mock.New(c)
			if err := s.Listen(c.Addr); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tollgate mock listening on %s (base URL %s)\n", s.Addr(), s.URL())
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			return s.Close()
		},
	}
	c.RegisterFlags(cmd.Flags())
	return cmd
}
