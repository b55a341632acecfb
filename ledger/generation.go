package ledger

import (
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// ErrGenerationNotFound is returned by GetGeneration.
var ErrGenerationNotFound = errors.New("ledger: generation not found")

// Generation is the record of one request, everything GET /generation
// returns. Token counts are as the provider reported them (native).
type Generation struct {
	ID                 string // "gen-<node>-<time><random>", see NewGenerationID
	Node               string // node that served it
	Region             string
	AccountID          string
	KeyHash            KeyHash
	Model              string // model slug the request was served as
	Provider           string // provider that served it (last attempt)
	UpstreamModel      string // the provider's model id
	UpstreamID         string // the provider's response id
	APIPath            string // e.g. "/api/v1/chat/completions"
	App                string // X-Title / X-OpenRouter-Title
	Referer            string // HTTP-Referer
	User               string // the request's "user"
	SessionID          string
	Tags               []string
	Created            time.Time // request start
	Streamed           bool
	Cancelled          bool // the client went away before the end
	Status             int  // final HTTP status; ≥ 400 counts as an error
	FinishReason       string
	NativeFinishReason string
	PromptTokens       int64
	CompletionTokens   int64
	CachedTokens       int64 // prompt tokens read from cache
	CacheWriteTokens   int64
	ReasoningTokens    int64
	Cost               int64         // nano-USD charged
	Latency            time.Duration // request start to last byte
	TTFT               time.Duration // request start to first token; 0 if none
	GenerationTime     time.Duration // first token to last byte
	Attempts           []Attempt
}

// Attempt is one try of a request at one provider.
type Attempt struct {
	Provider string
	Model    string // upstream model id tried
	Status   int    // HTTP status, 0 for a transport error
	Error    string
	Latency  time.Duration
}

// IsError reports whether the request failed.
func (g *Generation) IsError() bool { return g.Status >= 400 || g.FinishReason == "error" }

// NewGenerationID returns a fresh id "gen-<node>-<17 base62 chars>" (Unix
// milliseconds then 48 random bits). The node part lets any node route
// GET /generation to the node that holds the record (GenerationNode).
//
// The random part only has to make ids unique, not secret: a generation is
// shown only to keys of the account that made it. So it comes from the
// runtime's per-thread ChaCha8 generator (math/rand/v2), not crypto/rand,
// which costs a getrandom call on every request.
func (l *Ledger) NewGenerationID() string {
	var body [genBodyLen]byte
	genBody(&body, uint64(l.cfg.Now().UnixMilli()), rand.Uint64())
	return "gen-" + l.cfg.Node + "-" + string(body[:])
}

// genBody writes the 96-bit number ms<<48 | r (the low 48 bits of each)
// as genBodyLen base62 digits: base62Encode's output, with three 128-bit
// divisions by 62^5 instead of a byte-wise long division per digit (this
// runs on every request).
func genBody(body *[genBodyLen]byte, ms, r uint64) {
	const pow5 = 62 * 62 * 62 * 62 * 62 // < 2^32, so each remainder fits
	hi, lo := ms>>16&(1<<32-1), ms<<48|r&(1<<48-1)
	i := genBodyLen
	for range 3 {
		var rem uint64
		hi, rem = hi/pow5, hi%pow5
		lo, rem = bits.Div64(rem, lo, pow5)
		for range 5 {
			i--
			body[i] = base62Alphabet[rem%62]
			rem /= 62
		}
	}
	for ; i > 0; lo /= 62 { // what is left is below 62^2
		i--
		body[i] = base62Alphabet[lo%62]
	}
}

// genBodyLen is the length of a generation id's random part: 96 bits in
// base62, ceil(96 / log2(62)) digits, fixed so that ids order by time.
const genBodyLen = 17

// GenerationNode returns the node named in a generation id made by
// NewGenerationID, or "" when id has another form.
func GenerationNode(id string) string {
	if !strings.HasPrefix(id, "gen-") {
		return ""
	}
	rest := id[len("gen-"):]
	i := strings.LastIndexByte(rest, '-')
	if i <= 0 {
		return ""
	}
	return rest[:i]
}

// GetGeneration returns a generation recorded on this node. With group
// durability a generation becomes visible when its group commits, at most
// GroupWindow plus one fsync after Settle.
func (l *Ledger) GetGeneration(id string) (Generation, error) {
	var g Generation
	err := l.readDB(func() error {
		v, closer, err := l.db.Get(appendGenerationKey(nil, id))
		if errors.Is(err, pebble.ErrNotFound) {
			// Recorded before the current key layout (keys.go)?
			v, closer, err = l.db.Get(appendGenerationKeyV0(nil, id))
		}
		if errors.Is(err, pebble.ErrNotFound) {
			return ErrGenerationNotFound
		}
		if err != nil {
			return fmt.Errorf("ledger: cannot read generation %q: %w", id, err)
		}
		defer closer.Close()
		if g, err = decodeGeneration(v); err != nil {
			return fmt.Errorf("ledger: generation %q: %w", id, err)
		}
		return nil
	})
	return g, err
}

func encodeGeneration(dst []byte, g *Generation) []byte {
	dst = append(dst, recordV1)
	for _, s := range [...]string{g.ID, g.Node, g.Region, g.AccountID} {
		dst = appendString(dst, s)
	}
	dst = append(dst, g.KeyHash[:]...)
	for _, s := range [...]string{g.Model, g.Provider, g.UpstreamModel, g.UpstreamID, g.APIPath,
		g.App, g.Referer, g.User, g.SessionID, g.FinishReason, g.NativeFinishReason} {
		dst = appendString(dst, s)
	}
	dst = appendUvarint(dst, uint64(len(g.Tags)))
	for _, t := range g.Tags {
		dst = appendString(dst, t)
	}
	dst = appendTime(dst, g.Created)
	dst = appendBool(dst, g.Streamed)
	dst = appendBool(dst, g.Cancelled)
	for _, v := range [...]int64{int64(g.Status), g.PromptTokens, g.CompletionTokens, g.CachedTokens,
		g.CacheWriteTokens, g.ReasoningTokens, g.Cost, int64(g.Latency), int64(g.TTFT), int64(g.GenerationTime)} {
		dst = appendVarint(dst, v)
	}
	dst = appendUvarint(dst, uint64(len(g.Attempts)))
	for i := range g.Attempts {
		at := &g.Attempts[i]
		dst = appendString(dst, at.Provider)
		dst = appendString(dst, at.Model)
		dst = appendVarint(dst, int64(at.Status))
		dst = appendString(dst, at.Error)
		dst = appendVarint(dst, int64(at.Latency))
	}
	return dst
}

func decodeGeneration(b []byte) (Generation, error) {
	r := reader{b: b}
	r.version(recordV1)
	var g Generation
	for _, p := range [...]*string{&g.ID, &g.Node, &g.Region, &g.AccountID} {
		*p = r.str()
	}
	g.KeyHash = r.hash()
	for _, p := range [...]*string{&g.Model, &g.Provider, &g.UpstreamModel, &g.UpstreamID, &g.APIPath,
		&g.App, &g.Referer, &g.User, &g.SessionID, &g.FinishReason, &g.NativeFinishReason} {
		*p = r.str()
	}
	if n := r.count(1); n > 0 {
		g.Tags = make([]string, n)
		for i := range g.Tags {
			g.Tags[i] = r.str()
		}
	}
	g.Created = r.time()
	g.Streamed = r.bool()
	g.Cancelled = r.bool()
	var status, lat, ttft, gt int64
	for _, p := range [...]*int64{&status, &g.PromptTokens, &g.CompletionTokens, &g.CachedTokens,
		&g.CacheWriteTokens, &g.ReasoningTokens, &g.Cost, &lat, &ttft, &gt} {
		*p = r.varint()
	}
	g.Status, g.Latency, g.TTFT, g.GenerationTime = int(status), time.Duration(lat), time.Duration(ttft), time.Duration(gt)
	if n := r.count(5); n > 0 {
		g.Attempts = make([]Attempt, n)
		for i := range g.Attempts {
			at := &g.Attempts[i]
			at.Provider = r.str()
			at.Model = r.str()
			at.Status = int(r.varint())
			at.Error = r.str()
			at.Latency = time.Duration(r.varint())
		}
	}
	return g, r.end()
}
