// Package ui is Tollgate's web dashboard: static HTML, CSS and JavaScript
// modules embedded in the binary and served on the admin listener under
// /ui/. The page holds no data path of its own: it reads and writes only
// through the admin and analytics JSON APIs, sending the key the operator
// logged in with as "Authorization: Bearer". The files themselves carry
// no secrets and are served without authentication.
//
// Only core imports ui.
package ui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"path"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/api"
)

// Prefix is the path the dashboard is served under.
const Prefix = "/ui/"

//go:embed static
var static embed.FS

// ContentSecurityPolicy allows the page to load its own files and call its
// own origin only: no inline script or style, no third-party origin, no
// framing.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// asset is one embedded file, read once.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Handler serves the embedded dashboard.
type Handler struct {
	assets map[string]asset // by path below Prefix, "index.html" for the root
}

// contentTypes maps the extensions of the embedded files.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
}

// New reads the embedded files into memory.
func New() (*Handler, error) {
	h := &Handler{assets: map[string]asset{}}
	sub, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(b)
		h.assets[p] = asset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// Serve answers GET and HEAD for paths under Prefix (and redirects the
// bare "/ui" to it). Every response carries the strict CSP. The file
// names are not content-hashed, so browsers revalidate each time
// (no-cache) and get 304 from the ETag while the binary is unchanged.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) {
	p := string(ctx.Path())
	hdr := &ctx.Response.Header
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	if p == strings.TrimSuffix(Prefix, "/") {
		ctx.Redirect(Prefix, fasthttp.StatusMovedPermanently)
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		hdr.Set(fasthttp.HeaderAllow, "GET, HEAD")
		api.WriteError(ctx, &api.Error{Status: fasthttp.StatusMethodNotAllowed, Message: "the dashboard answers GET and HEAD only"})
		return
	}
	name := strings.TrimPrefix(p, Prefix)
	if name == "" {
		name = "index.html"
	}
	a, ok := h.assets[name]
	if !ok {
		api.WriteError(ctx, &api.Error{Status: fasthttp.StatusNotFound, Message: "no such dashboard file: " + name})
		return
	}
	hdr.Set(fasthttp.HeaderCacheControl, "no-cache")
	hdr.Set(fasthttp.HeaderETag, a.etag)
	hdr.SetContentType(a.contentType)
	if string(ctx.Request.Header.Peek(fasthttp.HeaderIfNoneMatch)) == a.etag {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	ctx.SetBody(a.body)
}
