package main

import (
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	json "github.com/goccy/go-json"
	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/routing"
)

// keyView is a key as the admin API returns it (money kept as decimal text).
type keyView struct {
	Hash           string       `json:"hash"`
	Name           string       `json:"name"`
	Label          string       `json:"label"`
	Disabled       bool         `json:"disabled"`
	Management     bool         `json:"management"`
	AccountID      string       `json:"account_id"`
	Limit          *json.Number `json:"limit"`
	LimitRemaining *json.Number `json:"limit_remaining"`
	LimitReset     *string      `json:"limit_reset"`
	Usage          json.Number  `json:"usage"`
	ExpiresAt      *string      `json:"expires_at"`
	CreatedAt      string       `json:"created_at"`
}

func (k *keyView) kind() string {
	if k.Management {
		return "management"
	}
	return "inference"
}

func (k *keyView) limit() string {
	if k.Limit == nil {
		return "none"
	}
	s := dollars(*k.Limit)
	if k.LimitReset != nil {
		s += " " + *k.LimitReset
	}
	return s
}

func newKeysCmd() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Issue and manage API keys on a running node (admin API)",
		Long: `Issue and manage API keys through a running node's admin listener.

The node is --server (default $TOLLGATE_ADMIN_SERVER, else ` + defaultAdminServer + `),
authenticated with --admin-key (default $TOLLGATE_ADMIN_KEY). Accounts are
named by name or id (acct_…); keys by the hash that 'keys list' shows, or by
the key itself.`,
	}
	f.register(cmd)
	cmd.AddCommand(newKeysCreateCmd(&f), newKeysListCmd(&f),
		newKeysSetDisabledCmd(&f, true), newKeysSetDisabledCmd(&f, false), newKeysDeleteCmd(&f))
	return cmd
}

func newKeysCreateCmd(f *adminFlags) *cobra.Command {
	var (
		account, name, limit, reset, expires string
		management                           bool
	)
	cmd := &cobra.Command{
		Use:   "create --account NAME [--name N] [--management] [--limit USD] [--limit-reset daily|weekly|monthly] [--expires-at RFC3339]",
		Short: "Create a key; its secret is printed once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body := map[string]any{"name": name, "management": management}
			if limit != "" {
				n, err := routing.ParseUSD(limit)
				if err != nil {
					return fmt.Errorf("--limit %q: want a non-negative USD amount such as 25 or 2.50", limit)
				}
				body["limit"] = json.RawMessage(routing.AppendUSD(nil, n))
			}
			if reset != "" {
				if err := ledger.LimitReset(reset).Validate(); err != nil {
					return fmt.Errorf("--limit-reset %q: want daily, weekly or monthly", reset)
				}
				body["limit_reset"] = reset
			}
			if expires != "" {
				if _, err := time.Parse(time.RFC3339, expires); err != nil {
					return fmt.Errorf("--expires-at %q: want an RFC 3339 time such as 2030-01-31T00:00:00Z", expires)
				}
				body["expires_at"] = expires
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			var out struct {
				Data keyView `json:"data"`
				Key  string  `json:"key"`
			}
			printed, err := c.call(cmd, f, "POST", accountPath(account)+"/keys", body, nil, &out)
			if err != nil || printed {
				return err
			}
			k := &out.Data
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Created %s key %q for account %s. Store the key now, it is not shown again:\n\n  %s\n\n", k.kind(), k.Name, account, out.Key)
			fmt.Fprintf(w, "hash:   %s\nlabel:  %s\nlimit:  %s\n", k.Hash, k.Label, k.limit())
			if k.ExpiresAt != nil {
				fmt.Fprintf(w, "expires: %s\n", *k.ExpiresAt)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&account, "account", "", "account name or id (required)")
	fl.StringVar(&name, "name", "", "key name")
	fl.BoolVar(&management, "management", false, "issue a management key (provisioning API; cannot call inference)")
	fl.StringVar(&limit, "limit", "", "spend limit in USD (default none)")
	fl.StringVar(&reset, "limit-reset", "", "when the limit starts over: daily, weekly or monthly (UTC; default never)")
	fl.StringVar(&expires, "expires-at", "", "expiry as an RFC 3339 time (default never)")
	_ = cmd.MarkFlagRequired("account")
	return cmd
}

func newKeysListCmd(f *adminFlags) *cobra.Command {
	var account string
	cmd := &cobra.Command{
		Use:   "list --account NAME",
		Short: "List an account's keys with their usage",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			var out struct {
				Data []keyView `json:"data"`
			}
			printed, err := c.call(cmd, f, "GET", accountPath(account)+"/keys", nil, nil, &out)
			if err != nil || printed {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "HASH\tNAME\tLABEL\tKIND\tSTATUS\tLIMIT\tUSAGE\tEXPIRES")
			for i := range out.Data {
				k := &out.Data[i]
				status, expires := "enabled", "never"
				if k.Disabled {
					status = "disabled"
				}
				if k.ExpiresAt != nil {
					expires = *k.ExpiresAt
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Hash, k.Name, k.Label, k.kind(), status, k.limit(), dollars(k.Usage), expires)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&account, "account", "", "account name or id (required)")
	_ = cmd.MarkFlagRequired("account")
	return cmd
}

// keyHashArg accepts a key's hash, or the key itself (hashed here, never
// sent).
func keyHashArg(arg string) string {
	if strings.HasPrefix(arg, "sk-") {
		return ledger.HashSecret([]byte(arg)).String()
	}
	return strings.ToLower(arg)
}

func newKeysSetDisabledCmd(f *adminFlags, disabled bool) *cobra.Command {
	verb, short := "enable", "Enable a disabled key"
	if disabled {
		verb, short = "disable", "Disable a key: it stops authenticating at once"
	}
	return &cobra.Command{
		Use:   verb + " HASH",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			hash := keyHashArg(args[0])
			var out struct {
				Data keyView `json:"data"`
			}
			printed, err := c.call(cmd, f, "PATCH", "/admin/v1/keys/"+url.PathEscape(hash), map[string]bool{"disabled": disabled}, nil, &out)
			if err != nil || printed {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "key %s (%s) %sd\n", out.Data.Hash, out.Data.Label, verb)
			return nil
		},
	}
}

func newKeysDeleteCmd(f *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete HASH",
		Short: "Delete a key for good",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			hash := keyHashArg(args[0])
			printed, err := c.call(cmd, f, "DELETE", "/admin/v1/keys/"+url.PathEscape(hash), nil, nil, nil)
			if err != nil || printed {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "key %s deleted\n", hash)
			return nil
		},
	}
}
