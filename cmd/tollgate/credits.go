package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"text/tabwriter"

	json "github.com/goccy/go-json"
	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/routing"
)

// accountView is an account as the admin API returns it.
type accountView struct {
	ID           string      `json:"id"`
	Name         string      `json:"name"`
	CreatedAt    string      `json:"created_at"`
	TotalCredits json.Number `json:"total_credits"`
	TotalUsage   json.Number `json:"total_usage"`
	Balance      json.Number `json:"balance"`
	Keys         int         `json:"keys"`
}

type creditsView struct {
	AccountID    string      `json:"account_id"`
	Account      string      `json:"account"`
	TotalCredits json.Number `json:"total_credits"`
	TotalUsage   json.Number `json:"total_usage"`
	Balance      json.Number `json:"balance"`
	Grants       []struct {
		IdempotencyKey string      `json:"idempotency_key"`
		Amount         json.Number `json:"amount"`
		CreatedAt      string      `json:"created_at"`
		Node           string      `json:"node"`
	} `json:"grants"`
}

func newCreditsCmd() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "credits",
		Short: "Grant and show an account's prepaid credits (admin API)",
		Long: `Grant and show prepaid credits through a running node's admin listener
(--server, default $TOLLGATE_ADMIN_SERVER, else ` + defaultAdminServer + `; --admin-key,
default $TOLLGATE_ADMIN_KEY). Accounts are named by name or id (acct_…).`,
	}
	f.register(cmd)
	cmd.AddCommand(newCreditsGrantCmd(&f), newCreditsShowCmd(&f))
	return cmd
}

func newCreditsGrantCmd(f *adminFlags) *cobra.Command {
	var account, amount, idem string
	cmd := &cobra.Command{
		Use:   "grant --account NAME --amount USD [--idempotency-key K]",
		Short: "Grant credits once per idempotency key",
		Long: `Grant credits to an account. A grant is applied once per idempotency key:
repeating it with the same key and amount changes nothing, so a grant that
timed out can be retried safely with the key it printed. Without
--idempotency-key a random key is made and printed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := routing.ParseUSD(amount)
			if err != nil || n <= 0 {
				return fmt.Errorf("--amount %q: want a positive USD amount such as 25 or 2.50", amount)
			}
			generated := idem == ""
			if generated {
				var b [12]byte
				if _, err := rand.Read(b[:]); err != nil {
					return fmt.Errorf("cannot make an idempotency key: %w", err)
				}
				idem = "cli-" + hex.EncodeToString(b[:])
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			var out struct {
				Data creditsView `json:"data"`
			}
			body := map[string]json.RawMessage{"amount": routing.AppendUSD(nil, n)}
			printed, err := c.call(cmd, f, "POST", accountPath(account)+"/credits", body, map[string]string{"Idempotency-Key": idem}, &out)
			if err != nil {
				if generated {
					return fmt.Errorf("%w (retry with --idempotency-key %s)", err, idem)
				}
				return err
			}
			if printed {
				return nil
			}
			d := &out.Data
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "granted %s to %s (idempotency key %s)\n", dollars(json.Number(routing.AppendUSD(nil, n))), d.Account, idem)
			fmt.Fprintf(w, "credits %s, usage %s, balance %s\n", dollars(d.TotalCredits), dollars(d.TotalUsage), dollars(d.Balance))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&account, "account", "", "account name or id (required)")
	fl.StringVar(&amount, "amount", "", "USD to grant (required)")
	fl.StringVar(&idem, "idempotency-key", "", "idempotency key of the grant (default: random, printed)")
	_ = cmd.MarkFlagRequired("account")
	_ = cmd.MarkFlagRequired("amount")
	return cmd
}

func newCreditsShowCmd(f *adminFlags) *cobra.Command {
	var account string
	cmd := &cobra.Command{
		Use:   "show --account NAME",
		Short: "Show an account's credits, usage, balance and grants",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			var out struct {
				Data creditsView `json:"data"`
			}
			printed, err := c.call(cmd, f, "GET", accountPath(account)+"/credits", nil, nil, &out)
			if err != nil || printed {
				return err
			}
			d := &out.Data
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "account %s (%s)\ncredits %s, usage %s, balance %s\n", d.Account, d.AccountID,
				dollars(d.TotalCredits), dollars(d.TotalUsage), dollars(d.Balance))
			if len(d.Grants) == 0 {
				return nil
			}
			fmt.Fprintln(w)
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "GRANTED\tAMOUNT\tIDEMPOTENCY KEY\tNODE")
			for _, g := range d.Grants {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.CreatedAt, dollars(g.Amount), g.IdempotencyKey, g.Node)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&account, "account", "", "account name or id (required)")
	_ = cmd.MarkFlagRequired("account")
	return cmd
}

func newAccountsCmd() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "accounts",
		Short: "Create and list accounts (admin API)",
	}
	f.register(cmd)
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an account (it starts with no credits)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			var out struct {
				Data accountView `json:"data"`
			}
			printed, err := c.call(cmd, &f, "POST", "/admin/v1/accounts", map[string]string{"name": args[0]}, nil, &out)
			if err != nil || printed {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created account %s (%s)\n", out.Data.Name, out.Data.ID)
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List accounts with credits, usage and balance",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			var out struct {
				Data []accountView `json:"data"`
			}
			printed, err := c.call(cmd, &f, "GET", "/admin/v1/accounts", nil, nil, &out)
			if err != nil || printed {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tID\tCREDITS\tUSAGE\tBALANCE\tKEYS")
			for _, a := range out.Data {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", a.Name, a.ID, dollars(a.TotalCredits), dollars(a.TotalUsage), dollars(a.Balance), a.Keys)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(create, list)
	return cmd
}
