package mock

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// plan is what one request will get: the config snapshot with that
// request's X-Mock-* overrides applied. It is built on the handler's stack
// and copied into a stream's state.
type plan struct {
	cfg *Config

	status     int // forced by X-Mock-Status; 0: none
	retryAfter time.Duration
	model      string // echoed model override; "": echo the request's

	tokens, responseBytes, toolCalls, reasoning, cached int

	ttft, gap, keepAlive, latency, hang time.Duration
	roleAfterTTFT                       bool

	stallAfter                             int
	stallFor                               time.Duration
	stallClose                             bool
	resetAfter, malformedAfter, errorAfter int
	usageInLast, alwaysUsage               bool
}

func newPlan(c *Config) plan {
	p := plan{
		cfg:            c,
		retryAfter:     c.RetryAfter,
		tokens:         c.Tokens,
		responseBytes:  c.ResponseBytes,
		toolCalls:      c.ToolCalls,
		reasoning:      c.ReasoningTokens,
		cached:         c.CachedTokens,
		ttft:           c.TTFT,
		gap:            c.TokenGap,
		keepAlive:      c.KeepAlive,
		latency:        c.Latency,
		roleAfterTTFT:  c.RoleAfterTTFT,
		stallAfter:     c.StallAfter,
		stallFor:       c.StallFor,
		stallClose:     c.StallClose,
		resetAfter:     c.ResetAfter,
		malformedAfter: c.MalformedAfter,
		errorAfter:     c.InBandErrorAfter,
		usageInLast:    c.UsageInLastChoiceChunk,
		alwaysUsage:    c.AlwaysUsage,
	}
	p.model = c.Model
	if c.HangBeforeHeaders {
		p.hang = c.HangFor
	}
	return p
}

const mockHeaderPrefix = "x-mock-"

// applyHeaders applies the X-Mock-* request headers.
func (p *plan) applyHeaders(h *fasthttp.RequestHeader) error {
	for k, v := range h.All() {
		if len(k) <= len(mockHeaderPrefix) || !equalFoldASCII(k[:len(mockHeaderPrefix)], mockHeaderPrefix) {
			continue
		}
		if err := p.applyHeader(k[len(mockHeaderPrefix):], v); err != nil {
			return fmt.Errorf("mock: bad %s header %q: %w", k, v, err)
		}
	}
	return nil
}

func (p *plan) applyHeader(name, v []byte) error {
	var err error
	switch {
	case equalFoldASCII(name, "status"):
		p.status, err = parseCount(v)
		if err == nil && p.status != 0 && (p.status < 200 || p.status > 599) {
			err = fmt.Errorf("status %d is out of range", p.status)
		}
	case equalFoldASCII(name, "retry-after"):
		p.retryAfter, err = parseDuration(v, time.Second)
	case equalFoldASCII(name, "model"):
		// The one override that must be copied; only tests that ask for
		// it pay the allocation.
		p.model = string(v)
	case equalFoldASCII(name, "tokens"):
		p.tokens, err = parseCount(v)
	case equalFoldASCII(name, "response-bytes"):
		p.responseBytes, err = parseCount(v)
	case equalFoldASCII(name, "tool-calls"):
		p.toolCalls, err = parseCount(v)
		if err == nil && p.toolCalls > maxToolCalls {
			err = fmt.Errorf("more than %d tool calls", maxToolCalls)
		}
	case equalFoldASCII(name, "reasoning-tokens"):
		p.reasoning, err = parseCount(v)
	case equalFoldASCII(name, "cached-tokens"):
		p.cached, err = parseCount(v)
	case equalFoldASCII(name, "ttft"):
		p.ttft, err = parseDuration(v, time.Millisecond)
	case equalFoldASCII(name, "token-gap"):
		p.gap, err = parseDuration(v, time.Millisecond)
	case equalFoldASCII(name, "keep-alive"):
		p.keepAlive, err = parseDuration(v, time.Millisecond)
	case equalFoldASCII(name, "latency"):
		p.latency, err = parseDuration(v, time.Millisecond)
	case equalFoldASCII(name, "hang"):
		p.hang, err = parseDuration(v, time.Millisecond)
	case equalFoldASCII(name, "stall-after"):
		p.stallAfter, err = parseCount(v)
	case equalFoldASCII(name, "stall-for"):
		p.stallFor, err = parseDuration(v, time.Millisecond)
	case equalFoldASCII(name, "stall-close"):
		p.stallClose, err = parseBool(v)
	case equalFoldASCII(name, "reset-after"):
		p.resetAfter, err = parseCount(v)
	case equalFoldASCII(name, "malformed-after"):
		p.malformedAfter, err = parseCount(v)
	case equalFoldASCII(name, "error-after"):
		p.errorAfter, err = parseCount(v)
	case equalFoldASCII(name, "usage-in-last-choice"):
		p.usageInLast, err = parseBool(v)
	case equalFoldASCII(name, "always-usage"):
		p.alwaysUsage, err = parseBool(v)
	default:
		err = fmt.Errorf("unknown X-Mock header")
	}
	return err
}

// applyStep applies one Config.Script step: space-separated name=value
// pairs named like the X-Mock-* headers without the prefix.
func (p *plan) applyStep(step string) error {
	for _, f := range strings.Fields(step) {
		if f == "-" {
			continue
		}
		name, value, ok := strings.Cut(f, "=")
		if !ok {
			return fmt.Errorf("%q is not name=value", f)
		}
		if err := p.applyHeader([]byte(name), []byte(value)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// script is the scripted steps of one configuration and how many requests
// have consumed them.
type script struct {
	steps []string
	next  atomic.Int64
}

// step returns the overrides of the next request, if it is scripted.
func (sc *script) step() (string, bool) {
	if sc == nil || len(sc.steps) == 0 {
		return "", false
	}
	i := sc.next.Add(1) - 1
	if i >= int64(len(sc.steps)) {
		return "", false
	}
	return sc.steps[i], true
}

func equalFoldASCII(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func parseCount(v []byte) (int, error) {
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, fmt.Errorf("%d is negative", n)
	}
	return n, nil
}

// parseDuration accepts a Go duration or a bare integer in units of bare.
func parseDuration(v []byte, bare time.Duration) (time.Duration, error) {
	if n, err := strconv.Atoi(string(v)); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("%d is negative", n)
		}
		return time.Duration(n) * bare, nil
	}
	d, err := time.ParseDuration(string(v))
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("%s is negative", d)
	}
	return d, nil
}

func parseBool(v []byte) (bool, error) {
	return strconv.ParseBool(string(v))
}
