package main

// Cluster wiring: the channels that carry the ledger and the catalog over
// the cluster package's gossip (SPEC §5, §6); clusterhealth.go adds the
// provider-health hints. cluster carries bytes and
// imports neither ledger nor routing; this file is the only place that
// knows both sides.
//
// Ledger (envelope TypeLedger, version 1; payload = one ledger.Delta):
//
//   - every GossipTick the channel takes ledger.Deltas() and splits each
//     account's delta in two. Its counters (this node's spend and key
//     usage, absolute values) are broadcast under the account id as key, so
//     a newer payload replaces an older one still queued: they supersede
//     each other. Its grants, account records and key records are broadcast
//     with the empty key: never replaced, and also sent to every member over
//     TCP — Deltas returns a grant only once, so it must not be coalesced
//     away. Counters larger than one gossip packet are cut with Delta.Split
//     under keys "<account>", "<account>#1", …, each part a valid delta;
//   - Receive merges with ledger.Merge(from, d), which rejects a delta
//     carrying counters that are not the sender's own;
//   - anti-entropy: LocalState is the ledger's Digest (1 KiB), StateSince
//     answers a peer's digest with the full state of the accounts in the
//     buckets that differ, MergeState applies such an answer.
//
// Catalog (TypeCatalog, version 1; payload = one routing.CatalogRecord):
// the records this node authors (admin API) are broadcast under
// "<kind>:<key>" — a record is a last-writer-wins register, so a newer one
// supersedes an older one of the same key. Records learnt from peers are
// not re-broadcast (no echo); nodes that missed one get it by anti-entropy:
// LocalState is every winning record (tiny in practice; the cluster ships
// a large state in chunks), MergeState applies them through the gateway
// (router, store, metrics).
//
// Majority: OnPartitionChange drives ledger.SetPartitioned, so a node that
// sees less than a majority limits each key's new spend to
// ledger.partition_allowance.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tollgate/tollgate/cluster"
	"github.com/tollgate/tollgate/core"
	"github.com/tollgate/tollgate/core/config"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/routing"
)

// Payload versions of the two channels.
const (
	ledgerWireVersion  byte = 1
	catalogWireVersion byte = 1
)

const (
	// uniquePartBytes bounds one grants-and-records payload. They travel
	// over TCP, so the bound only keeps single messages moderate.
	uniquePartBytes = 64 << 10
	// maxUniqueRetry bounds the grant/record payloads kept for the next
	// tick when the cluster's per-tick backlog is full; beyond it they are
	// dropped (counted) and left to anti-entropy.
	maxUniqueRetry = 8192
	// maxListItems bounds the entries of one decoded state list.
	maxListItems = 1 << 20
)

// clusterConfig maps the config file's node, listen and cluster sections
// onto cluster.Config. apiAddr and adminAddr are the bound listener
// addresses; a wildcard host is replaced by the advertised one so that
// peers can reach them.
func clusterConfig(cfg *config.Config, apiAddr, adminAddr string, epoch uint64, log *slog.Logger) cluster.Config {
	c := cfg.Cluster
	advHost := ""
	if c.Advertise != "" {
		if h, _, err := net.SplitHostPort(c.Advertise); err == nil {
			advHost = h
		} else {
			advHost = c.Advertise
		}
	}
	return cluster.Config{
		Enabled:   c.Enabled,
		NodeName:  cfg.Node.Name,
		Region:    cfg.Node.Region,
		Bind:      c.Bind,
		Advertise: c.Advertise,
		Join:      append([]string(nil), c.Join...),
		Profile:   c.Profile,
		SecretKey: c.SecretKey,
		Label:     c.Label,
		Insecure:  c.Insecure,
		APIAddr:   reachableAddr(apiAddr, advHost),
		AdminAddr: reachableAddr(adminAddr, advHost),
		Version:   version,
		Epoch:     epoch,
		Logger:    log,

		ProbeInterval:    c.ProbeInterval,
		ProbeTimeout:     c.ProbeTimeout,
		SuspicionMult:    c.SuspicionMult,
		GossipInterval:   c.GossipInterval,
		PushPullInterval: c.PushPullInterval,

		SuspicionMaxTimeoutMult: c.SuspicionMaxTimeoutMult,
		AwarenessMaxMultiplier:  c.AwarenessMaxMultiplier,
	}
}

