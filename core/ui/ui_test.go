package ui

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestServe(t *testing.T) {
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, ifNoneMatch string) *fasthttp.Response {
		t.Helper()
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(method)
		ctx.Request.SetRequestURI(path)
		if ifNoneMatch != "" {
			ctx.Request.Header.Set(fasthttp.HeaderIfNoneMatch, ifNoneMatch)
		}
		h.Serve(&ctx)
		if got := string(ctx.Response.Header.Peek("Content-Security-Policy")); got != ContentSecurityPolicy {
			t.Errorf("%s %s: CSP %q", method, path, got)
		}
		resp := &fasthttp.Response{}
		ctx.Response.CopyTo(resp)
		return resp
	}
	f := func(path string, status int, contentType string) {
		t.Helper()
		r := do("GET", path, "")
		if r.StatusCode() != status || !strings.HasPrefix(string(r.Header.ContentType()), contentType) {
			t.Fatalf("GET %s: %d %q, want %d %q", path, r.StatusCode(), r.Header.ContentType(), status, contentType)
		}
	}
	f("/ui/", 200, "text/html; charset=utf-8")
	f("/ui/index.html", 200, "text/html; charset=utf-8")
	f("/ui/app.css", 200, "text/css; charset=utf-8")
	f("/ui/js/app.js", 200, "text/javascript; charset=utf-8")
	f("/ui/js/pages/usage.js", 200, "text/javascript; charset=utf-8")
	f("/ui/favicon.svg", 200, "image/svg+xml")
	f("/ui/missing.js", 404, "application/json")
	f("/ui/../core.go", 404, "application/json")

	r := do("GET", "/ui/js/app.js", "")
	etag := string(r.Header.Peek(fasthttp.HeaderETag))
	if etag == "" || string(r.Header.Peek(fasthttp.HeaderCacheControl)) != "no-cache" ||
		string(r.Header.Peek("X-Content-Type-Options")) != "nosniff" {
		t.Fatalf("caching headers: %s", r.Header.String())
	}
	if r := do("GET", "/ui/js/app.js", etag); r.StatusCode() != fasthttp.StatusNotModified || len(r.Body()) != 0 {
		t.Fatalf("revalidation: %d", r.StatusCode())
	}
	if r := do("HEAD", "/ui/", ""); r.StatusCode() != 200 {
		t.Fatalf("HEAD: %d", r.StatusCode())
	}
	if r := do("POST", "/ui/", ""); r.StatusCode() != fasthttp.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", r.StatusCode())
	}
	if r := do("GET", "/ui", ""); r.StatusCode() != fasthttp.StatusMovedPermanently ||
		!strings.HasSuffix(string(r.Header.Peek(fasthttp.HeaderLocation)), "/ui/") {
		t.Fatalf("GET /ui: %d %s", r.StatusCode(), r.Header.Peek(fasthttp.HeaderLocation))
	}
}

// TestNoInlineCode guards the CSP: no inline scripts, styles or event
// handler attributes in the HTML, no style attributes set from script.
func TestNoInlineCode(t *testing.T) {
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for name, a := range h.assets {
		s := string(a.body)
		switch {
		case strings.HasSuffix(name, ".html"):
			for _, bad := range []string{"<style", " style=", " onclick=", " onload=", "<script>"} {
				if strings.Contains(s, bad) {
					t.Errorf("%s contains %q, which the CSP blocks", name, bad)
				}
			}
		case strings.HasSuffix(name, ".js"):
			for _, bad := range []string{"innerHTML", "setAttribute('style'", "eval(", "new Function"} {
				if strings.Contains(s, bad) {
					t.Errorf("%s uses %q", name, bad)
				}
			}
		}
	}
}
