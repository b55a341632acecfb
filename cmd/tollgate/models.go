package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	json "github.com/goccy/go-json"
	"github.com/spf13/cobra"
)

func newModelsCmd() *cobra.Command {
	var server string
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List the models of a running node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if server == "" {
				server = os.Getenv("TOLLGATE_SERVER")
			}
			if server == "" {
				server = "http://127.0.0.1:8080"
			}
			c := &http.Client{Timeout: 10 * time.Second}
			resp, err := c.Get(strings.TrimRight(server, "/") + "/api/v1/models")
			if err != nil {
				return fmt.Errorf("cannot reach %s: %w", server, err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %s", resp.Status, body)
			}
			var list struct {
				Data []struct {
					ID            string `json:"id"`
					ContextLength int    `json:"context_length"`
					Pricing       struct {
						Prompt     string `json:"prompt"`
						Completion string `json:"completion"`
					} `json:"pricing"`
				} `json:"data"`
			}
			if err := json.Unmarshal(body, &list); err != nil {
				return fmt.Errorf("cannot decode models: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MODEL\tCONTEXT\tPROMPT $/tok\tCOMPLETION $/tok")
			for _, m := range list.Data {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", m.ID, m.ContextLength, m.Pricing.Prompt, m.Pricing.Completion)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "node API URL (default $TOLLGATE_SERVER or http://127.0.0.1:8080)")
	return cmd
}
