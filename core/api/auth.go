package api

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"

	"github.com/valyala/fasthttp"
)

// Principal is an authenticated caller.
type Principal struct {
	KeyHash [32]byte // SHA-256 of the key: the only form a key is held in
	Label   string   // display label, e.g. "sk-tg-v1-abc…xyz"
	KeyName string
	Account string
	// AllowedProviders restricts routing for this key; nil = all.
	AllowedProviders []string
}

// Authenticator resolves a presented secret to its principal. It is called
// on every request and must be an in-memory lookup. The ledger issue backs
// it with Pebble; StaticAuth serves keys declared in config.
type Authenticator interface {
	Authenticate(secret []byte) (*Principal, error)
}

// ErrUnknownKey is returned by authenticators for keys they do not hold.
var ErrUnknownKey = errors.New("api: unknown key")

// StaticAuth authenticates the keys declared in config. Keys are hashed at
// construction and only the hashes are kept.
type StaticAuth struct {
	byHash map[[32]byte]*Principal
}

// StaticKey is one configured key.
type StaticKey struct {
	Secret  string
	Name    string
	Account string
}

// NewStaticAuth hashes keys and forgets the secrets.
func NewStaticAuth(keys []StaticKey) *StaticAuth {
	s := &StaticAuth{byHash: make(map[[32]byte]*Principal, len(keys))}
	for _, k := range keys {
		h := sha256.Sum256([]byte(k.Secret))
		s.byHash[h] = &Principal{KeyHash: h, Label: KeyLabel(k.Secret), KeyName: k.Name, Account: k.Account}
	}
	return s
}

// Authenticate hashes the secret and looks the hash up; the final
// comparison is constant-time.
func (s *StaticAuth) Authenticate(secret []byte) (*Principal, error) {
	h := sha256.Sum256(secret)
	p, ok := s.byHash[h]
	if !ok || subtle.ConstantTimeCompare(p.KeyHash[:], h[:]) != 1 {
		return nil, ErrUnknownKey
	}
	return p, nil
}

// KeyLabel is the display form of a key: its first 12 and last 3
// characters ("sk-tg-v1-abc…xyz"); short keys show less.
func KeyLabel(k string) string {
	if len(k) < 16 {
		return "…"
	}
	return k[:12] + "…" + k[len(k)-3:]
}

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

func (a *API) authenticate(ctx *fasthttp.RequestCtx, allowXAPIKey bool) (*Principal, *Error) {
	k := bearer(ctx, allowXAPIKey)
	if len(k) == 0 {
		return nil, errMissingKey
	}
	p, err := a.o.Auth.Authenticate(k)
	if err != nil || p == nil {
		return nil, errBadKey
	}
	return p, nil
}