// reachableAddr replaces a wildcard host in addr (0.0.0.0, ::, empty) by
// host when one is known.
func reachableAddr(addr, host string) string {
	h, p, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return addr
	}
	if ip := net.ParseIP(h); h == "" || ip != nil && ip.IsUnspecified() {
		return net.JoinHostPort(host, p)
	}
	return addr
}

// clusterNode is this process's cluster membership and the channels that
// carry its ledger and catalog. Build it with newClusterNode before the
// gateway (core.Options takes its Cluster and catalogChanged), then start
// it with the gateway.
type clusterNode struct {
	c       *cluster.Cluster
	log     *slog.Logger
	ledger  *ledgerChannel
	catalog *catalogChannel
	health  *healthChannel
}

// wireMetrics are the channels' own counters, created once.
type wireMetrics struct {
	ledgerRejected  *metrics.Counter // deltas or states ledger refused
	catalogRejected *metrics.Counter // records routing refused
	ledgerErrors    *metrics.Counter // broadcasts the cluster refused
	catalogErrors   *metrics.Counter
	uniqueDropped   *metrics.Counter // grant/record payloads given up to anti-entropy
}

func newWireMetrics(set *metrics.Set) *wireMetrics {
	const p = "tollgate_cluster_"
	return &wireMetrics{
		ledgerRejected:  set.NewCounter(p + `merge_rejected_total{type="ledger"}`),
		catalogRejected: set.NewCounter(p + `merge_rejected_total{type="catalog"}`),
		ledgerErrors:    set.NewCounter(p + `broadcast_errors_total{type="ledger"}`),
		catalogErrors:   set.NewCounter(p + `broadcast_errors_total{type="catalog"}`),
		uniqueDropped:   set.NewCounter(p + `ledger_unique_dropped_total`),
	}
}

// newClusterNode creates the cluster (nothing listens yet), registers the
// ledger and catalog channels and wires the partition hook to the ledger.
// Metrics go to set.
func newClusterNode(cfg cluster.Config, led *ledger.Ledger, router *routing.Router, set *metrics.Set, log *slog.Logger) (*clusterNode, error) {
	if cfg.NodeName != led.Node() {
		return nil, fmt.Errorf("cluster node name %q differs from the ledger's %q", cfg.NodeName, led.Node())
	}
	c, err := cluster.New(cfg, set)
	if err != nil {
		return nil, err
	}
	cfg.EnsureDefaults()
	m := newWireMetrics(set)
	lim := &logLimiter{}
	n := &clusterNode{
		c:   c,
		log: log.With("component", "cluster-wire"),
	}
	n.ledger = &ledgerChannel{c: c, led: led, tick: cfg.GossipTick, log: n.log, m: m, lim: lim}
	n.catalog = &catalogChannel{c: c, router: router, self: cfg.NodeName, log: n.log, m: m, lim: lim}
	if err := c.Register(cluster.TypeLedger, "ledger", ledgerWireVersion, n.ledger); err != nil {
		return nil, err
	}
	if err := c.Register(cluster.TypeCatalog, "catalog", catalogWireVersion, n.catalog); err != nil {
		return nil, err
	}
	n.health = newHealthChannel(c, router, cfg.Region, set, n.log, lim)
	if err := c.Register(cluster.TypeHealth, "health", healthWireVersion, n.health); err != nil {
		return nil, err
	}
	c.OnPartitionChange(led.SetPartitioned)
	return n, nil
}

