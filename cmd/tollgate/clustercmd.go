package main

import (
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// clusterView is GET /admin/v1/cluster as the CLI reads it.
type clusterView struct {
	Enabled            bool   `json:"enabled"`
	Node               string `json:"node"`
	Region             string `json:"region"`
	Epoch              uint64 `json:"epoch"`
	Majority           bool   `json:"majority"`
	Partitioned        bool   `json:"partitioned"`
	PartitionAllowance string `json:"partition_allowance"`
	MembersAlive       int    `json:"members_alive"`
	MembersKnown       int    `json:"members_known"`
	Members            []struct {
		Name        string  `json:"name"`
		Region      string  `json:"region"`
		State       string  `json:"state"`
		Local       bool    `json:"local"`
		Addr        string  `json:"addr"`
		APIAddr     string  `json:"api_addr"`
		AdminAddr   string  `json:"admin_addr"`
		Version     string  `json:"version"`
		Epoch       uint64  `json:"epoch"`
		LastSeenAgo float64 `json:"last_seen_ago_seconds"`
		LagSeconds  float64 `json:"lag_seconds"`
		BadMeta     bool    `json:"bad_meta"`
	} `json:"members"`
	Regions []struct {
		Region  string `json:"region"`
		Alive   int    `json:"alive"`
		Members int    `json:"members"`
	} `json:"regions"`
	Stats *struct {
		Dropped           map[string]uint64 `json:"dropped"`
		ReliableFallbacks uint64            `json:"reliable_fallbacks"`
		RejectedKey       uint64            `json:"rejected_key"`
		RejectedLabel     uint64            `json:"rejected_label"`
	} `json:"stats"`
}

func newClusterCmd() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Show a running node's view of its cluster (admin API)",
		Long: `Show the cluster as one running node sees it, through its admin listener
(--server, default $TOLLGATE_ADMIN_SERVER, else ` + defaultAdminServer + `; --admin-key,
default $TOLLGATE_ADMIN_KEY).`,
	}
	f.register(cmd)
	cmd.AddCommand(newClusterMembersCmd(&f))
	return cmd
}

func newClusterMembersCmd(f *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "members",
		Short: "List members with region, state, addresses, ledger epoch and last contact",
		Long: `List the members the node knows: name, region, state (alive, failed, left),
gossip, API and admin addresses, software version, ledger epoch (bumped at
every start), how long ago the node last heard from each and the gossip
lag of its latest broadcast (send to receipt; clock skew between the two
nodes included). The summary
says whether the node sees a majority of the known members; without one
its ledger is partitioned and limits each key's new spend to
ledger.partition_allowance.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			var v clusterView
			printed, err := c.call(cmd, f, http.MethodGet, "/admin/v1/cluster", nil, nil, &v)
			if err != nil || printed {
				return err
			}
			return printClusterView(cmd, &v)
		},
	}
}

func printClusterView(cmd *cobra.Command, v *clusterView) error {
	w := cmd.OutOrStdout()
	if !v.Enabled {
		fmt.Fprintf(w, "node %s (region %s, epoch %d) runs alone: cluster.enabled is false\n", v.Node, v.Region, v.Epoch)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tREGION\tSTATE\tGOSSIP\tAPI\tADMIN\tVERSION\tEPOCH\tLAST SEEN\tLAG")
	for _, m := range v.Members {
		name := m.Name
		if m.Local {
			name += " (this node)"
		}
		if m.BadMeta {
			name += " (bad metadata)"
		}
		seen, lag := "-", "-"
		if !m.Local {
			seen = (time.Duration(m.LastSeenAgo * float64(time.Second))).Round(time.Millisecond).String() + " ago"
			if m.LagSeconds > 0 {
				lag = (time.Duration(m.LagSeconds * float64(time.Second))).Round(time.Millisecond).String()
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", name, dash(m.Region), m.State, dash(m.Addr),
			dash(m.APIAddr), dash(m.AdminAddr), dash(m.Version), m.Epoch, seen, lag)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var regions []string
	for _, r := range v.Regions {
		regions = append(regions, fmt.Sprintf("%s %d/%d", dash(r.Region), r.Alive, r.Members))
	}
	fmt.Fprintf(w, "\nregions (alive/members): %s\n", strings.Join(regions, ", "))
	if v.Majority {
		fmt.Fprintf(w, "majority: yes (%d of %d known members alive)\n", v.MembersAlive, v.MembersKnown)
	} else {
		fmt.Fprintf(w, "majority: NO (%d of %d known members alive)\n", v.MembersAlive, v.MembersKnown)
	}
	if v.Partitioned {
		fmt.Fprintf(w, "ledger: PARTITIONED — each key may spend at most $%s more on this node until the majority is back\n", v.PartitionAllowance)
	}
	if s := v.Stats; s != nil {
		var dropped uint64
		for _, n := range s.Dropped {
			dropped += n
		}
		fmt.Fprintf(w, "gossip: %d dropped, %d reliable fallbacks, %d rejected (key %d, label %d)\n",
			dropped, s.ReliableFallbacks, s.RejectedKey+s.RejectedLabel, s.RejectedKey, s.RejectedLabel)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
