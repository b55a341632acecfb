package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Dimension is an attribute analytics can group and filter by.
type Dimension string

const (
	DimAccount  Dimension = "account"
	DimKey      Dimension = "key" // key hash, hex
	DimModel    Dimension = "model"
	DimProvider Dimension = "provider"
	DimApp      Dimension = "app"
	DimUser     Dimension = "user"
	DimAPIPath  Dimension = "api_path"
	DimRegion   Dimension = "region"
	DimNode     Dimension = "node"
	// DimTag groups by tag. A request with several tags counts once in
	// each tag's group, so sums over tag groups can exceed the totals; a
	// request without tags counts in the "" group.
	DimTag Dimension = "tag"
)

// Dimensions lists every Dimension.
var Dimensions = []Dimension{DimAccount, DimKey, DimModel, DimProvider, DimApp, DimUser, DimAPIPath, DimRegion, DimNode, DimTag}

// Metric names a value of Stats.
type Metric string

const (
	MetricRequests         Metric = "requests"
	MetricErrors           Metric = "errors"
	MetricStreamed         Metric = "streamed"
	MetricCancelled        Metric = "cancelled"
	MetricPromptTokens     Metric = "prompt_tokens"
	MetricCompletionTokens Metric = "completion_tokens"
	MetricCachedTokens     Metric = "cached_tokens"
	MetricCacheWriteTokens Metric = "cache_write_tokens"
	MetricReasoningTokens  Metric = "reasoning_tokens"
	MetricTotalTokens      Metric = "total_tokens"
	MetricCost             Metric = "cost"        // nano-USD
	MetricLatencyAvg       Metric = "latency_avg" // nanoseconds
	MetricLatencyP50       Metric = "latency_p50" // nanoseconds
	MetricLatencyP95       Metric = "latency_p95" // nanoseconds
	MetricTTFTAvg          Metric = "ttft_avg"    // nanoseconds
	MetricTTFTP50          Metric = "ttft_p50"    // nanoseconds
	MetricTTFTP95          Metric = "ttft_p95"    // nanoseconds
)

// Metrics lists every Metric.
var Metrics = []Metric{MetricRequests, MetricErrors, MetricStreamed, MetricCancelled, MetricPromptTokens,
	MetricCompletionTokens, MetricCachedTokens, MetricCacheWriteTokens, MetricReasoningTokens,
	MetricTotalTokens, MetricCost, MetricLatencyAvg, MetricLatencyP50, MetricLatencyP95,
	MetricTTFTAvg, MetricTTFTP50, MetricTTFTP95}

// Value returns metric m of s; ok is false for an unknown metric.
func (s *Stats) Value(m Metric) (v int64, ok bool) {
	switch m {
	case MetricRequests:
		return s.Requests, true
	case MetricErrors:
		return s.Errors, true
	case MetricStreamed:
		return s.Streamed, true
	case MetricCancelled:
		return s.Cancelled, true
	case MetricPromptTokens:
		return s.PromptTokens, true
	case MetricCompletionTokens:
		return s.CompletionTokens, true
	case MetricCachedTokens:
		return s.CachedTokens, true
	case MetricCacheWriteTokens:
		return s.CacheWriteTokens, true
	case MetricReasoningTokens:
		return s.ReasoningTokens, true
	case MetricTotalTokens:
		return s.PromptTokens + s.CompletionTokens, true
	case MetricCost:
		return s.Cost, true
	case MetricLatencyAvg:
		return int64(s.LatencyAvg()), true
	case MetricLatencyP50:
		return int64(s.LatencyQuantile(0.5)), true
	case MetricLatencyP95:
		return int64(s.LatencyQuantile(0.95)), true
	case MetricTTFTAvg:
		return int64(s.TTFTAvg()), true
	case MetricTTFTP50:
		return int64(s.TTFTQuantile(0.5)), true
	case MetricTTFTP95:
		return int64(s.TTFTQuantile(0.95)), true
	}
	return 0, false
}

