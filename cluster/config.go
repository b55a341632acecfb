package cluster

import (
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// Profiles select memberlist's timing defaults (see the package doc).
const (
	ProfileLAN   = "lan"
	ProfileWAN   = "wan"
	ProfileLocal = "local"
)

// Defaults applied by Config.EnsureDefaults.
const (
	DefaultBind                = "0.0.0.0:7946"
	DefaultProfile             = ProfileLAN
	DefaultGossipTick          = 50 * time.Millisecond
	MaxGossipTick              = 100 * time.Millisecond
	DefaultJoinRetryMin        = time.Second
	DefaultJoinRetryMax        = 30 * time.Second
	DefaultReconnectInterval   = 10 * time.Second
	DefaultLeaveTimeout        = 5 * time.Second
	DefaultDeadNodeReclaim     = 30 * time.Second
	DefaultIngressQueue        = 8192
	DefaultChannelQueue        = 4096
	DefaultSendQueue           = 1024
	DefaultSendWorkers         = 4
	DefaultMaxQueuedBroadcasts = 8192
	DefaultMaxInlineState      = 1 << 20   // 1 MiB in one push/pull
	DefaultChunkBytes          = 256 << 10 // 256 KiB per reliable message
	DefaultMaxTransferBytes    = 64 << 20  // 64 MiB reassembled
	DefaultSeenTTL             = 2 * time.Minute

	// maxPushPullState is the budget for everything this package puts in one
	// push/pull. memberlist refuses remote states above 20 MiB and warns from
	// 12 MiB; the node list shares that budget.
	maxPushPullState = 8 << 20
	maxNameLen       = 64
	maxRegionLen     = 64
	maxAddrLen       = 255
)

// Config configures a Cluster. The zero value of every field means its
// documented default; call EnsureDefaults then Validate (New does both).
type Config struct {
	// Enabled switches clustering on; New returns ErrDisabled without it.
	Enabled bool
	// NodeName names this node in the cluster, in ledger counters and in
	// generation ids: 1–64 characters of [A-Za-z0-9._-]. Required.
	NodeName string
	// Region is advertised in the node metadata (at most 64 bytes).
	Region string
	// Bind is the IP:port memberlist listens on, UDP and TCP. Port 0 picks
	// a free port (see Cluster.Addr). Default DefaultBind.
	Bind string
	// Advertise is the IP[:port] other nodes reach this one at. Default:
	// derived from Bind (a private IP when Bind is 0.0.0.0).
	Advertise string
	// Join lists host:port (or name/host:port) seeds contacted at start, in
	// the background, with exponential backoff until one answers.
	Join []string
	// Profile is ProfileLAN (default), ProfileWAN or ProfileLocal: it maps to
	// memberlist.DefaultLANConfig, DefaultWANConfig or DefaultLocalConfig.
	Profile string
	// SecretKey is the gossip key: base64 of 16, 24 or 32 bytes (AES-128,
	// -192, -256 GCM) or a raw string of exactly that length; base64 is
	// tried first. Required unless Insecure.
	SecretKey string
	// Label is bound into every packet and stream (and into the AES-GCM
	// additional data): nodes with another label are rejected. At most 255
	// bytes.
	Label string
	// Insecure allows an empty SecretKey: gossip is then plaintext and
	// unauthenticated.
	Insecure bool
	// APIAddr and AdminAddr are advertised in the node metadata so peers
	// can forward requests (at most 255 bytes each).
	APIAddr   string
	AdminAddr string
	// Version is the software version advertised in the metadata.
	Version string
	// Epoch is the ledger epoch advertised in the metadata (bumped by the
	// ledger at every start).
	Epoch uint64
	// Logger receives this package's and memberlist's logs. Default
	// slog.Default().
	Logger *slog.Logger

	// GossipTick is how often queued broadcasts are coalesced per key and
	// handed to memberlist, and how often Ticker channels tick. Default
	// 50 ms, at most 100 ms.
	GossipTick time.Duration
	// JoinRetryMin and JoinRetryMax bound the exponential backoff between
	// join attempts. Defaults 1 s and 30 s.
	JoinRetryMin time.Duration
	JoinRetryMax time.Duration
	// ReconnectInterval is how often members that failed (not those that
	// left) are contacted again, so both sides of a healed partition find
	// each other even after memberlist stopped gossiping to the dead.
	// Default 10 s.
	ReconnectInterval time.Duration
	// LeaveTimeout bounds the graceful leave in Shutdown. Default 5 s.
	LeaveTimeout time.Duration

	// The memberlist knobs below override the profile's value when
	// non-zero; the package doc says which matter across regions.
	ProbeInterval time.Duration
	ProbeTimeout  time.Duration
	SuspicionMult int
	// SuspicionMaxTimeoutMult bounds how much longer than the minimum a
	// suspicion lasts without confirmations from other members (memberlist
	// default 6). A node cut off from everyone gets no confirmations, so
	// this sets how long a minority takes to notice it is alone.
	SuspicionMaxTimeoutMult int
	// AwarenessMaxMultiplier bounds how far memberlist stretches the probe
	// interval and timeout of a node whose own probes fail (its "local
	// health", default 8): it keeps a slow node from accusing healthy
	// ones, and also slows a cut-off node's view of the partition.
	AwarenessMaxMultiplier int
	GossipInterval         time.Duration
	GossipNodes            int
	RetransmitMult         int
	PushPullInterval       time.Duration
	TCPTimeout             time.Duration
	// DeadNodeReclaim is how long after a failure a node's name may be
	// taken by a node at another address (a restart on a new port or host).
	// Default 30 s.
	DeadNodeReclaim time.Duration

	// IngressQueue bounds the messages copied off memberlist's goroutines
	// and waiting for the dispatcher; ChannelQueue bounds each channel's
	// work queue. Full queues drop and count. Defaults 8192 and 4096.
	IngressQueue int
	ChannelQueue int
	// SendQueue bounds the reliable (TCP) sends waiting for one of
	// SendWorkers senders. Defaults 1024 and 4.
	SendQueue   int
	SendWorkers int
	// MaxQueuedBroadcasts bounds the gossip copies of this node's
	// broadcasts waiting in memberlist's queue (the most retransmitted are
	// shed first, counted in gossip_pruned_total), and the unique
	// broadcasts one tick may carry (more are refused and counted as
	// drops). Default 8192.
	MaxQueuedBroadcasts int
	// MaxInlineState is the most state all channels together put into one
	// push/pull; a channel state that does not fit goes to the peer in
	// chunks over reliable sends instead. Default 1 MiB, at most 8 MiB.
	MaxInlineState int
	// ChunkBytes is the largest single reliable message; larger transfers
	// are chunked. Default 256 KiB.
	ChunkBytes int
	// MaxTransferBytes is the largest payload or state accepted at all
	// (sent or reassembled). Default 64 MiB.
	MaxTransferBytes int
	// SeenTTL is how long broadcast sequence numbers are remembered to
	// suppress duplicates and relay loops. Default 2 min.
	SeenTTL time.Duration

	// Transport replaces memberlist's UDP/TCP NetTransport (tests, fault
	// injection); Bind is then ignored. Shutdown shuts it down.
	Transport memberlist.Transport
}

// EnsureDefaults fills every zero field with its default.
func (c *Config) EnsureDefaults() {
	if c.Bind == "" {
		c.Bind = DefaultBind
	}
	if c.Profile == "" {
		c.Profile = DefaultProfile
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	setDur := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	setInt := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	setDur(&c.GossipTick, DefaultGossipTick)
	setDur(&c.JoinRetryMin, DefaultJoinRetryMin)
	setDur(&c.JoinRetryMax, DefaultJoinRetryMax)
	setDur(&c.ReconnectInterval, DefaultReconnectInterval)
	setDur(&c.LeaveTimeout, DefaultLeaveTimeout)
	setDur(&c.DeadNodeReclaim, DefaultDeadNodeReclaim)
	setDur(&c.SeenTTL, DefaultSeenTTL)
	setInt(&c.IngressQueue, DefaultIngressQueue)
	setInt(&c.ChannelQueue, DefaultChannelQueue)
	setInt(&c.SendQueue, DefaultSendQueue)
	setInt(&c.SendWorkers, DefaultSendWorkers)
	setInt(&c.MaxQueuedBroadcasts, DefaultMaxQueuedBroadcasts)
	setInt(&c.MaxInlineState, DefaultMaxInlineState)
	setInt(&c.ChunkBytes, DefaultChunkBytes)
	setInt(&c.MaxTransferBytes, DefaultMaxTransferBytes)
}

// Validate reports the first invalid field. A disabled config is always
// valid.
func (c *Config) Validate() error {
	if !c.Enabled {
		return nil
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("cluster: config: "+format, args...)
	}
	if err := validateName(c.NodeName); err != nil {
		return bad("node name: %w", err)
	}
	if len(c.Region) > maxRegionLen {
		return bad("region longer than %d bytes", maxRegionLen)
	}
	if len(c.APIAddr) > maxAddrLen || len(c.AdminAddr) > maxAddrLen || len(c.Version) > maxAddrLen {
		return bad("api/admin address or version longer than %d bytes", maxAddrLen)
	}
	if c.Transport == nil {
		if _, _, err := splitHostPort(c.Bind, false); err != nil {
			return bad("bind %q: %w", c.Bind, err)
		}
	}
	if c.Advertise != "" {
		if _, _, err := splitHostPort(c.Advertise, true); err != nil {
			return bad("advertise %q: %w", c.Advertise, err)
		}
	}
	for _, j := range c.Join {
		if j == "" {
			return bad("join: empty address")
		}
	}
	switch c.Profile {
	case ProfileLAN, ProfileWAN, ProfileLocal:
	default:
		return bad("profile %q: want %q, %q or %q", c.Profile, ProfileLAN, ProfileWAN, ProfileLocal)
	}
	key, err := parseSecretKey(c.SecretKey)
	if err != nil {
		return bad("secret key: %w", err)
	}
	if key == nil && !c.Insecure {
		return bad("secret key is required unless insecure is set")
	}
	if len(c.Label) > memberlist.LabelMaxSize {
		return bad("label longer than %d bytes", memberlist.LabelMaxSize)
	}
	if c.Logger == nil {
		return bad("logger is nil")
	}
	if c.GossipTick <= 0 || c.GossipTick > MaxGossipTick {
		return bad("gossip tick %s: want (0, %s]", c.GossipTick, MaxGossipTick)
	}
	if c.JoinRetryMin <= 0 || c.JoinRetryMax < c.JoinRetryMin {
		return bad("join retry %s..%s: want 0 < min <= max", c.JoinRetryMin, c.JoinRetryMax)
	}
	for name, d := range map[string]time.Duration{
		"reconnect interval": c.ReconnectInterval, "leave timeout": c.LeaveTimeout,
		"dead node reclaim": c.DeadNodeReclaim, "seen ttl": c.SeenTTL,
	} {
		if d <= 0 {
			return bad("%s %s: want > 0", name, d)
		}
	}
	for name, d := range map[string]time.Duration{
		"probe interval": c.ProbeInterval, "probe timeout": c.ProbeTimeout,
		"gossip interval": c.GossipInterval, "push/pull interval": c.PushPullInterval,
		"tcp timeout": c.TCPTimeout,
	} {
		if d < 0 {
			return bad("%s %s: want >= 0", name, d)
		}
	}
	if c.SuspicionMult < 0 || c.SuspicionMaxTimeoutMult < 0 || c.AwarenessMaxMultiplier < 0 || c.GossipNodes < 0 || c.RetransmitMult < 0 {
		return bad("suspicion mult, suspicion max timeout mult, awareness max multiplier, gossip nodes and retransmit mult must not be negative")
	}
	for name, n := range map[string]int{
		"ingress queue": c.IngressQueue, "channel queue": c.ChannelQueue, "send queue": c.SendQueue,
		"send workers": c.SendWorkers, "max queued broadcasts": c.MaxQueuedBroadcasts,
	} {
		if n <= 0 {
			return bad("%s %d: want > 0", name, n)
		}
	}
	if c.MaxInlineState <= 0 || c.MaxInlineState > maxPushPullState {
		return bad("max inline state %d: want (0, %d]", c.MaxInlineState, maxPushPullState)
	}
	if c.ChunkBytes < 1024 || c.ChunkBytes > 16<<20 {
		return bad("chunk bytes %d: want [1 KiB, 16 MiB]", c.ChunkBytes)
	}
	if c.MaxTransferBytes < c.ChunkBytes {
		return bad("max transfer bytes %d: want >= chunk bytes %d", c.MaxTransferBytes, c.ChunkBytes)
	}
	if _, err := c.meta().AppendBinary(nil); err != nil {
		return bad("%w", err)
	}
	return nil
}

// meta is the node metadata the config advertises.
func (c *Config) meta() Meta {
	return Meta{
		Name:      c.NodeName,
		Region:    c.Region,
		APIAddr:   c.APIAddr,
		AdminAddr: c.AdminAddr,
		Version:   c.Version,
		Epoch:     c.Epoch,
	}
}

// memberlistConfig maps the profile and overrides onto memberlist's config.
func (c *Config) memberlistConfig(key []byte, logOut io.Writer) (*memberlist.Config, error) {
	var mc *memberlist.Config
	switch c.Profile {
	case ProfileWAN:
		mc = memberlist.DefaultWANConfig()
	case ProfileLocal:
		mc = memberlist.DefaultLocalConfig()
	default:
		mc = memberlist.DefaultLANConfig()
	}
	mc.Name = c.NodeName
	mc.Label = c.Label
	mc.SecretKey = key
	mc.Logger = log.New(logOut, "", 0)
	mc.DeadNodeReclaimTime = c.DeadNodeReclaim
	if c.Transport != nil {
		mc.Transport = c.Transport
	} else {
		host, port, err := splitHostPort(c.Bind, false)
		if err != nil {
			return nil, err
		}
		mc.BindAddr, mc.BindPort = host, port
		mc.AdvertisePort = port
	}
	if c.Advertise != "" {
		host, port, err := splitHostPort(c.Advertise, true)
		if err != nil {
			return nil, err
		}
		mc.AdvertiseAddr = host
		if port != 0 {
			mc.AdvertisePort = port
		}
	}
	overrideDur := func(p *time.Duration, v time.Duration) {
		if v > 0 {
			*p = v
		}
	}
	overrideInt := func(p *int, v int) {
		if v > 0 {
			*p = v
		}
	}
	overrideDur(&mc.ProbeInterval, c.ProbeInterval)
	overrideDur(&mc.ProbeTimeout, c.ProbeTimeout)
	overrideDur(&mc.GossipInterval, c.GossipInterval)
	overrideDur(&mc.PushPullInterval, c.PushPullInterval)
	overrideDur(&mc.TCPTimeout, c.TCPTimeout)
	overrideInt(&mc.SuspicionMult, c.SuspicionMult)
	overrideInt(&mc.SuspicionMaxTimeoutMult, c.SuspicionMaxTimeoutMult)
	overrideInt(&mc.AwarenessMaxMultiplier, c.AwarenessMaxMultiplier)
	overrideInt(&mc.GossipNodes, c.GossipNodes)
	overrideInt(&mc.RetransmitMult, c.RetransmitMult)
	return mc, nil
}

// parseSecretKey decodes the gossip key: base64 (standard or URL, padded
// or not) of a valid AES key length, else the raw bytes of such a length.
// An empty string means no key.
func parseSecretKey(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	valid := func(n int) bool { return n == 16 || n == 24 || n == 32 }
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && valid(len(b)) {
			return b, nil
		}
	}
	if valid(len(s)) {
		return []byte(s), nil
	}
	return nil, ErrBadSecretKey
}

// splitHostPort parses host:port; with portOptional a bare host (or IPv6
// literal) is accepted with port 0.
func splitHostPort(s string, portOptional bool) (string, int, error) {
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		if !portOptional {
			return "", 0, err
		}
		host, ps = s, "0"
		if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
			host = host[1 : len(host)-1]
		}
	}
	if host == "" {
		return "", 0, fmt.Errorf("empty host")
	}
	if net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("host %q is not an IP address", host)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	return host, port, nil
}

func validateName(s string) error {
	if len(s) == 0 || len(s) > maxNameLen {
		return fmt.Errorf("name %q: want 1–%d characters", s, maxNameLen)
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