// startCluster hands the gateway to the catalog channel (gossiped records
// go through gw.ApplyCatalog) and starts the cluster: it listens and joins
// in the background.
func startCluster(n *clusterNode, gw *core.Gateway) error {
	n.catalog.apply = gw.ApplyCatalog
	if err := n.c.Start(); err != nil {
		return err
	}
	n.log.Info("cluster wired", "gossip", n.c.Addr())
	return nil
}

// shutdown sends the ledger changes made since the last tick (the
// gateway has stopped serving by now), leaves the cluster and stops every
// cluster goroutine. Call it before the ledger closes.
func (n *clusterNode) shutdown(ctx context.Context) error {
	n.ledger.flushFinal()
	return n.c.Shutdown(ctx)
}

// catalogChanged is core.Options.OnCatalogChange.
func (n *clusterNode) catalogChanged(recs []routing.CatalogRecord) { n.catalog.changed(recs) }

// logLimiter logs a repeated warning at most once a second.
type logLimiter struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (l *logLimiter) warn(log *slog.Logger, msg string, args ...any) {
	now := time.Now()
	l.mu.Lock()
	if l.last == nil {
		l.last = make(map[string]time.Time)
	}
	ok := now.Sub(l.last[msg]) >= time.Second
	if ok {
		l.last[msg] = now
	}
	l.mu.Unlock()
	if ok {
		log.Warn(msg, args...)
	}
}

// ledgerChannel carries the ledger: cluster.Ticker, cluster.Repairer.
type ledgerChannel struct {
	c    *cluster.Cluster
	led  *ledger.Ledger
	tick time.Duration
	log  *slog.Logger
	m    *wireMetrics
	lim  *logLimiter

	// mu serialises Tick (the cluster's worker) and flushFinal (shutdown).
	mu sync.Mutex
	// carry holds the counters of the previous tick when that tick ended
	// after the next flush may have started: its keyed payloads may then
	// share a flush with this tick's and be replaced by them, so this
	// tick's payloads must include them.
	carry map[string]ledger.Delta
	// retry holds grant/record payloads the cluster refused (backlog full).
	retry [][]byte
}

var (
	_ cluster.Repairer = (*ledgerChannel)(nil)
	_ cluster.Ticker   = (*ledgerChannel)(nil)
)

// Tick broadcasts what changed in the ledger since the previous tick.
func (ch *ledgerChannel) Tick(now time.Time) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	sent := ch.broadcastDeltas()
	// A flush runs at each multiple of the tick after now; finishing
	// before the next one means every payload above is in it alone.
	if time.Since(now) >= ch.tick {
		ch.carry = sent
	} else {
		ch.carry = nil
	}
}

// flushFinal broadcasts the last changes before the cluster shuts down
// (whose Shutdown flushes them to the members).
func (ch *ledgerChannel) flushFinal() {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.broadcastDeltas()
	ch.carry = nil
}

// broadcastDeltas sends the ledger's deltas (and the carried counters) and
// returns the counters it sent, by account. The caller holds mu.
func (ch *ledgerChannel) broadcastDeltas() map[string]ledger.Delta {
	ch.retryUnique()
	prev := ch.carry
	var sent map[string]ledger.Delta
	note := func(d ledger.Delta) {
		if sent == nil {
			sent = make(map[string]ledger.Delta)
		}
		sent[d.AccountID] = d
	}
	for _, d := range ch.led.Deltas() {
		counters, records := splitDelta(d)
		if hasRecords(&records) {
			for _, part := range records.Split(uniquePartBytes) {
				ch.broadcastUnique(&part)
			}
		}
		if old, ok := prev[d.AccountID]; ok {
			counters = mergeCounters(counters, old)
			delete(prev, d.AccountID)
		}
		if hasCounters(&counters) {
			ch.broadcastCounters(&counters)
			note(counters)
		}
	}
	for _, old := range prev {
		ch.broadcastCounters(&old)
		note(old)
	}
	return sent
}

