package api

import (
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/ledger"
)

// RateLimits are per-key request limits, counted on this node (a cluster
// of N nodes admits up to N× these; they protect providers and free
// capacity, while money is bounded cluster-wide by the ledger).
type RateLimits struct {
	// FreePerMinute and FreePerDay limit requests that can only be served
	// free (":free" variants, zero-price endpoints). 0 = unlimited.
	FreePerMinute, FreePerDay int
	// KeyRPM limits every key's requests per minute; KeyTPM its tokens
	// (prompt + completion, counted when requests settle) per minute.
	// 0 = unlimited.
	KeyRPM, KeyTPM int
}

func (r RateLimits) enabled() bool {
	return r.FreePerMinute > 0 || r.FreePerDay > 0 || r.KeyRPM > 0 || r.KeyTPM > 0
}

// limiter holds fixed-window counters per key, in 64 shards.
type limiter struct {
	cfg    RateLimits
	shards [64]limiterShard
}

type limiterShard struct {
	mu   sync.Mutex
	keys map[ledger.KeyHash]*keyWindow
}

type keyWindow struct {
	minute, day        int64 // window starts (unix minute / unix day)
	reqs, free, tokens int   // this minute
	freeDay            int   // this day
	lastSeen           int64 // unix minute, for pruning
}

func newLimiter(cfg RateLimits) *limiter {
	l := &limiter{cfg: cfg}
	for i := range l.shards {
		l.shards[i].keys = map[ledger.KeyHash]*keyWindow{}
	}
	return l
}

func (l *limiter) window(h ledger.KeyHash, now time.Time) (*limiterShard, *keyWindow) {
	s := &l.shards[h[0]&63]
	s.mu.Lock()
	w := s.keys[h]
	if w == nil {
		if len(s.keys) > 100_000 {
			s.prune(now.Unix() / 60)
		}
		w = &keyWindow{}
		s.keys[h] = w
	}
	m, d := now.Unix()/60, now.Unix()/86400
	if w.minute != m {
		w.minute, w.reqs, w.free, w.tokens = m, 0, 0, 0
	}
	if w.day != d {
		w.day, w.freeDay = d, 0
	}
	w.lastSeen = m
	return s, w
}

func (s *limiterShard) prune(minute int64) {
	for k, w := range s.keys {
		if minute-w.lastSeen > 24*60 {
			delete(s.keys, k)
		}
	}
}

// admit counts one request of key h, free or not, or returns the 429.
func (l *limiter) admit(h ledger.KeyHash, free bool, now time.Time) *Error {
	s, w := l.window(h, now)
	defer s.mu.Unlock()
	nextMinute := (w.minute + 1) * 60
	switch {
	case l.cfg.KeyRPM > 0 && w.reqs >= l.cfg.KeyRPM:
		return rateLimited("rate limit exceeded: this key may make "+strconv.Itoa(l.cfg.KeyRPM)+" requests per minute", l.cfg.KeyRPM, nextMinute, now)
	case l.cfg.KeyTPM > 0 && w.tokens >= l.cfg.KeyTPM:
		return rateLimited("rate limit exceeded: this key may use "+strconv.Itoa(l.cfg.KeyTPM)+" tokens per minute", l.cfg.KeyTPM, nextMinute, now)
	case free && l.cfg.FreePerMinute > 0 && w.free >= l.cfg.FreePerMinute:
		return rateLimited("rate limit exceeded: free models allow "+strconv.Itoa(l.cfg.FreePerMinute)+" requests per minute per key", l.cfg.FreePerMinute, nextMinute, now)
	case free && l.cfg.FreePerDay > 0 && w.freeDay >= l.cfg.FreePerDay:
		return rateLimited("rate limit exceeded: free models allow "+strconv.Itoa(l.cfg.FreePerDay)+" requests per day per key", l.cfg.FreePerDay, (w.day+1)*86400, now)
	}
	w.reqs++
	if free {
		w.free++
		w.freeDay++
	}
	return nil
}

// addTokens counts a settled request's tokens against the key's TPM.
func (l *limiter) addTokens(h ledger.KeyHash, n int, now time.Time) {
	if l.cfg.KeyTPM <= 0 || n <= 0 {
		return
	}
	s, w := l.window(h, now)
	w.tokens += n
	s.mu.Unlock()
}

func rateLimited(msg string, limit int, resetUnix int64, now time.Time) *Error {
	wait := time.Unix(resetUnix, 0).Sub(now)
	if wait < time.Second {
		wait = time.Second
	}
	return &Error{Status: fasthttp.StatusTooManyRequests, Message: msg, RetryAfterMs: wait.Milliseconds(),
		Headers: [][2]string{
			{"X-RateLimit-Limit", strconv.Itoa(limit)},
			{"X-RateLimit-Remaining", "0"},
			{"X-RateLimit-Reset", strconv.FormatInt(resetUnix*1000, 10)},
		},
		Metadata: map[string]any{"limit": limit, "reset_ms": resetUnix * 1000}}
}
