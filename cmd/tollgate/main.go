// Command tollgate is the gateway binary: `tollgate serve` runs a node,
// `tollgate mock` a simulated provider, and the other verbs talk to a
// running node. This package only wires: flags, environment, config load,
// and the start and stop of every part. Nothing imports it.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "tollgate:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "tollgate",
		Short:         "Self-hosted OpenAI/OpenRouter-compatible LLM gateway",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newMockCmd(), newConfigCmd(), newVersionCmd(), newModelsCmd(),
		newKeysCmd(), newCreditsCmd(), newAccountsCmd(), newClusterCmd(), newBenchCmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "tollgate", version)
		},
	}
}