// AnalyticsQuery selects rollups: the stored buckets that start in
// [From aligned down to the stored granularity, To). Minute queries read
// minute rollups (kept Config.MinuteRollupRetention); hour and day queries
// read hour rollups, day buckets being UTC days.
type AnalyticsQuery struct {
	Account     string // "" = every account (operator queries)
	From, To    time.Time
	Granularity Granularity
	GroupBy     []Dimension
	Filters     map[Dimension][]string // a row matches if, for each dimension, its value is listed
	Metrics     []Metric               // what the caller will show; empty = all. Stats always hold all.
}

// AnalyticsRow is one (bucket, group) of a result.
type AnalyticsRow struct {
	Bucket time.Time // UTC start of the bucket
	Group  []string  // values of the query's GroupBy, in order
	Stats  Stats
}

// AnalyticsResult is the answer of one node. Results of several nodes for
// the same query combine with MergeResults.
type AnalyticsResult struct {
	Nodes []string
	// PerTag is true when the rows come from the per-tag rollups (the query
	// groups or filters by tag): a request with n tags is counted n times.
	PerTag bool
	Rows   []AnalyticsRow
}

func (q *AnalyticsQuery) validate() error {
	switch q.Granularity {
	case GranularityMinute, GranularityHour, GranularityDay:
	default:
		return fmt.Errorf("%w: granularity %d", ErrInvalidArgument, q.Granularity)
	}
	if !q.From.Before(q.To) {
		return fmt.Errorf("%w: empty time range", ErrInvalidArgument)
	}
	for i, d := range q.GroupBy {
		if !slices.Contains(Dimensions, d) {
			return fmt.Errorf("%w: unknown dimension %q", ErrInvalidArgument, d)
		}
		if slices.Contains(q.GroupBy[:i], d) {
			return fmt.Errorf("%w: dimension %q grouped twice", ErrInvalidArgument, d)
		}
	}
	for d := range q.Filters {
		if !slices.Contains(Dimensions, d) {
			return fmt.Errorf("%w: unknown filter dimension %q", ErrInvalidArgument, d)
		}
	}
	for _, m := range q.Metrics {
		if !slices.Contains(Metrics, m) {
			return fmt.Errorf("%w: unknown metric %q", ErrInvalidArgument, m)
		}
	}
	return nil
}

// Query answers q from this node's rollups, without reading generation
// records. Rows are sorted by bucket, then group values.
func (l *Ledger) Query(q AnalyticsQuery) (AnalyticsResult, error) {
	if err := q.validate(); err != nil {
		return AnalyticsResult{}, err
	}
	var res AnalyticsResult
	err := l.readDB(func() error {
		var err error
		res, err = l.query(&q)
		return err
	})
	return res, err
}

