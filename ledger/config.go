package ledger

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Durability selects when settled spend reaches stable storage.
type Durability string

const (
	// DurabilityGroup commits spend, generation records and rollups in
	// groups every GroupWindow, off the response path. Settle returns at
	// once; a crash loses at most what was settled in the last window plus
	// one fsync.
	DurabilityGroup Durability = "group"
	// DurabilitySync makes Settle wait until its spend is synced. Concurrent
	// settles still share one fsync.
	DurabilitySync Durability = "sync"
)

// Defaults applied by Config.EnsureDefaults.
const (
	DefaultDir                   = "tollgate-data/ledger"
	DefaultNode                  = "local"
	DefaultDurability            = DurabilityGroup
	DefaultGroupWindow           = 5 * time.Millisecond
	DefaultSyncInterval          = 50 * time.Millisecond
	MaxSyncInterval              = time.Second
	MaxGroupWindow               = 5 * time.Millisecond
	DefaultPartitionAllowance    = int64(1_000_000_000) // 1 USD per key
	DefaultGenerationRetention   = 30 * 24 * time.Hour
	DefaultMinuteRollupRetention = 48 * time.Hour
	DefaultHourRollupRetention   = 400 * 24 * time.Hour
	DefaultMaxDimensionValues    = 1000
	DefaultMaxPendingSettles     = 1 << 16
)

// Config configures a Ledger. The zero value of every field means its
// documented default; call EnsureDefaults then Validate (Open does both).
type Config struct {
	// Dir is the Pebble directory. Default DefaultDir.
	Dir string
	// FS is the file system Pebble uses. Default vfs.Default; tests pass
	// vfs.NewCrashableMem().
	FS vfs.FS
	// Node is this node's name: it names the node's spend counters and is
	// embedded in generation ids. 1–64 characters of [A-Za-z0-9._-].
	// Default DefaultNode.
	Node string
	// Region is recorded on generations and rollups. Default empty.
	Region string
	// Durability is DurabilityGroup (default) or DurabilitySync.
	Durability Durability
	// GroupWindow is how long the group writer gathers settles before one
	// synced commit. Default and maximum 5 ms: at 5k settles/s that is
	// ~200 fsyncs/s instead of ~500 at 2 ms, and each fsync parks a
	// thread the proxy could have used.
	GroupWindow time.Duration
	// SyncInterval spaces the fsyncs of group-committed spend (Durability
	// group only): each group is written to the WAL before it commits, so
	// a kill -9 loses at most the last group window, but it is synced at
	// most once per SyncInterval (and SyncInterval after the last group),
	// so a power loss may take the last SyncInterval of spend. Grants,
	// accounts and keys are always synced before they are acknowledged.
	// Default 50 ms; negative: sync every group.
	SyncInterval time.Duration
	// PartitionAllowance is how much new spend (nano-USD) each key may make
	// on this node while SetPartitioned(true) is in force. Default 1 USD; a
	// negative value forbids any new paid spend while partitioned.
	PartitionAllowance int64
	// GenerationRetention is how long generation records are kept.
	// Default 30 days.
	GenerationRetention time.Duration
	// MinuteRollupRetention is how long per-minute rollups are kept.
	// Default 48 h.
	MinuteRollupRetention time.Duration
	// HourRollupRetention is how long per-hour rollups are kept.
	// Default 400 days.
	HourRollupRetention time.Duration
	// MaxDimensionValues caps the distinct values of the high-cardinality
	// rollup dimensions (tag, app, user) per account per hour on this node;
	// further values are counted under OverflowValue. Default 1000.
	MaxDimensionValues int
	// MaxPendingSettles bounds the settles waiting for the group writer;
	// Settle blocks when it is reached. Default 65536.
	MaxPendingSettles int
	// OnCommit, if set, is called by the group writer after each group
	// commit with the number of settles it held, how long the synced
	// commit took and its error, for the commit-latency metric. It runs on
	// the writer goroutine and must not block.
	OnCommit func(settles int, took time.Duration, err error)
	// Now is the clock. Default time.Now. Times are used in UTC.
	Now func() time.Time
	// Logger receives the ledger's and Pebble's logs. Default slog.Default().
	Logger *slog.Logger
}

// EnsureDefaults fills every zero field with its default.
func (c *Config) EnsureDefaults() {
	if c.Dir == "" {
		c.Dir = DefaultDir
	}
	if c.FS == nil {
		c.FS = vfs.Default
	}
	if c.Node == "" {
		c.Node = DefaultNode
	}
	if c.Durability == "" {
		c.Durability = DefaultDurability
	}
	if c.GroupWindow == 0 {
		c.GroupWindow = DefaultGroupWindow
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = DefaultSyncInterval
	}
	if c.PartitionAllowance == 0 {
		c.PartitionAllowance = DefaultPartitionAllowance
	}
	if c.GenerationRetention == 0 {
		c.GenerationRetention = DefaultGenerationRetention
	}
	if c.MinuteRollupRetention == 0 {
		c.MinuteRollupRetention = DefaultMinuteRollupRetention
	}
	if c.HourRollupRetention == 0 {
		c.HourRollupRetention = DefaultHourRollupRetention
	}
	if c.MaxDimensionValues == 0 {
		c.MaxDimensionValues = DefaultMaxDimensionValues
	}
	if c.MaxPendingSettles == 0 {
		c.MaxPendingSettles = DefaultMaxPendingSettles
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	if c.Dir == "" {
		return fmt.Errorf("ledger: config: dir is empty")
	}
	if c.FS == nil {
		return fmt.Errorf("ledger: config: fs is nil")
	}
	if err := validateNodeName(c.Node); err != nil {
		return fmt.Errorf("ledger: config: node: %w", err)
	}
	if len(c.Region) > 64 {
		return fmt.Errorf("ledger: config: region longer than 64 bytes")
	}
	switch c.Durability {
	case DurabilityGroup, DurabilitySync:
	default:
		return fmt.Errorf("ledger: config: durability %q: want %q or %q", c.Durability, DurabilityGroup, DurabilitySync)
	}
	if c.GroupWindow <= 0 || c.GroupWindow > MaxGroupWindow {
		return fmt.Errorf("ledger: config: group window %s: want (0, %s]", c.GroupWindow, MaxGroupWindow)
	}
	if c.SyncInterval > MaxSyncInterval {
		return fmt.Errorf("ledger: config: sync interval %s: want at most %s", c.SyncInterval, MaxSyncInterval)
	}
	if c.GenerationRetention < 0 || c.MinuteRollupRetention < 0 || c.HourRollupRetention < 0 {
		return fmt.Errorf("ledger: config: retention must not be negative")
	}
	if c.MaxDimensionValues < 0 {
		return fmt.Errorf("ledger: config: max dimension values must not be negative")
	}
	if c.MaxPendingSettles < 0 {
		return fmt.Errorf("ledger: config: max pending settles must not be negative")
	}
	if c.Now == nil {
		return fmt.Errorf("ledger: config: now is nil")
	}
	if c.Logger == nil {
		return fmt.Errorf("ledger: config: logger is nil")
	}
	return nil
}

func validateNodeName(s string) error {
	if len(s) == 0 || len(s) > 64 {
		return fmt.Errorf("name %q: want 1–64 characters", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("name %q: want only [A-Za-z0-9._-]", s)
		}
	}
	return nil
}