// splitDelta separates the counters (superseding values) from the grants
// and records (each must arrive).
func splitDelta(d ledger.Delta) (counters, records ledger.Delta) {
	counters = ledger.Delta{AccountID: d.AccountID, Spend: d.Spend, KeyUsage: d.KeyUsage}
	records = ledger.Delta{AccountID: d.AccountID, Account: d.Account, Grants: d.Grants, Keys: d.Keys}
	return counters, records
}

func hasRecords(d *ledger.Delta) bool {
	return d.Account != nil || len(d.Grants) > 0 || len(d.Keys) > 0
}

func hasCounters(d *ledger.Delta) bool { return len(d.Spend) > 0 || len(d.KeyUsage) > 0 }

// mergeCounters returns newer plus the counters of older it lacks. A
// counter of this node only grows, so where both hold one, newer's wins.
func mergeCounters(newer, older ledger.Delta) ledger.Delta {
	type spendID struct {
		node  string
		epoch uint64
	}
	type usageID struct {
		key    ledger.KeyHash
		node   string
		epoch  uint64
		period ledger.Period
	}
	haveS := make(map[spendID]bool, len(newer.Spend))
	for _, s := range newer.Spend {
		haveS[spendID{s.Node, s.Epoch}] = true
	}
	for _, s := range older.Spend {
		if !haveS[spendID{s.Node, s.Epoch}] {
			newer.Spend = append(newer.Spend, s)
		}
	}
	haveU := make(map[usageID]bool, len(newer.KeyUsage))
	for _, u := range newer.KeyUsage {
		haveU[usageID{u.Key, u.Node, u.Epoch, u.Period}] = true
	}
	for _, u := range older.KeyUsage {
		if !haveU[usageID{u.Key, u.Node, u.Epoch, u.Period}] {
			newer.KeyUsage = append(newer.KeyUsage, u)
		}
	}
	return newer
}

// broadcastCounters sends an account's counters under its id, cut into
// parts that each fit a gossip packet.
func (ch *ledgerChannel) broadcastCounters(d *ledger.Delta) {
	// The longest part key this account is likely to use sets the limit.
	limit := ch.c.BroadcastLimit(d.AccountID + "#99")
	for i, part := range d.Split(limit) {
		key := d.AccountID
		if i > 0 {
			key += "#" + strconv.Itoa(i)
		}
		b, err := part.AppendBinary(nil)
		if err != nil {
			ch.m.ledgerErrors.Inc()
			ch.lim.warn(ch.log, "cannot encode ledger counters", "account", d.AccountID, "error", err)
			continue
		}
		if err := ch.c.Broadcast(cluster.TypeLedger, key, b); err != nil {
			ch.m.ledgerErrors.Inc()
			ch.lim.warn(ch.log, "cannot broadcast ledger counters; anti-entropy will repair", "account", d.AccountID, "error", err)
		}
	}
}

// broadcastUnique sends grants and records with the empty key.
func (ch *ledgerChannel) broadcastUnique(d *ledger.Delta) {
	b, err := d.AppendBinary(nil)
	if err != nil {
		ch.m.ledgerErrors.Inc()
		ch.lim.warn(ch.log, "cannot encode ledger records", "account", d.AccountID, "error", err)
		return
	}
	ch.sendUnique(b)
}

func (ch *ledgerChannel) sendUnique(b []byte) {
	err := ch.c.Broadcast(cluster.TypeLedger, "", b)
	switch {
	case err == nil:
	case errors.Is(err, cluster.ErrQueueFull) && len(ch.retry) < maxUniqueRetry:
		ch.retry = append(ch.retry, b)
	default:
		ch.m.ledgerErrors.Inc()
		ch.m.uniqueDropped.Inc()
		ch.lim.warn(ch.log, "cannot broadcast ledger grants or records; anti-entropy will repair", "error", err)
	}
}

// retryUnique sends again the payloads refused at the previous tick.
func (ch *ledgerChannel) retryUnique() {
	if len(ch.retry) == 0 {
		return
	}
	pending := ch.retry
	ch.retry = nil
	for _, b := range pending {
		ch.sendUnique(b)
	}
}