func (l *Ledger) query(q *AnalyticsQuery) (AnalyticsResult, error) {
	storeGran := GranularityHour
	if q.Granularity == GranularityMinute {
		storeGran = GranularityMinute
	}
	family := familyBase
	if _, ok := q.Filters[DimTag]; ok || slices.Contains(q.GroupBy, DimTag) {
		family = familyTag
	}
	filters := make(map[Dimension]map[string]bool, len(q.Filters))
	for d, vs := range q.Filters {
		set := make(map[string]bool, len(vs))
		for _, v := range vs {
			set[v] = true
		}
		filters[d] = set
	}
	var accounts []string
	if q.Account != "" {
		accounts = []string{q.Account}
	} else {
		l.mu.RLock()
		for id := range l.accounts {
			accounts = append(accounts, id)
		}
		l.mu.RUnlock()
		sort.Strings(accounts)
	}
	outSec := q.Granularity.seconds()
	from := floorDiv(q.From.Unix(), storeGran.seconds()) * storeGran.seconds()
	to := q.To.Unix()
	if q.To.Nanosecond() > 0 {
		to++
	}

	groups := make(map[string]*AnalyticsRow)
	var order []*AnalyticsRow
	var gk []byte
	vals := make([]string, len(Dimensions))
	for _, acct := range accounts {
		lower := appendRollupPrefix(nil, storeGran, acct, from)
		upper := appendRollupPrefix(nil, storeGran, acct, to)
		it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		if err != nil {
			return AnalyticsResult{}, fmt.Errorf("ledger: cannot query rollups: %w", err)
		}
		for valid := it.First(); valid; valid = it.Next() {
			_, _, bucket, fam, d, err := decodeRollupKey(it.Key())
			if err != nil || fam != family {
				continue
			}
			for i, dim := range Dimensions {
				vals[i] = dimValue(dim, acct, l.cfg.Node, &d)
			}
			if !matchFilters(filters, vals) {
				continue
			}
			v, err := it.ValueAndErr()
			if err != nil {
				_ = it.Close()
				return AnalyticsResult{}, fmt.Errorf("ledger: cannot read rollup: %w", err)
			}
			var s Stats
			if addEncodedStats(&s, v) != nil {
				continue
			}
			out := floorDiv(bucket, outSec) * outSec
			gk = binary.BigEndian.AppendUint64(gk[:0], uint64(out))
			for _, dim := range q.GroupBy {
				gk = append(gk, vals[slices.Index(Dimensions, dim)]...)
				gk = append(gk, 0)
			}
			row := groups[string(gk)]
			if row == nil {
				row = &AnalyticsRow{Bucket: time.Unix(out, 0).UTC(), Group: make([]string, len(q.GroupBy))}
				for i, dim := range q.GroupBy {
					row.Group[i] = vals[slices.Index(Dimensions, dim)]
				}
				groups[string(gk)] = row
				order = append(order, row)
			}
			row.Stats.Add(&s)
		}
		if err := it.Close(); err != nil {
			return AnalyticsResult{}, fmt.Errorf("ledger: cannot query rollups: %w", err)
		}
	}
	res := AnalyticsResult{Nodes: []string{l.cfg.Node}, PerTag: family == familyTag, Rows: make([]AnalyticsRow, len(order))}
	for i, r := range order {
		res.Rows[i] = *r
	}
	sortRows(res.Rows)
	return res, nil
}

func dimValue(dim Dimension, account, node string, d *rollupDims) string {
	switch dim {
	case DimAccount:
		return account
	case DimKey:
		if d.Key == "" {
			return ""
		}
		return hex.EncodeToString([]byte(d.Key))
	case DimModel:
		return d.Model
	case DimProvider:
		return d.Provider
	case DimApp:
		return d.App
	case DimUser:
		return d.User
	case DimAPIPath:
		return d.APIPath
	case DimRegion:
		return d.Region
	case DimNode:
		return node
	case DimTag:
		return d.Tag
	}
	return ""
}

func matchFilters(filters map[Dimension]map[string]bool, vals []string) bool {
	for d, set := range filters {
		if !set[vals[slices.Index(Dimensions, d)]] {
			return false
		}
	}
	return true
}

func sortRows(rows []AnalyticsRow) {
	sort.Slice(rows, func(i, j int) bool {
		if !rows[i].Bucket.Equal(rows[j].Bucket) {
			return rows[i].Bucket.Before(rows[j].Bucket)
		}
		return slices.Compare(rows[i].Group, rows[j].Group) < 0
	})
}

// MergeResults combines the answers of several nodes to one query: rows of
// the same bucket and group are added, Nodes are concatenated.
func MergeResults(results ...AnalyticsResult) AnalyticsResult {
	var out AnalyticsResult
	idx := make(map[string]int)
	for _, r := range results {
		out.Nodes = append(out.Nodes, r.Nodes...)
		out.PerTag = out.PerTag || r.PerTag
		for _, row := range r.Rows {
			k := fmt.Sprintf("%d\x00%s", row.Bucket.Unix(), strings.Join(row.Group, "\x00"))
			if i, ok := idx[k]; ok {
				out.Rows[i].Stats.Add(&row.Stats)
				continue
			}
			idx[k] = len(out.Rows)
			row.Group = slices.Clone(row.Group)
			out.Rows = append(out.Rows, row)
		}
	}
	sortRows(out.Rows)
	return out
}

