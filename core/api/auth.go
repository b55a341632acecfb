package api

import (
	"bytes"
	"errors"

	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/ledger"
)

// bearer extracts the key from "Authorization: Bearer <key>" (scheme
// case-insensitive) or, when allowXAPIKey, from x-api-key.
func bearer(ctx *fasthttp.RequestCtx, allowXAPIKey bool) []byte {
	h := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	if len(h) > 7 && bytes.EqualFold(h[:7], []byte("bearer ")) {
		return bytes.TrimSpace(h[7:])
	}
	if allowXAPIKey {
		if k := ctx.Request.Header.Peek("x-api-key"); len(k) > 0 {
			return bytes.TrimSpace(k)
		}
	}
	return nil
}

var (
	errKeyDisabled = errorf(fasthttp.StatusUnauthorized, "API key is disabled")
	errKeyExpired  = errorf(fasthttp.StatusUnauthorized, "API key has expired")
	errMgmtKey     = errorf(fasthttp.StatusForbidden, "management keys cannot call inference endpoints; use an inference key")
	errNeedMgmt    = errorf(fasthttp.StatusForbidden, "this endpoint needs a management key (or the admin key)")
)

// authenticate resolves the request's key with the ledger's in-memory
// index (SHA-256 lookup, constant-time compare).
func (a *API) authenticate(ctx *fasthttp.RequestCtx, allowXAPIKey bool) (*ledger.Key, *Error) {
	k := bearer(ctx, allowXAPIKey)
	if len(k) == 0 {
		return nil, errMissingKey
	}
	key, err := a.o.Ledger.Authenticate(k)
	switch {
	case err == nil:
		return key, nil
	case errors.Is(err, ledger.ErrKeyDisabled):
		return nil, errKeyDisabled
	case errors.Is(err, ledger.ErrKeyExpired):
		return nil, errKeyExpired
	}
	return nil, errBadKey
}