// Receive merges a delta member from broadcast.
func (ch *ledgerChannel) Receive(from string, ver byte, payload []byte) {
	if ver != ledgerWireVersion {
		ch.m.ledgerRejected.Inc()
		ch.lim.warn(ch.log, "ledger delta of an unknown version ignored", "from", from, "version", ver)
		return
	}
	var d ledger.Delta
	if err := d.UnmarshalBinary(payload); err != nil {
		ch.m.ledgerRejected.Inc()
		ch.lim.warn(ch.log, "undecodable ledger delta ignored", "from", from, "error", err)
		return
	}
	if err := ch.led.Merge(from, d); err != nil {
		if !errors.Is(err, ledger.ErrClosed) {
			ch.m.ledgerRejected.Inc()
			ch.lim.warn(ch.log, "ledger delta rejected", "from", from, "account", d.AccountID, "error", err)
		}
	}
}

// LocalState is the ledger's digest.
func (ch *ledgerChannel) LocalState(bool) []byte {
	dg := ch.led.Digest()
	b, err := dg.AppendBinary(nil)
	if err != nil {
		return nil
	}
	return b
}

// StateSince answers a peer's digest with what it lacks.
func (ch *ledgerChannel) StateSince(from string, ver byte, digest []byte) []byte {
	if ver != ledgerWireVersion {
		ch.m.ledgerRejected.Inc()
		return nil
	}
	var dg ledger.Digest
	if err := dg.UnmarshalBinary(digest); err != nil {
		ch.m.ledgerRejected.Inc()
		ch.lim.warn(ch.log, "undecodable ledger digest ignored", "from", from, "error", err)
		return nil
	}
	state := ch.led.StateSince(dg)
	if len(state) == 0 {
		return nil
	}
	var out []byte
	out = binary.AppendUvarint(out, uint64(len(state)))
	var scratch []byte
	for i := range state {
		var err error
		scratch, err = state[i].AppendBinary(scratch[:0])
		if err != nil {
			ch.lim.warn(ch.log, "cannot encode ledger state", "account", state[i].AccountID, "error", err)
			return nil
		}
		out = appendItem(out, scratch)
	}
	return out
}

// MergeState applies a peer's StateSince answer.
func (ch *ledgerChannel) MergeState(from string, ver byte, state []byte) {
	if ver != ledgerWireVersion {
		ch.m.ledgerRejected.Inc()
		return
	}
	items, err := decodeList(state)
	if err != nil {
		ch.m.ledgerRejected.Inc()
		ch.lim.warn(ch.log, "undecodable ledger state ignored", "from", from, "error", err)
		return
	}
	deltas := make([]ledger.Delta, len(items))
	for i, b := range items {
		if err := deltas[i].UnmarshalBinary(b); err != nil {
			ch.m.ledgerRejected.Inc()
			ch.lim.warn(ch.log, "undecodable ledger state ignored", "from", from, "error", err)
			return
		}
	}
	if err := ch.led.MergeState(from, deltas); err != nil && !errors.Is(err, ledger.ErrClosed) {
		ch.m.ledgerRejected.Inc()
		ch.lim.warn(ch.log, "ledger state rejected", "from", from, "error", err)
	}
}

// catalogChannel carries runtime catalog records: cluster.StateChannel.
type catalogChannel struct {
	c      *cluster.Cluster
	router *routing.Router
	self   string
	log    *slog.Logger
	m      *wireMetrics
	lim    *logLimiter
	// apply is the gateway's ApplyCatalog, set by startCluster before the
	// cluster starts calling the channel.
	apply func(...routing.CatalogRecord) error
}

var _ cluster.StateChannel = (*catalogChannel)(nil)