// ActivityRow is one row of OpenRouter's GET /activity: one UTC day, model
// and provider.
type ActivityRow struct {
	Date             string // YYYY-MM-DD
	Model            string
	Provider         string
	Requests         int64
	PromptTokens     int64
	CompletionTokens int64
	ReasoningTokens  int64
	CachedTokens     int64
	Usage            int64 // nano-USD
}

// Activity returns the account's usage per UTC day × model × provider for
// the days in [from, to).
func (l *Ledger) Activity(account string, from, to time.Time) ([]ActivityRow, error) {
	res, err := l.Query(ActivityQuery(account, from, to))
	if err != nil {
		return nil, err
	}
	return ActivityRows(res), nil
}

// ActivityQuery is the analytics query behind Activity: whole UTC days
// covering [from, to), grouped by model and provider. A cluster runs it on
// every member and merges the results before ActivityRows.
func ActivityQuery(account string, from, to time.Time) AnalyticsQuery {
	day := int64(86400)
	f := floorDiv(from.Unix(), day) * day
	t := floorDiv(to.Unix()+day-1, day) * day
	if t <= f {
		t = f + day
	}
	return AnalyticsQuery{
		Account:     account,
		From:        time.Unix(f, 0),
		To:          time.Unix(t, 0),
		Granularity: GranularityDay,
		GroupBy:     []Dimension{DimModel, DimProvider},
	}
}

// ActivityRows converts the result of an ActivityQuery.
func ActivityRows(res AnalyticsResult) []ActivityRow {
	out := make([]ActivityRow, 0, len(res.Rows))
	for _, r := range res.Rows {
		out = append(out, ActivityRow{
			Date:             r.Bucket.Format(time.DateOnly),
			Model:            r.Group[0],
			Provider:         r.Group[1],
			Requests:         r.Stats.Requests,
			PromptTokens:     r.Stats.PromptTokens,
			CompletionTokens: r.Stats.CompletionTokens,
			ReasoningTokens:  r.Stats.ReasoningTokens,
			CachedTokens:     r.Stats.CachedTokens,
			Usage:            r.Stats.Cost,
		})
	}
	return out
}

// Prune deletes generation records and rollups older than their retention
// and usage counters of past limit spans. The writer goroutine runs it
// every 10 minutes; it is exported for operators and tests.
func (l *Ledger) Prune() error {
	return l.prune()
}

func (l *Ledger) prune() error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.closed.Load() {
		return ErrClosed
	}
	now := l.cfg.Now()
	retain := now.Add(-l.cfg.GenerationRetention)
	if err := l.pruneGenerations(retain); err != nil {
		return fmt.Errorf("ledger: cannot prune generations: %w", err)
	}
	if err := l.pruneGenerationsV0(retain); err != nil {
		return fmt.Errorf("ledger: cannot prune generations: %w", err)
	}
	// Rollups, per account.
	l.mu.RLock()
	accounts := make([]string, 0, len(l.accounts))
	for id := range l.accounts {
		accounts = append(accounts, id)
	}
	l.mu.RUnlock()
	b := l.db.NewBatch()
	for _, acct := range accounts {
		for _, r := range []struct {
			gran Granularity
			keep time.Duration
		}{{GranularityMinute, l.cfg.MinuteRollupRetention}, {GranularityHour, l.cfg.HourRollupRetention}} {
			lo := appendRollupPrefix(nil, r.gran, acct, math.MinInt64)
			hi := appendRollupPrefix(nil, r.gran, acct, now.Add(-r.keep).Unix())
			_ = b.DeleteRange(lo, hi, nil)
		}
	}
	// Usage counters of past spans.
	cur := l.periods.at(now)
	err := l.scanRange([]byte{prefixKeyUsage}, []byte{prefixKeyUsage + 1}, func(k, _ []byte) bool {
		if _, _, p, err := decodeUsageKey(k); err == nil && p.stale(cur) {
			_ = b.Delete(k, nil)
		}
		return true
	})
	if err == nil {
		err = l.commit(b, false)
	} else {
		_ = b.Close()
	}
	if err != nil {
		return fmt.Errorf("ledger: cannot prune: %w", err)
	}
	l.mu.RLock()
	states := make([]*keyState, 0, len(l.keys))
	for _, ks := range l.keys {
		states = append(states, ks)
	}
	l.mu.RUnlock()
	for _, ks := range states {
		ks.acct.mu.Lock()
		for p := range ks.usage {
			if p.stale(cur) {
				delete(ks.usage, p)
			}
		}
		for c := range ks.counters {
			if c.p.stale(cur) {
				delete(ks.counters, c)
			}
		}
		ks.acct.mu.Unlock()
	}
	return nil
}

