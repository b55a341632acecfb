package api

import (
	"bytes"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// Fuzzers for the management bodies and the credential headers: whatever a
// client sends, the parsers return a value or a 4xx error, never panic.

var fuzzNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func checkClientError(t *testing.T, in []byte, e *Error) {
	t.Helper()
	if e != nil && (e.Status < 400 || e.Status > 499 || e.Message == "") {
		t.Fatalf("%q: error %d %q, want a 4xx with a message", in, e.Status, e.Message)
	}
}

// FuzzParseAnalytics: POST /analytics/query bodies.
func FuzzParseAnalytics(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{"from":"2025-12-31T00:00:00Z","to":1767225600,"granularity":"minute"}`,
		`{"group_by":["model","tag"],"filters":{"provider":"p1","tag":["a","b"]},"metrics":"cost"}`,
		`{"from":1e400}`, `{"to":18446744073709551617}`, `{"granularity":"hour","granularity":"day"}`,
		`{"filters":{"model":[]}}`, `{"group_by":7}`, `[` + `]`, `{"from":"9999-12-31T23:59:59Z","to":"0001-01-01T00:00:00Z"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		q, _, e := parseAnalytics(body, fuzzNow)
		checkClientError(t, body, e)
		if e == nil && (!q.From.Before(q.To) || len(q.Metrics) == 0) {
			t.Fatalf("%q: accepted a query with from %v, to %v, metrics %v", body, q.From, q.To, q.Metrics)
		}
	})
}

// FuzzParseKeyCreate: POST /keys bodies, as a management key (admin
// false) and through the admin API.
func FuzzParseKeyCreate(f *testing.F) {
	for _, s := range []string{
		`{"name":"svc","limit":2.5,"limit_reset":"weekly","expires_at":"2999-01-01T00:00:00Z"}`,
		`{"name":"x","limit":"0.000000001","disabled":true,"management":false}`,
		`{"name":"a","name":"b"}`, `{"limit":1e400}`, `{"limit":-1}`, `{"expires_at":"99999-01-01T00:00:00Z"}`,
		`{"name":"x","management":true}`, ``, `null`,
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, admin bool) {
		opts, e := parseKeyCreate(body, admin, fuzzNow)
		checkClientError(t, body, e)
		if e == nil && opts.Limit != nil && *opts.Limit < 0 {
			t.Fatalf("%q: negative limit %d", body, *opts.Limit)
		}
		if e == nil && opts.Management && !admin {
			t.Fatalf("%q: a management key issued without the admin key", body)
		}
	})
}

// FuzzBearer: the key extracted from Authorization / x-api-key is a
// trimmed slice of the header, or nothing.
func FuzzBearer(f *testing.F) {
	f.Add([]byte("Bearer sk-tg-v1-abc"), []byte(""))
	f.Add([]byte("bearer   "), []byte(" sk-ant "))
	f.Add([]byte("Basic dXNlcjpwYXNz"), []byte("k"))
	f.Fuzz(func(t *testing.T, auth, xAPIKey []byte) {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetBytesV(fasthttp.HeaderAuthorization, auth)
		ctx.Request.Header.SetBytesV("x-api-key", xAPIKey)
		for _, allow := range []bool{false, true} {
			k := bearer(&ctx, allow)
			if len(k) == 0 {
				continue
			}
			if !bytes.Equal(k, bytes.TrimSpace(k)) {
				t.Fatalf("bearer(%q, %q) = %q, not trimmed", auth, xAPIKey, k)
			}
			if !bytes.Contains(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization), k) &&
				!(allow && bytes.Contains(ctx.Request.Header.Peek("x-api-key"), k)) {
				t.Fatalf("bearer(%q, %q, %v) = %q, not from the headers", auth, xAPIKey, allow, k)
			}
		}
	})
}