// changed broadcasts the records this node authored.
func (ch *catalogChannel) changed(recs []routing.CatalogRecord) {
	for i := range recs {
		rec := &recs[i]
		if rec.Node != ch.self {
			continue // learnt from a peer: everyone else gets it by anti-entropy
		}
		key := rec.Kind.String() + ":" + rec.Key
		if len(key) > 255 {
			key = "" // too long to name: sent as a unique payload instead
		}
		if err := ch.c.Broadcast(cluster.TypeCatalog, key, rec.Marshal()); err != nil {
			ch.m.catalogErrors.Inc()
			ch.lim.warn(ch.log, "cannot broadcast a catalog change; anti-entropy will repair", "kind", rec.Kind, "key", rec.Key, "error", err)
		}
	}
}

// Receive applies one record a member authored.
func (ch *catalogChannel) Receive(from string, ver byte, payload []byte) {
	if ver != catalogWireVersion {
		ch.m.catalogRejected.Inc()
		ch.lim.warn(ch.log, "catalog record of an unknown version ignored", "from", from, "version", ver)
		return
	}
	rec, err := routing.UnmarshalCatalogRecord(payload)
	if err != nil {
		ch.m.catalogRejected.Inc()
		ch.lim.warn(ch.log, "undecodable catalog record ignored", "from", from, "error", err)
		return
	}
	ch.applyAll(from, []routing.CatalogRecord{rec})
}

// LocalState is every winning catalog record, or nil when there is none.
func (ch *catalogChannel) LocalState(bool) []byte {
	recs := ch.router.Records()
	if len(recs) == 0 {
		return nil
	}
	out := binary.AppendUvarint(nil, uint64(len(recs)))
	var scratch []byte
	for i := range recs {
		scratch = recs[i].AppendMarshal(scratch[:0])
		out = appendItem(out, scratch)
	}
	return out
}

// MergeState applies a peer's records.
func (ch *catalogChannel) MergeState(from string, ver byte, state []byte) {
	if ver != catalogWireVersion {
		ch.m.catalogRejected.Inc()
		return
	}
	items, err := decodeList(state)
	if err != nil {
		ch.m.catalogRejected.Inc()
		ch.lim.warn(ch.log, "undecodable catalog state ignored", "from", from, "error", err)
		return
	}
	recs := make([]routing.CatalogRecord, 0, len(items))
	for _, b := range items {
		rec, err := routing.UnmarshalCatalogRecord(b)
		if err != nil {
			ch.m.catalogRejected.Inc()
			ch.lim.warn(ch.log, "undecodable catalog record ignored", "from", from, "error", err)
			continue
		}
		recs = append(recs, rec)
	}
	ch.applyAll(from, recs)
}

// applyAll applies records through the gateway. ApplyCatalog stops at the
// first invalid record, so on an error each record is applied on its own
// and only the invalid ones are skipped.
func (ch *catalogChannel) applyAll(from string, recs []routing.CatalogRecord) {
	if len(recs) == 0 || ch.apply == nil {
		return
	}
	if err := ch.apply(recs...); err == nil || len(recs) == 1 {
		if err != nil {
			ch.m.catalogRejected.Inc()
			ch.lim.warn(ch.log, "catalog record rejected", "from", from, "kind", recs[0].Kind, "key", recs[0].Key, "error", err)
		}
		return
	}
	for i := range recs {
		if err := ch.apply(recs[i]); err != nil {
			ch.m.catalogRejected.Inc()
			ch.lim.warn(ch.log, "catalog record rejected", "from", from, "kind", recs[i].Kind, "key", recs[i].Key, "error", err)
		}
	}
}

// State lists: uvarint count, then each item as uvarint length + bytes.

func appendItem(dst, item []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(item)))
	return append(dst, item...)
}

// decodeList splits a state list. The items alias b.
func decodeList(b []byte) ([][]byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > maxListItems || n > uint64(len(b)) {
		return nil, errors.New("bad state list header")
	}
	b = b[k:]
	out := make([][]byte, 0, n)
	for i := uint64(0); i < n; i++ {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, fmt.Errorf("state list item %d: bad length", i)
		}
		out = append(out, b[k:k+int(l)])
		b = b[k+int(l):]
	}
	if len(b) != 0 {
		return nil, errors.New("trailing bytes after the state list")
	}
	return out, nil
}