// pruneBatch is how many deletes one prune commit holds at most.
const pruneBatch = 4096

// pruneGenerations deletes the generation records created before cutoff.
// A node's records are in time order (keys.go), so each node's expired
// records go in one range tombstone, up to the key an id made at the
// cutoff would have; the walk then seeks to the next node. Records under
// node "" (ids NewGenerationID did not make) are in no time order: each is
// judged by its Created time.
func (l *Ledger) pruneGenerations(cutoff time.Time) error {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixGeneration}, UpperBound: []byte{prefixGeneration + 1}})
	if err != nil {
		return err
	}
	var cut [genBodyLen]byte
	genBody(&cut, uint64(max(cutoff.UnixMilli(), 0)), 0)
	b := l.db.NewBatch()
	n := 0
	for valid := it.First(); valid; {
		node, _, err := decodeGenerationKey(it.Key())
		if err == nil && node != "" {
			start := appendGenerationNodeKey(nil, node)
			_ = b.DeleteRange(start, appendStr(bytes.Clone(start), string(cut[:])), nil)
			// The next node's keys sort after this bound (keys.go's string
			// encoding).
			start[len(start)-1]++
			valid = it.SeekGE(start)
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			_, _ = it.Close(), b.Close()
			return err
		}
		if g, err := decodeGeneration(v); err == nil && g.Created.Before(cutoff) {
			_ = b.Delete(it.Key(), nil)
			if n++; n%pruneBatch == 0 {
				if err := l.commit(b, false); err != nil {
					_ = it.Close()
					return err
				}
				b = l.db.NewBatch()
			}
		}
		valid = it.Next()
	}
	if err := it.Close(); err != nil {
		_ = b.Close()
		return err
	}
	return l.commit(b, false)
}

// pruneGenerationsV0 prunes records of the old key layout through their
// time index; once those are past retention it finds nothing.
func (l *Ledger) pruneGenerationsV0(cutoff time.Time) error {
	hi := appendGenTimeKeyV0(nil, cutoff.UnixNano(), "")
	for {
		b := l.db.NewBatch()
		n := 0
		err := l.scanRange([]byte{prefixGenTimeV0}, hi, func(k, _ []byte) bool {
			if _, id, err := decodeGenTimeKeyV0(k); err == nil {
				_ = b.Delete(appendGenerationKeyV0(nil, id), nil)
			}
			_ = b.Delete(k, nil)
			n++
			return n < pruneBatch
		})
		if err == nil {
			err = l.commit(b, false)
		} else {
			_ = b.Close()
		}
		if err != nil || n < pruneBatch {
			return err
		}
	}
}

// scanRange calls fn for keys in [lo, hi) until it returns false.
func (l *Ledger) scanRange(lo, hi []byte, fn func(k, v []byte) bool) error {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	for valid := it.First(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return err
		}
		if !fn(it.Key(), v) {
			break
		}
	}
	return it.Close()
}
