package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/core/config"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with config files"}
	cmd.AddCommand(&cobra.Command{
		Use:   "validate [FILE]",
		Short: "Validate a config file (default ./tollgate.yaml)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "tollgate.yaml"
			if len(args) == 1 {
				path = args[0]
			}
			cfg, err := config.Load(path, os.LookupEnv)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: config OK (%d providers, %d models, %d accounts)\n", path, len(cfg.Providers), len(cfg.Models), len(cfg.Accounts))
			return nil
		},
	})
	return cmd
}
